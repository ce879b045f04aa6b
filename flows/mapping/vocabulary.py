"""The vocabulary's types: an algorithm or named derivation (`Operation`), its parameters (`Param`), a record
source (`RecordSource`), and a spec's use of an operation (`Step`, under `Condition`s). One record per module of
flows/mapping/algorithms, derivations and sources; flows/mapping/registry.py gathers them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from flows.spec.model import DomainSpec, Specs

# What an argument names, so the spec checker knows what to look for (specs/README.md shows this table).
KINDS: dict[str, str] = {
    "column": "a field of the domain's records: a raw column, or a field of a study.yaml list",
    "columns": "a list of such fields",
    "variable": "a variable of the same dataset",
    "variables": "a list of variables of the same dataset",
    "ref": "`DOMAIN.VARIABLE`: a variable of another dataset",
    "raw": "`<raw file>.<column>`: a column of a raw file's valid rows (its contract has a column of role SUBJID)",
    "source": "a `ref` or a `raw`",
    "study": "a dotted path in study.yaml",
    "domain": "a dataset of specs/sdtm",
    "steps": "a mapping name -> mapping step, each worked out on the record",
    "value": "anything, as written",
}

Args = Mapping[str, Any]
Check = Callable[[Args, DomainSpec, Specs, str], None]  # (arguments, domain, specs, where): raises SpecError


@dataclass(frozen=True)
class Param:
    """One named argument of an operation and the kind of thing it names (KINDS)."""

    name: str
    kind: str
    optional: bool = False
    types: tuple[str, ...] | None = None  # a column's raw types it reads (RawColumn.type), checked at load; None: any

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name}: unknown kind '{self.kind}' (one of {sorted(KINDS)})")


@dataclass(frozen=True)
class Operation:
    """A mapping algorithm (`{name: args}`) or a named derivation (`{derivation: name, <inputs>}`): what the spec
    names, what it takes, how it runs, what is checked at load and what the planner and the engine must know."""

    name: str
    doc: str  # what it does, for specs/README.md (the module's docstring)
    example: str  # a spec excerpt in YAML: `VARIABLE: <map>` lines
    params: tuple[Param, ...]
    run: Callable[..., pd.Series]  # (ctx, **args) -> one value per record
    primary: str | None = None  # the parameter a single value fills (`{dtc: start}`)
    check: Check | None = None  # what the parameters' kinds cannot say (a recode covers the raw values, ...)
    row_wise: bool = False  # a function of the record's own columns, row by row: can run once per distinct value
    plain: Callable[[Args], bool] | None = None  # alone: a copy or a constant, nothing saved per distinct value
    refs: Callable[[Args], Iterable[str]] | None = None  # DOMAIN.VARIABLE read without an argument naming it
    variables: Callable[[DomainSpec, str], Iterable[str]] | None = None  # own variables read so (spec, variable)
    raw_reads: Callable[[DomainSpec, Specs], Iterable[str]] | None = None  # raw files read so
    collects: str | None = None  # the parameter naming the raw column a Collected variable comes from (Origin)
    collects_also: str | None = None  # an optional parameter naming another raw column it comes from (a time)
    copies: str | None = None  # the parameter naming a raw column whose values land in the variable as they are
    record_filter: bool = False  # a named filter of `records.where`: True where a record is kept
    roles: tuple[str, ...] = ()  # the raw column roles it reads without an argument naming them (the annotated CRF)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


@dataclass(frozen=True)
class RecordSource:
    """A named record source (`records: {derivation: name}`): a dataset's records built from the study and other
    datasets, after them."""

    name: str
    doc: str
    example: str
    run: Callable[..., pd.DataFrame]  # (ctx) -> the records
    fields: tuple[str, ...]  # the fields its records have
    reads: tuple[str, ...]  # the datasets it reads: DOMAIN.VARIABLE or DOMAIN.*
    check: Callable[[Specs], None] | None = None  # the study facts it reads, checked at load
    # A source that completes a dataset's raw records (`records: {from: ..., complete: {derivation: name}}`): it gets
    # them as ctx.records and returns them with its own; this checks, at load, the records it is given (spec, specs,
    # where). None: a source that builds a dataset's records alone (`records: {derivation: name}`).
    completes: Callable[[DomainSpec, Specs, str], None] | None = None


@dataclass(frozen=True)
class Condition:
    """One test of `when`: a column or variable equal to, in, or present/absent."""

    kind: str  # column | variable
    name: str
    equals: Any = None
    equals_from: str | None = None  # study.yaml path of the value compared with
    isin: tuple[Any, ...] | None = None
    present: bool | None = None
    in_from: str | None = None  # study.yaml path of a list (or a mapping's values) the value must be in


@dataclass(frozen=True)
class Step:
    """One mapping step: an operation with its arguments and the conditions it holds under."""

    operation: Operation
    args: Args
    when: tuple[Condition, ...] = ()

    @property
    def name(self) -> str:
        return self.operation.name

    def parts(self) -> list[Step]:
        """The steps nested in its arguments (a template's parts)."""
        nested = [self.args.get(p.name) or {} for p in self.operation.params if p.kind == "steps"]
        return [step for steps in nested for step in steps.values()]

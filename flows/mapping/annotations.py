"""Which SDTM dataset and variable each raw column feeds, read from the mappings of specs/sdtm: the annotations of
the annotated CRF (one raw contract = one CRF form), and why a column that feeds nothing is not submitted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flows.mapping.checks import raw_columns
from flows.mapping.plan import parse_filter, plan_domains, qualifier_steps
from flows.mapping.vocabulary import Condition, Step
from flows.spec.model import DomainSpec, RawContract, Specs

Field = tuple[str, str]  # (raw contract name, column name)


@dataclass(frozen=True)
class Annotation:
    """One CDISC aCRF annotation of a raw field: the dataset and variable it feeds (for a supplemental qualifier,
    its QNAM in SUPP--), with the condition on the dataset's records, in SDTM terms."""

    dataset: str
    variable: str
    condition: str | None = None
    supplemental: bool = False

    @property
    def head(self) -> str:
        """`AETERM`; a supplemental qualifier `DLTFL in SUPPAE` (SDTM-MSG 2.0 style)."""
        return f"{self.variable} in {self.dataset}" if self.supplemental else self.variable

    @property
    def text(self) -> str:
        """`AETERM`, `QSORRES when QSCAT in (MG-ADL, QMG)`, `DLTFL in SUPPAE`."""
        return f"{self.head} when {self.condition}" if self.condition else self.head


def _value(c: Condition, specs: Specs) -> str:
    if c.present is not None:
        return "is present" if c.present else "is missing"
    if c.equals is not None or c.equals_from:
        return f"= {c.equals if c.equals_from is None else specs.study.lookup(c.equals_from)}"
    values = c.isin if c.in_from is None else specs.study.allowed(c.in_from)
    return f"in ({', '.join(str(v) for v in values or ())})"


def _copier(column: str, steps: Mapping[str, tuple[Step, ...]]) -> str | None:
    """The variable that takes `column` as it is (an unconditional copy), to say a condition in SDTM terms."""
    for var, var_steps in steps.items():
        for step in var_steps:
            op = step.operation
            if not step.when and column in (step.args.get(op.copies or ""), step.args.get(op.collects or "")):
                return var
    return None


def _records_condition(spec: DomainSpec, steps: Mapping[str, tuple[Step, ...]], specs: Specs) -> str | None:
    """A dataset's record filter (`records.where`) in SDTM terms: `QSCAT in (MG-ADL, QMG)`; None without one."""
    where = (spec.records or {}).get("where")
    if where is None:
        return None
    parts = []
    for c in parse_filter(where, f"{spec.path}: records.where").conditions:
        # a column no variable copies stays the CRF field's name (lower case, as on the form)
        name = (_copier(c.name, steps) or c.name) if c.kind == "column" else c.name
        if c.present is None:  # a presence test on a value field says nothing to a reader
            parts.append(f"{name} {_value(c, specs)}")
    return " and ".join(parts) or None


def _nested(step: Step, when: tuple[Condition, ...] = ()) -> Iterator[tuple[Step, tuple[Condition, ...]]]:
    """The step and the parts of any template in it, each with the conditions it holds under."""
    when = (*when, *step.when)
    yield step, when
    for part in step.parts():
        yield from _nested(part, when)


def _fields_read(step: Step, when: tuple[Condition, ...], contract: RawContract) -> list[str]:
    """The record fields a step reads: its column arguments, its conditions' columns and the roles it reads."""
    fields: list[str] = []
    for p in step.operation.params:
        arg = step.args.get(p.name)
        if p.kind == "column" and arg:
            fields.append(str(arg))
        elif p.kind == "columns":
            fields += [str(a) for a in arg or ()]
    fields += [c.name for c in when if c.kind == "column"]
    fields += [c for c in (contract.role(r) for r in step.operation.roles) if c]
    return fields


def _columns_of(field: str, when: tuple[Condition, ...], spec: DomainSpec, specs: Specs) -> list[Field]:
    """The raw columns a record field comes from: the column itself, the unpivoted columns of a value field (those
    its conditions on the name field keep), the column of a group's min_/max_ field."""
    rec = spec.records or {}
    unpivot, group = rec.get("unpivot") or {}, rec.get("group") or {}
    if unpivot and field == unpivot.get("value"):
        kept = list(unpivot["columns"])
        for c in (c for c in when if c.kind == "column" and c.name == unpivot.get("name")):
            kept = [k for k in kept if (k == c.equals if c.isin is None else k in c.isin)]
        names = kept
    elif unpivot and field == unpivot.get("name"):
        names = []
    elif group and field.startswith(("min_", "max_")) and field[4:] in [*group.get("min", []), *group.get("max", [])]:
        names = [field[4:]]
    else:
        names = [field]
    by_file = {c.path.name: c.name for c in specs.raw.values()}
    return [(by_file[file], col.name) for name in names for file, col in raw_columns(spec, specs, name)]


def _raw_arguments(step: Step, specs: Specs) -> list[Field]:
    """Raw columns named `<raw file>.<column>` by a step's `raw` or `source` arguments (read across files)."""
    out = []
    for p in step.operation.params:
        file, _, column = str(step.args.get(p.name) or "").partition(".")
        if p.kind in ("raw", "source") and file in specs.raw and column in specs.raw[file].column_names:
            out.append((file, column))
    return out


def _constant(step: Step, specs: Specs) -> str | None:
    """The value of a step that reads nothing of the record (a study fact or a hard-coded value), else None."""
    if not step.operation.params or any(p.kind not in ("study", "value") for p in step.operation.params):
        return None
    values = [step.args.get(p.name) for p in step.operation.params]
    kinds = [p.kind for p in step.operation.params]
    if len(values) != 1 or values[0] is None:
        return None
    return str(specs.study.lookup(str(values[0])) if kinds[0] == "study" else values[0])


def _unpivot_value(column: str, var: str, name: str, steps: Mapping[str, tuple[Step, ...]], specs: Specs) -> str | None:
    """The constant a variable's map gives the records of one unpivoted column, when its steps say so by
    conditions on the unpivot's name field only; None otherwise."""
    if not any(c.name == name for step in steps[var] for c in step.when):
        return None  # the same for every record: it tells no column apart
    for step in steps[var]:
        own = [c for c in step.when if c.kind == "column" and c.name == name]
        if len(own) != len(step.when):
            return None  # a condition on other values: not known from the column alone
        if all(column == c.equals if c.isin is None else column in c.isin for c in own):
            return _constant(step, specs)
    return None


def _unpivot_condition(
    column: str, spec: DomainSpec, steps: Mapping[str, tuple[Step, ...]], specs: Specs
) -> str | None:
    """What tells an unpivoted column's records apart, in SDTM terms: the first variable (keys first) whose map gives
    them a constant no other unpivoted column gets (`DSDECOD = INFORMED CONSENT OBTAINED`); None when none does."""
    unpivot = (spec.records or {}).get("unpivot") or {}
    for var in dict.fromkeys([*spec.keys, *spec.names]):
        if var not in steps:
            continue
        values = [_unpivot_value(c, var, unpivot.get("name"), steps, specs) for c in unpivot.get("columns", ())]
        value = values[list(unpivot["columns"]).index(column)]
        if value is not None and values.count(value) == 1:
            return f"{var} = {value}"
    return None


def column_annotations(specs: Specs) -> dict[Field, tuple[Annotation, ...]]:
    """(raw contract, column) -> the annotations of the field, datasets in the order of specs/sdtm, variables in
    spec order. Columns that feed nothing are absent."""
    plan = plan_domains(specs)
    out: dict[Field, dict[Annotation, None]] = {}

    def add(field: Field, note: Annotation) -> None:
        out.setdefault(field, {})[note] = None

    for domain, spec in specs.sdtm.items():
        steps = plan.domains[domain].steps
        supp = (spec.records or {}).get("supplemental")
        if supp:
            parent = specs.sdtm[supp["parent"]]
            for q in supp.get("qualifiers") or ():
                for top in qualifier_steps(q, f"{spec.path}: qualifiers"):
                    for step, when in _nested(top):
                        for f in _feeds(step, when, parent, specs):
                            add(f, Annotation(domain, str(q["qnam"]), supplemental=True))
            continue
        condition = _records_condition(spec, steps, specs) if spec.raw_sources else None
        unpivoted = ((spec.records or {}).get("unpivot") or {}).get("columns", ())
        for var in spec.variables:
            for top in steps.get(var.name, ()):
                for step, when in _nested(top):
                    for f in _feeds(step, when, spec, specs):
                        which = condition if f[0] in spec.raw_sources else None
                        if f[0] in spec.raw_sources and f[1] in unpivoted:
                            which = _unpivot_condition(f[1], spec, steps, specs) or which
                        add(f, Annotation(domain, var.name, which))
    return {f: tuple(notes) for f, notes in out.items()}


def _feeds(step: Step, when: tuple[Condition, ...], spec: DomainSpec, specs: Specs) -> list[Field]:
    fields = _raw_arguments(step, specs)
    for contract in (specs.raw[s] for s in spec.raw_sources if s in specs.raw):
        for name in _fields_read(step, when, contract):
            fields += _columns_of(name, when, spec, specs)
    return list(dict.fromkeys(fields))


def not_submitted_because(contract: RawContract, column: str, specs: Specs) -> str:
    """Why a raw column feeds no dataset: personal data, a form no dataset reads, or a field used only in checks."""
    col = contract.column(column)
    if col.pii:
        return "personal data, never output"
    if not any(contract.name in spec.raw_sources for spec in specs.sdtm.values()):
        return contract.not_tabulated or "no SDTM dataset takes records from this form"
    if column in contract.key:
        return "identifies the row within the subject (key); no SDTM variable in this transfer takes it"
    rules: list[Mapping[str, Any]] = [*contract.row_rules, *contract.parent_rules]
    if any(column in _rule_columns(rule) for rule in rules):
        return "collected to check other fields; no SDTM variable in this transfer takes it"
    return "collected; no SDTM variable in this transfer takes it"


def _rule_columns(rule: Mapping[str, Any]) -> set[str]:
    named: set[str] = set()
    for value in rule.values():
        if isinstance(value, str):
            named.add(value)
        elif isinstance(value, list):
            named |= {v for v in value if isinstance(v, str)}
    return named

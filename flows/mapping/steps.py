"""A variable's `map` read into steps: which algorithm, with which arguments, reading which inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Kinds of argument an algorithm declares, so the spec checker knows what each must name:
# column (a field of the domain's records: a raw column or a study-list field), variable (of the same domain),
# ref (DOMAIN.VARIABLE of another dataset), raw (<raw file>.<column>: a raw file's valid rows), source (a ref or a
# raw), study (a dotted path in study.yaml), value (anything).
KINDS = {"column", "columns", "variable", "ref", "raw", "source", "study", "value"}


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
    """One mapping step: an algorithm (or a named derivation) with its arguments and the conditions it holds under."""

    algorithm: str
    args: Mapping[str, Any]
    when: tuple[Condition, ...] = ()
    derivation: bool = False


@dataclass(frozen=True)
class Signature:
    """What an algorithm takes: argument name -> kind; `primary` is the argument a scalar value fills."""

    params: Mapping[str, str]
    primary: str | None = None
    optional: frozenset[str] = field(default_factory=frozenset)


class StepError(ValueError):
    """A mapping that cannot be read; the message names the key."""


def _condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise StepError(f"{where}: a condition is a mapping such as {{column: x, equals: y}}")
    kinds = [k for k in ("column", "variable") if k in raw]
    if len(kinds) != 1:
        raise StepError(f"{where}: a condition names one column or one variable")
    tests = [k for k in ("equals", "equals_from", "in", "in_from", "present") if k in raw]
    if len(tests) != 1 or set(raw) - {"column", "variable", "equals", "equals_from", "in", "in_from", "present"}:
        raise StepError(f"{where}: a condition has exactly one of equals, equals_from, in, in_from, present")
    return Condition(
        kinds[0],
        str(raw[kinds[0]]),
        equals=raw.get("equals"),
        equals_from=raw.get("equals_from"),
        isin=tuple(raw["in"]) if "in" in raw else None,
        present=raw.get("present"),
        in_from=raw.get("in_from"),
    )


def parse_step(raw: Any, signatures: Mapping[str, Signature], derivations: Mapping[str, Signature], where: str) -> Step:
    """One step from YAML: `name`, `{name: arg}`, `{name: {..}}` or `{derivation: name, <inputs>}`, each + `when`."""
    if isinstance(raw, str):
        raw = {raw: None}
    if not isinstance(raw, Mapping):
        raise StepError(f"{where}: a mapping step is an algorithm name or a one-key mapping")
    raw = dict(raw)
    when_raw = raw.pop("when", None)
    when_list = when_raw if isinstance(when_raw, list) else [when_raw] if when_raw is not None else []
    when = tuple(_condition(c, f"{where}.when") for c in when_list)
    if "derivation" in raw:
        name = raw.pop("derivation")
        if name not in derivations:
            raise StepError(f"{where}.derivation: unknown derivation '{name}' (known: {sorted(derivations)})")
        return Step(name, _args(raw, derivations[name], f"{where}.derivation {name}"), when, derivation=True)
    if len(raw) != 1:
        raise StepError(f"{where}: a mapping step names one algorithm, got {sorted(raw)}")
    ((name, arg),) = raw.items()
    if name not in signatures:
        raise StepError(f"{where}: unknown algorithm '{name}' (known: {sorted(signatures)})")
    sig = signatures[name]
    if isinstance(arg, Mapping) and not (sig.primary and sig.params[sig.primary] == "value"):
        args = dict(arg)
    elif arg is None and not sig.primary:
        args = {}
    else:
        args = {sig.primary: arg} if sig.primary else {}
    return Step(name, _args(args, sig, f"{where}.{name}"), when)


def _args(args: Mapping[str, Any], sig: Signature, where: str) -> dict[str, Any]:
    unknown = sorted(set(args) - set(sig.params))
    if unknown:
        raise StepError(f"{where}: unknown argument(s) {unknown} (takes {sorted(sig.params)})")
    missing = sorted(set(sig.params) - set(args) - sig.optional)
    if missing:
        raise StepError(f"{where}: missing argument(s) {missing}")
    return dict(args)


def parse_map(raw: Any, signatures: Mapping[str, Signature], derivations: Mapping[str, Signature], where: str):
    """A variable's steps: one step, or a list tried in order (the first non-null value wins)."""
    if raw is None:
        raise StepError(f"{where}: missing required key 'map'")
    items = raw if isinstance(raw, list) else [raw]
    return tuple(
        parse_step(item, signatures, derivations, f"{where}[{i}]" if len(items) > 1 else where)
        for i, item in enumerate(items)
    )

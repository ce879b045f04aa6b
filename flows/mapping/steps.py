"""A variable's `map` read into steps: which operation, with which arguments, under which conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flows.mapping.vocabulary import Condition, Operation, Step

CONDITION_TESTS = ("equals", "equals_from", "in", "in_from", "present")


class StepError(ValueError):
    """A mapping that cannot be read; the message names the key."""


@dataclass(frozen=True)
class Where:
    """A `records.where`: conditions that must all hold, or a named record filter (`step`) with its inputs."""

    conditions: tuple[Condition, ...] = ()
    step: Step | None = None


def parse_condition(raw: Any, where: str) -> Condition:
    """One condition: `{column: x | variable: X, <one of CONDITION_TESTS>: ...}`."""
    if not isinstance(raw, Mapping):
        raise StepError(f"{where}: a condition is a mapping such as {{column: x, equals: y}}")
    kinds = [k for k in ("column", "variable") if k in raw]
    if len(kinds) != 1:
        raise StepError(f"{where}: a condition names one column or one variable")
    tests = [k for k in CONDITION_TESTS if k in raw]
    if len(tests) != 1 or set(raw) - {"column", "variable", *CONDITION_TESTS}:
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


def parse_step(raw: Any, algorithms: Mapping[str, Operation], derivations: Mapping[str, Operation], where: str) -> Step:
    """One step from YAML: `name`, `{name: arg}`, `{name: {..}}` or `{derivation: name, <inputs>}`, each + `when`."""
    if isinstance(raw, str):
        raw = {raw: None}
    if not isinstance(raw, Mapping):
        raise StepError(f"{where}: a mapping step is an algorithm name or a one-key mapping")
    raw = dict(raw)
    when_raw = raw.pop("when", None)
    when_list = when_raw if isinstance(when_raw, list) else [when_raw] if when_raw is not None else []
    when = tuple(parse_condition(c, f"{where}.when") for c in when_list)
    if "derivation" in raw:
        name = raw.pop("derivation")
        if name not in derivations:
            raise StepError(f"{where}.derivation: unknown derivation '{name}' (known: {sorted(derivations)})")
        op = derivations[name]
        return Step(op, _args(raw, op, f"{where}.derivation {name}"), when)
    if len(raw) != 1:
        raise StepError(f"{where}: a mapping step names one algorithm, got {sorted(raw)}")
    ((name, arg),) = raw.items()
    if name not in algorithms:
        raise StepError(f"{where}: unknown algorithm '{name}' (known: {sorted(algorithms)})")
    op = algorithms[name]
    if isinstance(arg, Mapping) and not (op.primary and op.param(op.primary).kind == "value"):
        args = dict(arg)
    elif arg is None and not op.primary:
        args = {}
    else:
        args = {op.primary: arg} if op.primary else {}
    args = _args(args, op, f"{where}.{name}")
    for p in op.params:  # nested steps (a template's parts) are steps of their own
        if p.kind == "steps" and args.get(p.name):
            if not isinstance(args[p.name], Mapping):
                raise StepError(f"{where}.{name}.{p.name}: a mapping placeholder -> mapping step")
            args[p.name] = {
                k: parse_step(v, algorithms, derivations, f"{where}.{name}.{p.name}.{k}")
                for k, v in args[p.name].items()
            }
    return Step(op, args, when)


def _args(args: Mapping[str, Any], op: Operation, where: str) -> dict[str, Any]:
    names = {p.name for p in op.params}
    unknown = sorted(set(args) - names)
    if unknown:
        raise StepError(f"{where}: unknown argument(s) {unknown} (takes {sorted(names)})")
    missing = sorted(names - set(args) - {p.name for p in op.params if p.optional})
    if missing:
        raise StepError(f"{where}: missing argument(s) {missing}")
    return dict(args)


def parse_map(
    raw: Any, algorithms: Mapping[str, Operation], derivations: Mapping[str, Operation], where: str
) -> tuple[Step, ...]:
    """A variable's steps: one step, or a list tried in order (the first non-null value wins)."""
    if raw is None:
        raise StepError(f"{where}: missing required key 'map'")
    items = raw if isinstance(raw, list) else [raw]
    return tuple(
        parse_step(item, algorithms, derivations, f"{where}[{i}]" if len(items) > 1 else where)
        for i, item in enumerate(items)
    )


def parse_where(raw: Any, filters: Mapping[str, Operation], where: str) -> Where:
    """A record filter: conditions ({column: x, equals: y}, or a list of them) or {derivation: name, <inputs>}."""
    if isinstance(raw, Mapping) and "derivation" in raw:
        return Where(step=parse_step(raw, {}, filters, where))
    items = raw if isinstance(raw, list) else [raw]
    return Where(conditions=tuple(parse_condition(c, where) for c in items))

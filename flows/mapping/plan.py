"""Read every domain's mappings into steps and order the variables so each is derived after what it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

from flows.errors import SpecError
from flows.mapping.derivations import RECORD_FILTERS, RECORD_SOURCES, VARIABLE_DERIVATIONS
from flows.mapping.registry import SIGNATURES, implicit_refs
from flows.mapping.steps import Signature, Step, StepError, _condition, parse_map, parse_step
from flows.specs import DomainSpec, Specs

Node = tuple[str, str]  # (domain, variable)
DERIVATION_SIGNATURES: dict[str, Signature] = {n: sig for n, (_, sig) in VARIABLE_DERIVATIONS.items()}
FILTER_SIGNATURES: dict[str, Signature] = {n: sig for n, (_, sig) in RECORD_FILTERS.items()}


@dataclass(frozen=True)
class DomainPlan:
    steps: Mapping[str, tuple[Step, ...]]  # variable -> its steps (the --SEQ variable is numbered at the end)
    deps: Mapping[str, frozenset[Node]]


@dataclass(frozen=True)
class Plan:
    domains: Mapping[str, DomainPlan]
    order: list[Node]  # every variable of every domain, inputs first; late domains last
    late: frozenset[str]  # domains whose records a named source builds from the finished datasets
    record_order: list[str]


def parse_filter(where: Any, at: str) -> Step:
    """A record filter: conditions ({column: x, equals: y}, or a list of them) or {derivation: name, <inputs>}."""
    if isinstance(where, Mapping) and "derivation" in where:
        return parse_step(where, {}, FILTER_SIGNATURES, at)
    items = where if isinstance(where, list) else [where]
    return Step("filter", {}, tuple(_condition(c, at) for c in items))


def _step_deps(domain: str, step: Step, sig: Signature) -> set[Node]:
    deps: set[Node] = set()
    refs = [str(step.args[a]) for a, kind in sig.params.items() if kind in ("ref", "source") and step.args.get(a)]
    refs = [r for r in refs if r.split(".", 1)[0].isupper()]  # a source may name a raw file instead
    refs += implicit_refs(step)
    for a, kind in sig.params.items():
        if kind == "variable" and step.args.get(a):
            deps.add((domain, str(step.args[a])))
    for ref in refs:
        other, var = ref.split(".", 1)
        deps |= {(other, var), (other, "USUBJID"), (domain, "USUBJID")}
    if step.algorithm in ("last_contact", "aggregate"):
        deps.add((domain, "USUBJID"))
    for c in step.when:
        if c.kind == "variable":
            deps.add((domain, c.name))
    return deps


def plan_domain(spec: DomainSpec) -> DomainPlan:
    """Parse a domain's mappings; raise SpecError naming the file and variable on the first unreadable one."""
    steps, deps = {}, {}
    for var in spec.variables:
        where = f"{spec.path}: variables.{var.name}.map"
        try:
            parsed = parse_map(var.map, SIGNATURES, DERIVATION_SIGNATURES, where)
        except StepError as exc:
            raise SpecError(str(exc)) from None
        if any(s.algorithm == "seq" for s in parsed):
            if var.name != spec.seq:
                raise SpecError(f"{where}: seq numbers the domain's sequence variable only (seq: {spec.seq})")
            continue
        steps[var.name] = parsed
        node_deps: set[Node] = set()
        for s in parsed:
            sig = DERIVATION_SIGNATURES[s.algorithm] if s.derivation else SIGNATURES[s.algorithm]
            node_deps |= _step_deps(spec.domain, s, sig)
        if (spec.domain, var.name) in node_deps:
            raise SpecError(f"{where}: reads itself")
        deps[var.name] = frozenset(node_deps)
    return DomainPlan(steps, deps)


def plan_domains(specs: Specs) -> Plan:
    """Plans of every domain and one order of all their variables; a cycle is a SpecError."""
    domains = {d: plan_domain(s) for d, s in specs.sdtm.items()}
    late = frozenset(d for d, s in specs.sdtm.items() if "derivation" in (s.records or {}))
    order: list[Node] = []
    for group in (sorted(set(specs.sdtm) - late), sorted(late)):
        graph: dict[Node, set[Node]] = {}
        for d in group:
            for var, deps in domains[d].deps.items():
                graph[(d, var)] = {n for n in deps if n[0] in group and n[1] in domains[n[0]].steps}
        try:
            order += list(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            cycle = " -> ".join(f"{d}.{v}" for d, v in exc.args[1])
            raise SpecError(f"{specs.root / 'sdtm'}: mappings read each other in a cycle: {cycle}") from None
    return Plan(domains, order, late, [d for d in specs.sdtm if d not in late] + sorted(late))


__all__ = ["RECORD_SOURCES", "Plan", "parse_filter", "plan_domains"]

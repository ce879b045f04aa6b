"""Read every domain's mappings into steps and order the variables so each is derived after what it reads."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

from flows.kernel.errors import SpecError
from flows.mapping.registry import ALGORITHMS, DERIVATIONS, RECORD_FILTERS, RECORD_SOURCES
from flows.mapping.steps import StepError, Where, parse_map, parse_where
from flows.mapping.vocabulary import Step
from flows.spec.model import Copy, DomainSpec, Specs

Node = tuple[str, str]  # (domain, variable), or (domain, RECORDS) for the building of a domain's records
RECORDS = "__records__"


@dataclass(frozen=True)
class DomainPlan:
    steps: Mapping[str, tuple[Step, ...]]  # variable -> its steps
    deps: Mapping[str, frozenset[Node]]


@dataclass(frozen=True)
class Plan:
    domains: Mapping[str, DomainPlan]
    order: list[Node]  # every domain's records and variables, each after what it reads
    reads: Mapping[Node, frozenset[str]]  # the raw files whose valid rows each node reads


def qualifier_steps(qualifier: Mapping[str, Any], where: str) -> tuple[Step, ...]:
    """The steps of one supplemental qualifier's `map` (worked out in the parent dataset's records)."""
    try:
        return parse_map(qualifier.get("map"), ALGORITHMS, DERIVATIONS, where)
    except StepError as exc:
        raise SpecError(str(exc)) from None


def parse_filter(where: Any, at: str) -> Where:
    """A record filter: conditions ({column: x, equals: y}, or a list of them) or {derivation: name, <inputs>}."""
    return parse_where(where, RECORD_FILTERS, at)


def _step_deps(domain: str, variable: str, spec: DomainSpec, step: Step) -> set[Node]:
    """What a step reads: what its arguments and conditions name, and what its operation reads unnamed (a study
    day's reference, the --SEQ keys, the subject's USUBJID)."""
    deps: set[Node] = set()
    for part in step.parts():
        deps |= _step_deps(domain, variable, spec, part)
    op, args = step.operation, step.args
    refs = [str(args[p.name]) for p in op.params if p.kind in ("ref", "source") and args.get(p.name)]
    refs = [r for r in refs if r.split(".", 1)[0].isupper()]  # a source may name a raw file instead
    refs += op.refs(args) if op.refs else []
    for p in op.params:
        if p.kind == "variable" and args.get(p.name):
            deps.add((domain, str(args[p.name])))
        if p.kind == "variables":
            deps |= {(domain, str(v)) for v in args.get(p.name) or ()}
    for ref in refs:
        other, var = ref.split(".", 1)
        deps |= {(other, var), (other, "USUBJID"), (domain, "USUBJID")}
    deps |= {(domain, v) for v in (op.variables(spec, variable) if op.variables else ())}
    for c in step.when:
        if c.kind == "variable":
            deps.add((domain, c.name))
    return deps


def step_raw_reads(step: Step, spec: DomainSpec, specs: Specs) -> set[str]:
    """The raw files whose valid rows a step reads: a `raw` or `source` argument naming `<raw file>.<column>`, and
    those its operation reads without an argument naming them (last_contact: the domain's file's children)."""
    reads: set[str] = set()
    for part in step.parts():
        reads |= step_raw_reads(part, spec, specs)
    for p in step.operation.params:
        head = str(step.args.get(p.name) or "").split(".", 1)[0]
        if p.kind in ("raw", "source") and head in specs.raw:
            reads.add(head)
    if step.operation.raw_reads:
        reads |= set(step.operation.raw_reads(spec, specs))
    return reads


def _node_reads(node: Node, domains: Mapping[str, DomainPlan], specs: Specs) -> frozenset[str]:
    """The raw files whose valid rows a node reads: its records' `from`, or its steps' raw reads."""
    domain, var = node
    spec = specs.sdtm[domain]
    if var == RECORDS:
        return frozenset(s for s in spec.raw_sources if s in specs.raw)
    return frozenset().union(*(step_raw_reads(s, spec, specs) for s in domains[domain].steps[var]))


def _readers_first(graph: Mapping[Node, set[Node]], reads: Mapping[Node, frozenset[str]]) -> list[Node]:
    """A topological order that takes, of the nodes ready, those reading raw rows first (ties in static order): the
    last reader of a raw file comes early, and its rows can go before the bulk of the variables are derived."""
    rank = {n: i for i, n in enumerate(TopologicalSorter(graph).static_order())}  # a cycle raises here
    sorter, ready, order = TopologicalSorter(graph), [], []
    sorter.prepare()
    while sorter.is_active():
        for node in sorter.get_ready():
            heapq.heappush(ready, (not reads[node], rank[node], node))
        node = heapq.heappop(ready)[2]
        order.append(node)
        sorter.done(node)
    return order


def plan_domain(spec: DomainSpec) -> DomainPlan:
    """Parse a domain's mappings; raise SpecError naming the file and variable on the first unreadable one."""
    steps, deps = {}, {}
    for var in spec.variables:
        where = f"{spec.path}: variables.{var.name}.map"
        try:
            parsed = parse_map(var.map, ALGORITHMS, DERIVATIONS, where)
        except StepError as exc:
            raise SpecError(str(exc)) from None
        steps[var.name] = parsed
        node_deps: set[Node] = {(spec.domain, RECORDS)}
        try:
            for s in parsed:
                node_deps |= _step_deps(spec.domain, var.name, spec, s)
        except StepError as exc:  # an operation refusing its place (seq on another variable than the --SEQ)
            raise SpecError(f"{where}: {exc}") from None
        if (spec.domain, var.name) in node_deps:
            raise SpecError(f"{where}: reads itself")
        deps[var.name] = frozenset(node_deps)
    return DomainPlan(steps, deps)


def record_deps(spec: DomainSpec, specs: Specs) -> set[Node]:
    """What building a domain's records reads: a named record source's declared datasets (DOMAIN.* or DOMAIN.VAR),
    the one that builds them or the one that completes raw records."""
    rec = spec.records or {}
    if "supplemental" in rec:  # qualifiers are worked out on the parent's finished variables
        parent = rec["supplemental"].get("parent")
        return {(parent, n) for n in specs.sdtm[parent].names} if parent in specs.sdtm else set()
    name = rec.get("derivation") or (rec.get("complete") or {}).get("derivation")
    if not name or name not in RECORD_SOURCES:
        return set()
    deps: set[Node] = set()
    for ref in RECORD_SOURCES[name].reads:
        domain, var = ref.split(".", 1)
        if domain in specs.sdtm:
            names = specs.sdtm[domain].names if var == "*" else [var]
            deps |= {(domain, n) for n in names}
    return deps


def copied_columns(specs: Specs) -> dict[tuple[str, str], tuple[Copy, ...]]:
    """(raw file, column) -> the SDTM text variables its values are copied into. Such a value must be ASCII and fit
    the variable, or the dataset fails its output check: validation rejects the row first, naming file and line."""
    out: dict[tuple[str, str], list[Copy]] = {}
    for domain, spec in specs.sdtm.items():
        rec = spec.records or {}
        for raw in (s for s in spec.raw_sources if s in specs.raw):
            columns = set(specs.raw[raw].column_names) - set((rec.get("unpivot") or {}).get("columns", ()))
            steps = plan_domain(spec).steps
            for var in spec.variables:
                for step in steps[var.name] if var.type == "Char" else ():
                    column = step.args.get(step.operation.copies) if step.operation.copies else None
                    if column in columns:
                        every = "where" not in rec and not step.when
                        out.setdefault((raw, column), []).append(
                            Copy(f"{domain}.{var.name}", var.length if every else None)
                        )
    return {k: tuple(v) for k, v in out.items()}


def analysis_raw_reads(specs: Specs) -> set[str]:
    """The raw files whose valid rows the analysis datasets (specs/adam) read: kept for them past the SDTM
    derivation."""
    reads: set[str] = set()
    for spec in specs.adam.values():
        for steps in plan_domain(spec).steps.values():
            for step in steps:
                reads |= step_raw_reads(step, spec, specs)
    return reads


def plan_domains(specs: Specs) -> Plan:
    """Plans of every domain and one order of their records and variables; a cycle is a SpecError."""
    domains = {d: plan_domain(s) for d, s in specs.sdtm.items()}
    graph: dict[Node, set[Node]] = {}
    for d, spec in specs.sdtm.items():
        graph[(d, RECORDS)] = {n for n in record_deps(spec, specs) if n[0] != d}
        for var, deps in domains[d].deps.items():
            graph[(d, var)] = {n for n in deps if n[0] in domains and (n[1] == RECORDS or n[1] in domains[n[0]].steps)}
    reads = {node: _node_reads(node, domains, specs) for node in graph}
    try:
        order = _readers_first(graph, reads)
    except CycleError as exc:
        cycle = " -> ".join(f"{d}.{v}" for d, v in exc.args[1])
        raise SpecError(f"{specs.root / 'sdtm'}: mappings read each other in a cycle: {cycle}") from None
    return Plan(domains, order, reads)


__all__ = ["RECORDS", "Copy", "Plan", "analysis_raw_reads", "copied_columns", "parse_filter", "plan_domains"]

"""Read every domain's mappings into steps and order the variables so each is derived after what it reads."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

from flows.kernel.errors import SpecError
from flows.mapping.derivations import RECORD_FILTERS, RECORD_SOURCES, VARIABLE_DERIVATIONS, child_files
from flows.mapping.registry import SIGNATURES, implicit_refs
from flows.mapping.steps import Signature, Step, StepError, _condition, parse_map, parse_step
from flows.spec.model import Copy, DomainSpec, Specs

Node = tuple[str, str]  # (domain, variable), or (domain, RECORDS) for the building of a domain's records
RECORDS = "__records__"
DERIVATION_SIGNATURES: dict[str, Signature] = {n: sig for n, (_, sig) in VARIABLE_DERIVATIONS.items()}
FILTER_SIGNATURES: dict[str, Signature] = {n: sig for n, (_, sig) in RECORD_FILTERS.items()}


@dataclass(frozen=True)
class DomainPlan:
    steps: Mapping[str, tuple[Step, ...]]  # variable -> its steps (the --SEQ variable is numbered at the end)
    deps: Mapping[str, frozenset[Node]]


@dataclass(frozen=True)
class Plan:
    domains: Mapping[str, DomainPlan]
    order: list[Node]  # every domain's records and variables, each after what it reads
    reads: Mapping[Node, frozenset[str]]  # the raw files whose valid rows each node reads


def qualifier_steps(qualifier: Mapping[str, Any], where: str) -> tuple[Step, ...]:
    """The steps of one supplemental qualifier's `map` (worked out in the parent dataset's records)."""
    try:
        return tuple(
            with_parts(s, where) for s in parse_map(qualifier.get("map"), SIGNATURES, DERIVATION_SIGNATURES, where)
        )
    except StepError as exc:
        raise SpecError(str(exc)) from None


def parse_filter(where: Any, at: str) -> Step:
    """A record filter: conditions ({column: x, equals: y}, or a list of them) or {derivation: name, <inputs>}."""
    if isinstance(where, Mapping) and "derivation" in where:
        return parse_step(where, {}, FILTER_SIGNATURES, at)
    items = where if isinstance(where, list) else [where]
    return Step("filter", {}, tuple(_condition(c, at) for c in items))


def signature_of(step: Step) -> Signature:
    return DERIVATION_SIGNATURES[step.algorithm] if step.derivation else SIGNATURES[step.algorithm]


def with_parts(step: Step, where: str) -> Step:
    """A template step with its parts read into steps of their own."""
    if step.algorithm != "template" or not step.args.get("parts"):
        return step
    parts = step.args["parts"]
    if not isinstance(parts, Mapping):
        raise StepError(f"{where}.template.parts: a mapping placeholder -> mapping step")
    parsed = {
        k: parse_step(v, SIGNATURES, DERIVATION_SIGNATURES, f"{where}.template.parts.{k}") for k, v in parts.items()
    }
    return Step(step.algorithm, {**step.args, "parts": parsed}, step.when, step.derivation)


def _step_deps(domain: str, step: Step, sig: Signature) -> set[Node]:
    deps: set[Node] = set()
    for part in (step.args.get("parts") or {}).values() if step.algorithm == "template" else ():
        deps |= _step_deps(domain, part, signature_of(part))
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


def step_raw_reads(step: Step, spec: DomainSpec, specs: Specs) -> set[str]:
    """The raw files whose valid rows a step reads: a `raw` or `source` argument naming `<raw file>.<column>`, and
    for last_contact every raw file whose parent is the domain's."""
    reads: set[str] = set()
    for part in (step.args.get("parts") or {}).values() if step.algorithm == "template" else ():
        reads |= step_raw_reads(part, spec, specs)
    sig = signature_of(step)
    for a, kind in sig.params.items():
        head = str(step.args.get(a) or "").split(".", 1)[0]
        if kind in ("raw", "source") and head in specs.raw:
            reads.add(head)
    if step.derivation and step.algorithm == "last_contact":
        own = (spec.records or {}).get("from")
        reads |= set(child_files(specs, own if own in specs.raw else None))
    return reads


def _node_reads(node: Node, domains: Mapping[str, DomainPlan], specs: Specs) -> frozenset[str]:
    """The raw files whose valid rows a node reads: its records' `from`, or its steps' raw reads."""
    domain, var = node
    spec = specs.sdtm[domain]
    if var == RECORDS:
        head = (spec.records or {}).get("from")
        return frozenset({head} if head in specs.raw else ())
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
            parsed = tuple(with_parts(s, where) for s in parse_map(var.map, SIGNATURES, DERIVATION_SIGNATURES, where))
        except StepError as exc:
            raise SpecError(str(exc)) from None
        steps[var.name] = parsed
        node_deps: set[Node] = {(spec.domain, RECORDS)}
        if any(s.algorithm == "seq" for s in parsed):
            if var.name != spec.seq:
                raise SpecError(f"{where}: seq numbers the domain's sequence variable only (seq: {spec.seq})")
            node_deps |= {(spec.domain, k) for k in (*spec.keys, "USUBJID") if k != var.name}
        for s in parsed:
            node_deps |= _step_deps(spec.domain, s, signature_of(s))
        if (spec.domain, var.name) in node_deps:
            raise SpecError(f"{where}: reads itself")
        deps[var.name] = frozenset(node_deps)
    return DomainPlan(steps, deps)


def record_deps(spec: DomainSpec, specs: Specs) -> set[Node]:
    """What building a domain's records reads: a named record source's declared datasets (DOMAIN.* or DOMAIN.VAR)."""
    rec = spec.records or {}
    if "supplemental" in rec:  # qualifiers are worked out on the parent's finished variables
        parent = rec["supplemental"].get("parent")
        return {(parent, n) for n in specs.sdtm[parent].names} if parent in specs.sdtm else set()
    name = rec.get("derivation")
    if not name or name not in RECORD_SOURCES:
        return set()
    deps: set[Node] = set()
    for ref in RECORD_SOURCES[name][3]:
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
        raw = rec.get("from")
        if raw not in specs.raw:
            continue
        columns = set(specs.raw[raw].column_names) - set((rec.get("unpivot") or {}).get("columns", ()))
        steps = plan_domain(spec).steps
        for var in spec.variables:
            for step in steps[var.name] if var.type == "Char" else ():
                column = step.args.get("column")
                if step.algorithm == "assign" and not step.derivation and column in columns:
                    every = "where" not in rec and not step.when
                    out.setdefault((raw, column), []).append(
                        Copy(f"{domain}.{var.name}", var.length if every else None)
                    )
    return {k: tuple(v) for k, v in out.items()}


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


__all__ = ["RECORDS", "RECORD_SOURCES", "Plan", "copied_columns", "parse_filter", "plan_domains"]

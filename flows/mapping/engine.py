"""Derive every dataset of specs/sdtm from the valid raw rows: records per domain, then each variable by its
mapping, in the order their inputs allow (across datasets), then key order, --SEQ and the check against the spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from flows.distinct import rows_where
from flows.errors import OutputCheckError
from flows.keys import sort_by_keys
from flows.mapping.context import Context
from flows.mapping.derivations import RECORD_FILTERS, RECORD_SOURCES, VARIABLE_DERIVATIONS
from flows.mapping.plan import Plan, plan_domains
from flows.mapping.registry import ALGORITHMS, holds
from flows.mapping.steps import Step
from flows.mapping.vocabulary import first_non_null
from flows.read import SOURCE
from flows.sdtm_schema import TRACE, conform
from flows.specs import DomainSpec, Specs


def _unpivot(frame: pd.DataFrame, how: Mapping[str, Any]) -> pd.DataFrame:
    """Long records from wide rows: one record per row and listed column (name and value in two new fields)."""
    keep = [c for c in frame.columns if c not in how["columns"]]
    long = frame.melt(id_vars=keep, value_vars=list(how["columns"]), var_name=how["name"], value_name=how["value"])
    return long.astype({how["name"]: "str", how["value"]: "str"})


def build_records(spec: DomainSpec, ctx: Context) -> pd.DataFrame:
    """The records of a domain: valid rows of its raw file (filtered, unpivoted), a study.yaml list, or a named
    record source. Raw records keep their file (`_file`) and line (`_line`)."""
    rec = spec.records
    if "from" in rec:
        frame = ctx.valid[rec["from"]]
        if "where" in rec:
            ctx.records = frame
            frame = rows_where(frame, _filter(rec["where"], ctx).to_numpy())
        lines = frame.index.to_numpy()
        records = frame.reset_index(drop=True)
        records["_line"] = lines
        if "unpivot" in rec:
            records = _unpivot(records, rec["unpivot"])
        return records
    if "study" in rec:
        return pd.DataFrame(list(ctx.specs.study.lookup(rec["study"])))
    fn, _, fields = RECORD_SOURCES[rec["derivation"]]
    return fn(ctx)[list(fields)].reset_index(drop=True)


def _filter(where: Any, ctx: Context) -> pd.Series:
    from flows.mapping.plan import parse_filter

    step = parse_filter(where, "records.where")
    if step.derivation:
        fn, _ = RECORD_FILTERS[step.algorithm]
        return fn(ctx, **step.args)
    return holds(ctx, step.when)


def run_step(step: Step, ctx: Context) -> pd.Series:
    """One mapping step on every record; null where its conditions do not hold."""
    fn = VARIABLE_DERIVATIONS[step.algorithm][0] if step.derivation else ALGORITHMS[step.algorithm][1]
    values = fn(ctx, **step.args)
    if step.when:
        values = values.where(holds(ctx, step.when))
    return values


def _evaluate(plan: Plan, ctx: Context, var: str) -> None:
    steps = plan.steps[var]
    parts = [run_step(s, ctx) for s in steps]
    ctx.variables[var] = first_non_null(parts) if len(parts) > 1 else parts[0]


def _frame(spec: DomainSpec, ctx: Context) -> pd.DataFrame:
    """The derived variables in spec order (seq still empty), with the raw source of each record."""
    index = ctx.records.index
    data = {n: ctx.variables.get(n, pd.Series(pd.NA, index=index, dtype="Int64")) for n in spec.names}
    frame = pd.DataFrame(data, index=index)
    if "_line" in ctx.records:
        frame["_file"], frame["_line"] = ctx.records[SOURCE].to_numpy(), ctx.records["_line"].to_numpy()
    return frame


def _finish(spec: DomainSpec, frame: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    out = sort_by_keys(frame, spec)
    if spec.seq:
        out[spec.seq] = out.groupby("USUBJID", sort=False).cumcount().add(1).astype("Int64")
    checked = conform(out, spec, specs)
    for col in TRACE:
        if col in out:
            checked[col] = out[col].to_numpy()
    return checked


def derive_datasets(
    valid: Mapping[str, pd.DataFrame], specs: Specs, facts: Mapping[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """Every SDTM dataset of the specs from the valid raw rows, conformed to and checked against its spec.

    Domains whose records come from a raw file or study.yaml are derived together (a variable may read another
    dataset's); they are then sorted, numbered and checked, and only then are the late domains (records from a
    named source, e.g. TS) built from the finished datasets."""
    plan = plan_domains(specs)
    datasets: dict[str, dict[str, pd.Series]] = {d: {} for d in specs.sdtm}
    contexts: dict[str, Context] = {}
    out: dict[str, pd.DataFrame] = {}

    def context(domain: str) -> Context:
        spec = specs.sdtm[domain]
        raw = spec.records.get("from")
        ctx = Context(domain, pd.DataFrame(), specs, specs.raw.get(raw), valid, datasets, facts or {})
        ctx.records = build_records(spec, ctx)
        return ctx

    def finish(domains: list[str]) -> None:
        for domain in domains:
            out[domain] = _finish(specs.sdtm[domain], _frame(specs.sdtm[domain], contexts[domain]), specs)
            datasets[domain] = {c: out[domain][c] for c in out[domain].columns}

    for domain in plan.record_order:
        if domain not in plan.late:
            contexts[domain] = context(domain)
    finished = False
    for domain, var in plan.order:
        if domain in plan.late and not finished:
            finish([d for d in plan.record_order if d not in plan.late])
            finished = True
        if domain not in contexts:
            contexts[domain] = context(domain)
        try:
            _evaluate(plan.domains[domain], contexts[domain], var)
        except (KeyError, ValueError, TypeError) as exc:
            where = f"{specs.sdtm[domain].path.name}: variables.{var}"
            raise OutputCheckError(f"{where}: derivation failed: {type(exc).__name__}: {exc}") from exc
    if not finished:
        finish([d for d in plan.record_order if d not in plan.late])
    for domain in plan.late:
        if domain not in contexts:
            contexts[domain] = context(domain)
    finish(sorted(plan.late))
    return {d: out[d] for d in specs.sdtm}


def record_counts(datasets: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    return {d: int(np.int64(len(f))) for d, f in datasets.items()}

"""Derive every dataset of specs/sdtm from the valid raw rows: records per domain, then each variable by its
mapping (once per distinct value where that saves work), in the order their inputs allow (across datasets), then
key order and the check against the spec."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import pandas as pd

from flows.kernel.distinct import SMALL, distinct_rows, shared_codes, value_codes
from flows.kernel.errors import OutputCheckError
from flows.kernel.keys import sort_by_keys
from flows.mapping.context import KEY_ORDER, Context
from flows.mapping.evaluate import run_step
from flows.mapping.plan import RECORDS, Plan, analysis_raw_reads, plan_domains
from flows.mapping.records import build_records, supplemental_records
from flows.mapping.vectors import first_non_null
from flows.mapping.vocabulary import Step
from flows.raw.read import SOURCE
from flows.spec.model import ANALYSIS_CLASSES, DomainSpec, Specs
from flows.spec.sdtm_schema import TRACE, conform


def columns_read(step: Step) -> list[str] | None:
    """The record columns a step reads when its value is a function of them alone, row by row; else None."""
    if not step.operation.row_wise or any(c.kind != "column" for c in step.when):
        return None
    cols = [c.name for c in step.when]
    for p in step.operation.params:
        value = step.args.get(p.name)
        if p.kind == "steps" and value:
            for part in value.values():
                if (more := columns_read(part)) is None:
                    return None
                cols += more
        elif p.kind == "column" and value:
            cols.append(str(value))
        elif p.kind not in ("value", "study", "steps") and value:
            return None
    return cols


def _per_distinct(steps: tuple[Step, ...]) -> list[str] | None:
    """The columns to work out a variable's steps on once per distinct combination of, when that saves work (a
    look-up, a recode, a condition or several candidates: not a plain copy or a constant)."""
    cols = [columns_read(s) for s in steps]
    if any(c is None for c in cols) or not any(cols):
        return None
    only = steps[0]
    plain = len(steps) == 1 and not only.when and only.operation.plain is not None and only.operation.plain(only.args)
    return None if plain else list(dict.fromkeys(c for cs in cols for c in cs))


def _evaluate(plan: Plan, ctx: Context, var: str) -> None:
    steps = plan.domains[ctx.domain].steps[var]
    cols = _per_distinct(steps) if len(ctx.records) > SMALL else None  # few records: finding combinations costs more
    run_on = ctx
    if cols:  # a function of a few columns that repeat their values: once per distinct combination of them
        distinct = distinct_rows(ctx.records, cols)
        run_on = replace(ctx, records=distinct.rows.reset_index(drop=True), cache={})
    parts = [run_step(s, run_on) for s in steps]
    value = first_non_null(parts) if len(parts) > 1 else parts[0]
    ctx.variables[var] = distinct.expand(value, ctx.records.index) if cols else value


def _frame(spec: DomainSpec, ctx: Context) -> pd.DataFrame:
    """The derived variables in spec order, with the raw source of each record."""
    index = ctx.records.index
    frame = pd.DataFrame({n: ctx.variables[n] for n in spec.names}, index=index)
    if "_line" in ctx.records:
        frame["_file"], frame["_line"] = ctx.records[SOURCE].array, ctx.records["_line"].to_numpy()
    return frame


def _finish(spec: DomainSpec, frame: pd.DataFrame, specs: Specs, known: tuple | None = None) -> pd.DataFrame:
    """Sorted by the keys (by the order --SEQ was numbered in, when it was for the same keys) and conformed. `frame`
    is used up: its columns go as their sorted copies come (a dataset of ten million records is not held twice)."""
    keys = tuple(k for k in spec.keys if k in frame)
    if len(frame) > SMALL:  # each text variable's codes, which the check works out anyway, before the sort: its
        for v in spec.variables:  # sorted copy is then made from its few distinct values, not value by value
            if v.type == "Char" and isinstance(frame[v.name].array, pd.arrays.ArrowStringArray):
                value_codes(frame[v.name])
    out = sort_by_keys(frame, spec.keys, known[1] if known and known[0] == keys else None, consume=True)
    checked = conform(out, spec, specs)
    for col in TRACE:
        if col in out:
            checked[col] = out[col].array
    return checked


def derive_datasets(
    valid: dict[str, pd.DataFrame], specs: Specs, facts: Mapping[str, Any] | None = None, consume: bool = False
) -> dict[str, pd.DataFrame]:
    """Every SDTM dataset of the specs from the valid raw rows, conformed to and checked against its spec.

    Records and variables of all datasets are built in one order in which each comes after what it reads (a
    variable may read another dataset's variables, a named record source whole datasets); then every dataset is
    sorted by its keys and checked against its spec. With `consume`, `valid` (a dict) is emptied once every
    variable is derived: when nothing else holds the raw rows, their memory goes back before the sorts."""
    with shared_codes():  # a column's codes are worked out once for every step, sort and check that reads it
        return _derive_all(valid, specs, facts, consume)


def derive_study_level(
    sdtm: Mapping[str, Mapping[str, pd.Series]], specs: Specs, facts: Mapping[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """The datasets of `specs.sdtm` from the variables of datasets derived already (`sdtm`: per dataset, its
    variables), which they may read: the study-level datasets once, after the subjects' were derived in blocks."""
    with shared_codes():
        return _derive_all({}, specs, facts, False, sdtm)


def derive_analysis(
    sdtm: Mapping[str, pd.DataFrame],
    specs: Specs,
    facts: Mapping[str, Any] | None = None,
    valid: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every ADaM dataset of specs/adam from the derived SDTM datasets, by the same mapping vocabulary: records
    `{from_sdtm: DOMAIN}`, a variable may read the SDTM datasets' variables and the other ADaM datasets' (ADSL), and
    the valid rows of the raw files `analysis_raw_reads` names (`valid`: a collected value no SDTM dataset holds yet,
    as the baseline weight before VS)."""
    if not specs.adam:
        return {}
    missing = sorted(analysis_raw_reads(specs) - set(valid or {}))
    if missing:  # a caller's slip, not the data's: say which rows the analysis datasets need
        raise OutputCheckError(f"specs/adam: the analysis datasets read the valid rows of {missing}, not given")
    given = {}
    for d, frame in sdtm.items():
        plain = frame.drop(columns=TRACE, errors="ignore").reset_index(drop=True)
        given[d] = {c: plain[c] for c in plain.columns}
    with shared_codes():
        derived = _derive_all(dict(valid or {}), replace(specs, sdtm=specs.adam), facts, False, given)
    first = sorted(derived, key=lambda d: (specs.adam[d].klass != ANALYSIS_CLASSES[0], d))  # ADSL, then by name
    return {d: derived[d] for d in first}


def _derive_all(
    valid: dict[str, pd.DataFrame],
    specs: Specs,
    facts: Mapping[str, Any] | None,
    consume: bool,
    given: Mapping[str, dict[str, pd.Series]] | None = None,
) -> dict:
    plan = plan_domains(specs)
    # the datasets derived here, then those `given` (looked up when read: a lazy mapping reads only what is asked)
    datasets: MutableMapping[str, dict[str, pd.Series]] = ChainMap({d: {} for d in specs.sdtm}, given or {})  # type: ignore[arg-type]
    contexts: dict[str, Context] = {}
    last_read: dict[str, int] = {}  # with consume: each raw file's rows go after the last node that reads them
    if consume:
        last_read = dict.fromkeys(valid, -1) | {raw: i for i, n in enumerate(plan.order) for raw in plan.reads[n]}
    for i, (domain, node) in enumerate(plan.order):
        for raw in [r for r, last in last_read.items() if last < i and r in valid]:
            del valid[raw]
        spec = specs.sdtm[domain]
        where = f"{spec.path.name}: " + ("records" if node == RECORDS else f"variables.{node}")
        try:
            if node == RECORDS:
                raw = spec.raw_sources[0] if spec.raw_sources else None  # the sources share their subject columns
                ctx = Context(domain, pd.DataFrame(), specs, specs.raw.get(raw), valid, datasets, facts or {})
                if "supplemental" in spec.records:
                    how = spec.records["supplemental"]
                    ctx.records = supplemental_records(how, contexts[how["parent"]])
                else:
                    ctx.records = build_records(spec, ctx)
                contexts[domain] = ctx
            else:
                _evaluate(plan, contexts[domain], node)
        except (KeyError, ValueError, TypeError) as exc:
            raise OutputCheckError(f"{where}: derivation failed: {type(exc).__name__}: {exc}") from exc
    # Nothing reads a derivation any more: each dataset's variables become its frame, and the records, the caches
    # and (with consume) the raw rows go before the first sort.
    frames = {}
    for d, spec in specs.sdtm.items():
        ctx = contexts.pop(d)
        frames[d] = (_frame(spec, ctx), ctx.cache.get(KEY_ORDER))
        datasets[d].clear()  # numbers are copied into the frame: the variables go at once
        del ctx
    if consume:
        valid.clear()
    finished = {}
    for d, spec in specs.sdtm.items():
        frame, known = frames.pop(d)
        finished[d] = _finish(spec, frame, specs, known)
    return finished

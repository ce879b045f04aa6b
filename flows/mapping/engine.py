"""Derive every dataset of specs/sdtm from the valid raw rows: records per domain, then each variable by its
mapping, in the order their inputs allow (across datasets), then key order, --SEQ and the check against the spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from flows.kernel.distinct import SMALL, distinct_rows, rows_where, shared_codes
from flows.kernel.errors import OutputCheckError
from flows.kernel.keys import key_order, seq_in_key_order, sort_by_keys
from flows.mapping.context import Context
from flows.mapping.derivations import RECORD_FILTERS, RECORD_SOURCES, VARIABLE_DERIVATIONS
from flows.mapping.plan import RECORDS, Plan, plan_domains
from flows.mapping.registry import ALGORITHMS, SIGNATURES, holds
from flows.mapping.steps import Step
from flows.mapping.vocabulary import fill_template, first_non_null, null_unless
from flows.raw.read import SOURCE
from flows.spec.model import DomainSpec, Specs
from flows.spec.sdtm_schema import TRACE, conform


def _unpivot(frame: pd.DataFrame, how: Mapping[str, Any]) -> pd.DataFrame:
    """Long records from wide rows: one record per row and listed column (name and value in two new fields)."""
    keep = [c for c in frame.columns if c not in how["columns"]]
    long = frame.melt(id_vars=keep, value_vars=list(how["columns"]), var_name=how["name"], value_name=how["value"])
    return long.astype({how["name"]: "str", how["value"]: "str"})


def _group(frame: pd.DataFrame, how: Mapping[str, Any]) -> pd.DataFrame:
    """One record per distinct combination of `by`, with min_<col>/max_<col> of the listed columns, the file and
    the first line of the group (grouped in Arrow: fast on 10^7 rows)."""
    import pyarrow as pa

    by, mins, maxs = list(how["by"]), list(how.get("min", [])), list(how.get("max", []))
    cols = dict.fromkeys([*by, *mins, *maxs, SOURCE])
    text = {c: pa.array(frame[c], type=pa.large_string()) for c in cols}  # what pandas' str holds: no cast
    table = pa.table(text | {"_line": frame["_line"].to_numpy()})
    aggs = [(c, "min") for c in mins] + [(c, "max") for c in maxs] + [(SOURCE, "min"), ("_line", "min")]
    grouped = table.group_by(by, use_threads=False).aggregate(aggs).to_pandas()
    names = {f"{c}_min": f"min_{c}" for c in mins} | {f"{c}_max": f"max_{c}" for c in maxs}
    out = grouped.rename(columns={**names, f"{SOURCE}_min": SOURCE, "_line_min": "_line"})
    return out.sort_values("_line", kind="stable").reset_index(drop=True)


def _explode(rows: list[Mapping[str, Any]], how: Mapping[str, Any]) -> pd.DataFrame:
    """One record per element of a list field of each study-list row, numbered 1..n within the row."""
    out = []
    for row in rows:
        for order, item in enumerate(row.get(how["field"]) or [], start=1):
            out.append({**row, how["as"]: item, how["order"]: order})
    return pd.DataFrame(out)


KEY_ORDER = "key order"  # ctx.cache: (keys, positions of the records in their order)
SUPP_FIELDS = ("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL")


def supplemental_records(how: Mapping[str, Any], parent: Context) -> pd.DataFrame:
    """SUPP-- records: per parent record and qualifier, the qualifier's value worked out on the parent's variables
    (one record where it is not null), identified by the parent's `idvar` (e.g. AESEQ) and its raw source."""
    from flows.mapping.plan import qualifier_steps

    v = parent.variables
    ids = v[how["idvar"]].astype("Int64").astype("str")
    parts = []
    for q in how["qualifiers"]:
        steps = qualifier_steps(q, f"records.supplemental.qualifiers.{q['qnam']}")
        values = [run_step(step, parent) for step in steps]
        value = (first_non_null(values) if len(values) > 1 else values[0]).astype("str")
        keep = value.notna().to_numpy(bool)
        frame = pd.DataFrame(
            {
                "USUBJID": v["USUBJID"].to_numpy()[keep],
                "RDOMAIN": parent.domain,
                "IDVAR": how["idvar"],
                "IDVARVAL": ids.to_numpy()[keep],
                "QNAM": q["qnam"],
                "QLABEL": q["qlabel"],
                "QVAL": value.to_numpy()[keep],
                "QORIG": q["qorig"],
                "QEVAL": q.get("qeval"),
            }
        )
        if "_line" in parent.records:
            frame[SOURCE] = parent.records[SOURCE].to_numpy()[keep]
            frame["_line"] = parent.records["_line"].to_numpy()[keep]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True).astype({f: "str" for f in SUPP_FIELDS})


def build_records(spec: DomainSpec, ctx: Context) -> pd.DataFrame:
    """The records of a domain: valid rows of its raw file (unpivoted or grouped, then filtered), a study.yaml
    list (exploded), or a named record source. Raw records keep their file (`_file`) and line (`_line`)."""
    rec = spec.records
    if "from" in rec:
        frame = ctx.valid[rec["from"]]
        index = frame.index  # a RangeIndex's to_numpy() would stay cached on the raw rows' index: made afresh
        lines = np.arange(index.start, index.stop, index.step) if isinstance(index, pd.RangeIndex) else index.to_numpy()
        records = frame.reset_index(drop=True)
        records["_line"] = lines
        if "unpivot" in rec:
            records = _unpivot(records, rec["unpivot"])
        if "group" in rec:
            records = _group(records, rec["group"])
        if "where" in rec:
            ctx.records = records
            records = rows_where(records, _filter(rec["where"], ctx).to_numpy()).reset_index(drop=True)
        return records
    if "study" in rec:
        rows = list(ctx.specs.study.lookup(rec["study"]))
        return _explode(rows, rec["explode"]) if "explode" in rec else pd.DataFrame(rows)
    fn, _, fields, _ = RECORD_SOURCES[rec["derivation"]]
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
    if step.algorithm == "template":
        parts = {name: run_step(part, ctx) for name, part in (step.args.get("parts") or {}).items()}
        values = fill_template(step.args["text"], parts, ctx.records.index)
    else:
        fn = VARIABLE_DERIVATIONS[step.algorithm][0] if step.derivation else ALGORITHMS[step.algorithm][1]
        values = fn(ctx, **step.args)
    if step.when:
        values = null_unless(values, holds(ctx, step.when))
    return values


def seq_numbers(ctx: Context, spec: DomainSpec) -> pd.Series:
    """--SEQ: 1..n within USUBJID in the order of the domain keys (ties in record order), records left in place.
    The order is kept (ctx.cache) for the sort of the finished dataset by the same keys."""
    keys = [k for k in spec.keys if k != spec.seq and k in ctx.variables]
    frame = pd.DataFrame({k: ctx.variables[k] for k in dict.fromkeys([*keys, "USUBJID"])}, index=ctx.records.index)
    order = key_order(frame, keys)
    ctx.cache[KEY_ORDER] = (tuple(keys), order)
    return seq_in_key_order(frame, keys, order)


ROW_WISE = {"assign", "assign_ct", "hardcode", "study", "dtc", "lookup", "template"}  # of the record's columns only


def columns_read(step: Step) -> list[str] | None:
    """The record columns a step reads when its value is a function of them alone, row by row; else None."""
    if step.derivation or step.algorithm not in ROW_WISE or any(c.kind != "column" for c in step.when):
        return None
    cols = [c.name for c in step.when]
    for arg, kind in SIGNATURES[step.algorithm].params.items():
        value = step.args.get(arg)
        if kind == "steps" and value:
            for part in value.values():
                if (more := columns_read(part)) is None:
                    return None
                cols += more
        elif kind == "column" and value:
            cols.append(str(value))
        elif kind not in ("value", "study", "steps") and value:
            return None
    return cols


def _per_distinct(steps: tuple[Step, ...]) -> list[str] | None:
    """The columns to work out a variable's steps on once per distinct combination of, when that saves work (a
    look-up, a recode, a condition or several candidates: not a plain copy or a constant)."""
    cols = [columns_read(s) for s in steps]
    if any(c is None for c in cols) or not any(cols):
        return None
    plain = len(steps) == 1 and not steps[0].when and steps[0].algorithm in ("assign", "hardcode", "study")
    plain |= len(steps) == 1 and not steps[0].when and steps[0].algorithm == "dtc" and not steps[0].args.get("time")
    return None if plain else list(dict.fromkeys(c for cs in cols for c in cs))


def _evaluate(plan: Plan, ctx: Context, var: str) -> None:
    steps = plan.domains[ctx.domain].steps[var]
    if steps[0].algorithm == "seq":
        ctx.variables[var] = seq_numbers(ctx, ctx.specs.sdtm[ctx.domain])
        return
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


def _derive_all(valid: dict[str, pd.DataFrame], specs: Specs, facts: Mapping[str, Any] | None, consume: bool) -> dict:
    plan = plan_domains(specs)
    datasets: dict[str, dict[str, pd.Series]] = {d: {} for d in specs.sdtm}
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
                raw = spec.records.get("from")
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

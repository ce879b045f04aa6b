"""Where a dataset's records come from (its `records`): a raw file's valid rows (unpivoted, grouped, filtered), a
study.yaml list (exploded), a named record source, the supplemental qualifiers of a parent dataset, or (an ADaM
dataset) a derived SDTM dataset's records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from flows.kernel.distinct import constant_text, distinct_rows, per_value, rows_where
from flows.mapping.context import Context
from flows.mapping.evaluate import holds, run_step
from flows.mapping.plan import parse_filter, qualifier_steps
from flows.mapping.registry import RECORD_SOURCES
from flows.mapping.steps import Where
from flows.mapping.vectors import first_non_null
from flows.raw.read import SOURCE
from flows.spec.model import DomainSpec


def _unpivot(frame: pd.DataFrame, how: Mapping[str, Any]) -> pd.DataFrame:
    """Long records from wide rows: one record per row and listed column (name and value in two new fields); the
    value is text, each column's as its own type writes it (an integer column's 72, not 72.0 beside a float's)."""
    keep = [c for c in frame.columns if c not in how["columns"]]
    frame = frame.astype({c: "str" for c in how["columns"]})
    long = frame.melt(id_vars=keep, value_vars=list(how["columns"]), var_name=how["name"], value_name=how["value"])
    return long.astype({how["name"]: "str", how["value"]: "str"})


def _unpivot_where(frame: pd.DataFrame, how: Mapping[str, Any], where: Where, ctx: Context) -> pd.DataFrame:
    """_unpivot, then the `where` conditions, one listed column at a time: each part is filtered as it is made, so
    the other columns are not repeated for the values the filter drops (a vital signs row without a height). The
    same records in the same order: the conditions hold row by row, and the parts come in the order melt gives."""
    keep = [c for c in frame.columns if c not in how["columns"]]
    parts = []
    for column in how["columns"]:
        fields = {c: frame[c].array for c in keep}
        fields[how["name"]] = constant_text(str(column), len(frame))
        fields[how["value"]] = _as_text(frame[column]).array
        ctx.records = pd.DataFrame(fields, copy=False)
        parts.append(rows_where(ctx.records, holds(ctx, where.conditions).to_numpy()))
    return pd.concat(parts, ignore_index=True)


def _as_text(values: pd.Series) -> pd.Series:
    """values.astype("str"), a number written once per distinct value (a vital sign repeats a few hundred)."""
    if values.dtype == "str":
        return values
    return per_value(lambda v: v.astype("str"))(values).astype("str")


def _group(frame: pd.DataFrame, how: Mapping[str, Any]) -> pd.DataFrame:
    """One record per distinct combination of `by`, with min_<col>/max_<col> of the listed columns, and the file and
    line of the group's first record (records of several sources: the first source's first); grouped in Arrow: fast
    on 10^7 rows."""
    by, mins, maxs = list(how["by"]), list(how.get("min", [])), list(how.get("max", []))
    cols = dict.fromkeys([*by, *mins, *maxs])
    if all(frame[c].dtype == "str" for c in cols) and not set(by) & {*mins, *maxs}:
        return _group_by_codes(frame, by, mins, maxs)
    text = {c: pa.array(frame[c], type=pa.large_string()) for c in cols}  # what pandas' str holds: no cast
    table = pa.table(text | {"_at": np.arange(len(frame))})
    aggs = [(c, "min") for c in mins] + [(c, "max") for c in maxs] + [("_at", "min")]
    grouped = table.group_by(by, use_threads=False).aggregate(aggs).to_pandas()
    names = {f"{c}_min": f"min_{c}" for c in mins} | {f"{c}_max": f"max_{c}" for c in maxs}
    out = grouped.rename(columns=names).sort_values("_at_min", kind="stable").reset_index(drop=True)
    first = out.pop("_at_min").to_numpy()
    out[SOURCE] = frame[SOURCE].iloc[first].array  # taken in Arrow: the file names are not made Python strings
    out["_line"] = frame["_line"].to_numpy()[first]
    return out


def _group_by_codes(frame: pd.DataFrame, by: list[str], mins: list[str], maxs: list[str]) -> pd.DataFrame:
    """_group of text columns on integer codes: the combinations of `by` as the rows' codes give them (worked out
    once per column), each min/max the extreme rank of the column's values (text ranked as Arrow compares it)."""
    distinct = distinct_rows(frame, by)  # in order of first appearance: the first record of each group
    first = frame.index.get_indexer(distinct.rows.index)
    out = distinct.rows.reset_index(drop=True)
    groups, n = distinct.codes, len(out)
    for prefix, columns in (("min", mins), ("max", maxs)):
        for c in columns:
            rank, uniques = pd.factorize(frame[c], sort=True)  # -1: null, left out as Arrow's min and max do
            has = rank >= 0
            best = np.full(n, len(uniques) if prefix == "min" else -1, np.int64)
            (np.minimum if prefix == "min" else np.maximum).at(best, groups[has], rank[has])
            best[best == len(uniques)] = -1  # a group of nulls only: null
            out[f"{prefix}_{c}"] = uniques.array.take(best, allow_fill=True)
    out[SOURCE] = frame[SOURCE].iloc[first].array
    out["_line"] = frame["_line"].to_numpy()[first]
    return out


def _explode(rows: list[Mapping[str, Any]], how: Mapping[str, Any]) -> pd.DataFrame:
    """One record per element of a list field of each study-list row, numbered 1..n within the row."""
    out = []
    for row in rows:
        for order, item in enumerate(row.get(how["field"]) or [], start=1):
            out.append({**row, how["as"]: item, how["order"]: order})
    return pd.DataFrame(out)


SUPP_FIELDS = ("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL")


def supplemental_records(how: Mapping[str, Any], parent: Context) -> pd.DataFrame:
    """SUPP-- records: per parent record and qualifier, the qualifier's value worked out on the parent's variables
    (one record where it is not null), identified by the parent's `idvar` (e.g. AESEQ) and its raw source."""
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


def _raw_records(frame: pd.DataFrame) -> pd.DataFrame:
    """A raw file's valid rows as records, each with its line (`_line`) beside its file (`_file`)."""
    index = frame.index  # a RangeIndex's to_numpy() would stay cached on the raw rows' index: made afresh
    lines = np.arange(index.start, index.stop, index.step) if isinstance(index, pd.RangeIndex) else index.to_numpy()
    records = frame.reset_index(drop=True)
    records["_line"] = lines
    return records


def _subjects_as(frame: pd.DataFrame, name: str, first: str, ctx: Context) -> pd.DataFrame:
    """A source's records with its subject columns (roles SITEID, SUBJID) named as the first source names them."""
    records = _raw_records(frame)
    if name == first:
        return records
    own, theirs = ctx.specs.raw[name], ctx.specs.raw[first]
    names = {own.role(r): theirs.role(r) for r in ("SITEID", "SUBJID") if own.role(r) and own.role(r) != theirs.role(r)}
    return records.rename(columns=names) if names else records


def build_records(spec: DomainSpec, ctx: Context) -> pd.DataFrame:
    """The records of a domain: valid rows of its raw file (unpivoted or grouped, then filtered, then completed by
    a named source), a study.yaml list (exploded), or a named record source. Raw records keep their file (`_file`)
    and line (`_line`); a record a completing source adds has none."""
    rec = spec.records
    if "from_sdtm" in rec:  # an analysis dataset's records: a derived SDTM dataset's, in its key order
        records = pd.DataFrame(ctx.datasets[rec["from_sdtm"]])
        if "where" in rec:
            ctx.records = records
            records = rows_where(records, _filter(rec["where"], ctx).to_numpy()).reset_index(drop=True)
        return records
    if "from" in rec:
        parts = [_subjects_as(ctx.valid[name], name, spec.raw_sources[0], ctx) for name in spec.raw_sources]
        records = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        flt = parse_filter(rec["where"], "records.where") if "where" in rec else None
        if "unpivot" in rec and flt and not flt.step and "group" not in rec and _by_column(flt, rec["unpivot"]):
            records = _unpivot_where(records, rec["unpivot"], flt, ctx)
            flt = None  # applied
        elif "unpivot" in rec:
            records = _unpivot(records, rec["unpivot"])
        if "group" in rec:
            records = _group(records, rec["group"])
        if flt:
            ctx.records = records
            records = rows_where(records, _filter(rec["where"], ctx).to_numpy()).reset_index(drop=True)
        if "complete" in rec:  # a named source adds what the raw rows do not hold (planned visits not held)
            ctx.records = records
            records = RECORD_SOURCES[rec["complete"]["derivation"]].run(ctx).reset_index(drop=True)
        return records
    if "study" in rec:
        rows = list(ctx.specs.study.lookup(rec["study"]))
        return _explode(rows, rec["explode"]) if "explode" in rec else pd.DataFrame(rows)
    source = RECORD_SOURCES[rec["derivation"]]
    return source.run(ctx)[list(source.fields)].reset_index(drop=True)


def _by_column(flt: Where, how: Mapping[str, Any]) -> bool:
    """Whether a filter's conditions read only the records' columns (no variable: none is derived yet), none of them
    an unpivoted column (gone from the records)."""
    return all(c.kind == "column" and c.name not in how["columns"] for c in flt.conditions)


def _filter(where: Any, ctx: Context) -> pd.Series:
    flt = parse_filter(where, "records.where")
    if flt.step:
        return flt.step.operation.run(ctx, **flt.step.args)
    return holds(ctx, flt.conditions)

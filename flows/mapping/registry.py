"""The vocabulary as the specs name it: each algorithm's signature and how its arguments bind to a Context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from flows.kernel import distinct
from flows.kernel.keys import subject_ids
from flows.mapping import vocabulary as v
from flows.mapping.context import Context
from flows.mapping.steps import Condition, Signature, Step

REFERENCE = "DM.RFSTDTC"  # SDTMIG: study days count from the subject reference start date


def _usubjid(ctx: Context) -> pd.Series:
    return subject_ids(ctx.records, ctx.contract.subject_columns, ctx.specs.study.studyid)


def _per_subject_source(ctx: Context, dotted: str) -> tuple[pd.Series, pd.Series]:
    """(USUBJID, values) of DOMAIN.VARIABLE of a dataset, or of <raw file>.<column> of a raw file's valid rows."""
    head, column = dotted.split(".", 1)
    if head in ctx.specs.sdtm:
        return ctx.ref(dotted)
    frame = ctx.valid[head]
    return subject_ids(frame, ctx.specs.raw[head].subject_columns, ctx.specs.study.studyid), frame[column]


def _study_day(ctx: Context, date: str, reference: str | None = None) -> pd.Series:
    """--DY against the subject's reference date, worked out once per distinct subject and date (on the records
    when there are few)."""
    key = ("study_day", date, reference)  # --DY and EPOCH of the same date share it
    if key not in ctx.cache:
        source, ref = ctx.ref(reference or REFERENCE)
        subject = ctx.variables["USUBJID"]
        if len(subject) <= distinct.SMALL:
            days = v.study_day_of(ctx.variables[date], v.lookup_per_subject(subject, source, ref))
            ctx.cache[key] = days.astype("Int64")
            return ctx.cache[key]
        frame = pd.DataFrame({"u": subject.array, "d": ctx.variables[date].array}, index=subject.index)
        pairs = distinct.distinct_rows(frame, ["u", "d"])
        rows = pairs.rows.reset_index(drop=True)
        days = v.study_day_of(rows["d"], v.lookup_per_subject(rows["u"], source, ref))
        ctx.cache[key] = pairs.expand(days, subject.index).astype("Int64")
    return ctx.cache[key]


def _epoch(ctx: Context, date: str, reference: str | None = None, elements: str | None = None) -> pd.Series:
    if elements:  # the subject's own elements (SE), as SDTMIG asks
        se = ctx.datasets[elements]
        table = pd.DataFrame({k: se[k].to_numpy() for k in ("USUBJID", "SESTDTC", "EPOCH")})
        return v.epoch_of_element(ctx.variables["USUBJID"], ctx.variables[date], table)
    return v.epoch_of_day(_study_day(ctx, date, reference), ctx.specs.study.visits)


def table_rows(ctx_or_specs: Any, table: str) -> list[Mapping[str, Any]]:
    """A study.yaml look-up table as rows: a list of mappings, or a mapping whose keys become the field `@key`."""
    specs = getattr(ctx_or_specs, "specs", ctx_or_specs)
    rows = specs.study.lookup(table)
    if isinstance(rows, Mapping):
        return [{"@key": k, **val} for k, val in rows.items() if isinstance(val, Mapping)]
    return list(rows)


def _lookup(ctx: Context, table: str, key: str, value: str, column: str | None = None, variable: str | None = None):
    values = ctx.column(column) if column else ctx.variables[variable]
    rows = table_rows(ctx, table)
    return v.lookup(values, {r[key]: _dig(r, value) for r in rows if _dig(r, value) is not None})


def _dig(row: Mapping[str, Any], dotted: str) -> Any:
    node: Any = row
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _aggregate(ctx: Context, how: str, ref: str | None = None, raw: str | None = None, order: str | None = None):
    source, values = _per_subject_source(ctx, ref or raw)
    ordered = _per_subject_source(ctx, order)[1] if order else None
    return v.per_subject(ctx.variables["USUBJID"], source, values, how, ordered)


def _dtc(ctx: Context, date: str, time: str | None = None) -> pd.Series:
    return v.iso8601(ctx.column(date), ctx.column(time) if time else None)


# name -> (signature, binding). `seq` is numbered by the engine once the records are sorted by the keys.
ALGORITHMS: dict[str, tuple[Signature, Callable[..., pd.Series] | None]] = {
    "assign": (Signature({"column": "column"}, "column"), lambda ctx, column: v.assign(ctx.column(column))),
    "assign_ct": (
        Signature({"column": "column", "recode": "value"}),
        lambda ctx, column, recode: v.recode(ctx.column(column), recode),
    ),
    "hardcode": (Signature({"value": "value"}, "value"), lambda ctx, value: v.hardcode(value, ctx.records.index)),
    "study": (
        Signature({"path": "study"}, "path"),
        lambda ctx, path: v.hardcode(ctx.specs.study.lookup(path), ctx.records.index),
    ),
    "dtc": (Signature({"date": "column", "time": "column"}, "date", frozenset({"time"})), _dtc),
    "usubjid": (Signature({}), lambda ctx: _usubjid(ctx)),
    "seq": (Signature({}), None),
    "copy": (Signature({"variable": "variable"}, "variable"), lambda ctx, variable: v.copy_of(ctx.variables[variable])),
    "flag": (
        Signature({"variable": "variable"}, "variable"),
        lambda ctx, variable: v.flag_present(ctx.variables[variable]),
    ),
    "lookup": (
        Signature(
            {"column": "column", "variable": "variable", "table": "study", "key": "value", "value": "value"},
            optional=frozenset({"column", "variable"}),
        ),
        _lookup,
    ),
    "aggregate": (
        Signature(
            {"ref": "ref", "raw": "raw", "how": "value", "order": "source"},
            optional=frozenset({"ref", "raw", "order"}),
        ),
        _aggregate,
    ),
    "study_day": (
        Signature({"date": "variable", "reference": "ref"}, "date", frozenset({"reference"})),
        _study_day,
    ),
    "epoch": (
        Signature(
            {"date": "variable", "reference": "ref", "elements": "domain"}, "date", frozenset({"reference", "elements"})
        ),
        _epoch,
    ),
    "number": (
        Signature({"variable": "variable"}, "variable"),
        lambda ctx, variable: v.to_number(ctx.variables[variable]),
    ),
    "template": (Signature({"text": "value", "parts": "steps"}, optional=frozenset({"parts"})), None),
}
SIGNATURES = {name: sig for name, (sig, _) in ALGORITHMS.items()}
AGGREGATES = {"min", "max", "first", "last", "join"}


def implicit_refs(step: Step) -> list[str]:
    """Other datasets' variables a step reads without naming them (the study-day reference)."""
    if step.algorithm == "epoch" and step.args.get("elements"):
        return [f"{step.args['elements']}.{v}" for v in ("SESTDTC", "EPOCH")]
    if step.algorithm in ("study_day", "epoch"):
        return [step.args.get("reference") or REFERENCE]
    return []


def holds(ctx: Context, when: tuple[Condition, ...]) -> pd.Series:
    """Where every condition of `when` holds."""
    mask = pd.Series(True, index=ctx.records.index)
    for c in when:
        values = ctx.column(c.name) if c.kind == "column" else ctx.variables[c.name]
        if c.present is not None:
            test = values.notna() if c.present else values.isna()
        elif c.isin is not None:
            test = values.isin(list(c.isin))
        elif c.in_from is not None:
            allowed = ctx.specs.study.lookup(c.in_from)
            test = values.isin(list(allowed.values()) if isinstance(allowed, Mapping) else list(allowed))
        else:
            target = ctx.specs.study.lookup(c.equals_from) if c.equals_from else c.equals
            test = values == target
        mask &= test.fillna(False).astype(bool)
    return mask

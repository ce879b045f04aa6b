"""The latest date of any record of the subject: the record's own `dates` (columns, optional) and every date or
datetime column of the raw files whose parent is the domain's raw file (after any cut)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.kernel.distinct import code_dtype, distinct_rows
from flows.kernel.keys import usubjid
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param
from flows.spec.model import DomainSpec, Specs


def last_dates_by_subject(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Latest date (YYYY-MM-DD) over `columns` per subject key. The columns' distinct dates are ranked once and the
    rows' ranks reduced per subject by their codes (worked out once in a shared_codes block): no text is grouped."""
    subjects = distinct_rows(frame, keys)
    found = [(c, distinct_rows(frame, [c])) for c in columns]
    days = [d.rows[c].str.slice(0, 10).reset_index(drop=True) for c, d in found]
    ranks, known = pd.factorize(pd.concat(days, ignore_index=True), sort=True)  # dates sort as text; null: -1
    latest, start = np.full(len(subjects.rows), -1, code_dtype(len(known))), 0
    for day, (_, distinct) in zip(days, found, strict=True):
        rank = ranks[start : start + len(day)].astype(latest.dtype)
        np.maximum.at(latest, subjects.codes, rank[distinct.codes])
        start += len(day)
    out = subjects.rows[keys].reset_index(drop=True)
    text = pd.Series(known, dtype="str").reindex(latest).reset_index(drop=True)  # -1: no date, null
    return out.assign(d=text)


def child_files(specs: Specs, parent: str | None) -> list[str]:
    """The raw files whose parent file is `parent` (None: the files of no parent): what last_contact reads."""
    return [name for name, contract in specs.raw.items() if contract.parent == parent]


def last_contact(ctx: Context, dates: list[str] | None = None) -> pd.Series:
    """Latest date of any record of the subject: the record's own `dates` and every date of the raw files whose
    parent is this domain's raw file (after any cut)."""
    specs, studyid = ctx.specs, ctx.specs.study.studyid
    subject = ctx.variables["USUBJID"]
    parts = [pd.DataFrame({"USUBJID": subject, "d": ctx.column(c).str.slice(0, 10)}) for c in dates or []]
    for name in child_files(specs, ctx.contract.name if ctx.contract else None):
        contract, frame = specs.raw[name], ctx.valid[name]
        cols = [c.name for c in contract.columns if c.type in ("date", "datetime")]
        if not cols or frame.empty:
            continue
        keys = contract.subject_columns
        last = last_dates_by_subject(frame, keys, cols)
        site = last[keys[0]] if len(keys) == 2 else None
        parts.append(pd.DataFrame({"USUBJID": usubjid(studyid, site, last[keys[-1]]), "d": last["d"]}))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.Series(pd.NA, index=subject.index, dtype="str")
    latest = pd.concat(parts).groupby("USUBJID")["d"].max()
    return subject.map(latest).astype("str")


def raw_reads(spec: DomainSpec, specs: Specs) -> list[str]:
    """The raw files whose parent is the domain's raw file."""
    own = spec.raw_sources[0] if spec.raw_sources else None  # the contract the records' subjects come from
    return child_files(specs, own if own in specs.raw else None)


DERIVATION = Operation(
    name="last_contact",
    doc=__doc__,
    example="RFPENDTC: [{dtc: eos_date}, {derivation: last_contact, dates: [consent_date]}]",
    params=(Param("dates", "columns", optional=True),),
    run=last_contact,
    variables=lambda spec, variable: ["USUBJID"],
    raw_reads=raw_reads,
)

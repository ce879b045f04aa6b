"""EPOCH of a date variable. With `elements: SE`, the epoch of the subject's own element (SE) that started last on
or before the date, as SDTMIG asks (null before the first element): a date-time is compared with the elements'
date-times (an event at 12:05 of an infusion from 11:52 to 12:30 is in its TREATMENT element), a date without a time
with their start dates (on a day two elements start, the later: the element the subject is in at the day's end).
Otherwise the epoch of the planned visit window (study.yaml `visits.schedule`) the record's
study day falls in (against DM.RFSTDTC or `reference`): the first epoch before every window or without a
reference date."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from flows.kernel.distinct import SMALL, distinct_rows
from flows.mapping.context import REFERENCE, Context
from flows.mapping.vocabulary import Operation, Param

ELEMENT_FIELDS = ("USUBJID", "SESTDTC", "EPOCH")


def epoch_of_day(day: pd.Series, schedule: Sequence[Mapping[str, Any]]) -> pd.Series:
    """EPOCH of each study day from the planned visits: the epoch of the last visit whose window opens on or
    before the day; the first visit's epoch when the day is unknown (no reference date) or before every window."""
    starts = np.array([v["window"][0] for v in schedule], dtype=float)
    epochs = np.array([v["epoch"] for v in schedule], dtype=object)
    order = np.argsort(starts, kind="stable")
    starts, epochs = starts[order], epochs[order]
    d = day.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    pos = np.searchsorted(starts, d, side="right") - 1
    first = schedule[0]["epoch"]
    picked = np.where(np.isnan(d) | (pos < 0), first, epochs[np.clip(pos, 0, None)])
    return pd.Series(picked, index=day.index, dtype="str")


def epoch_of_element(subject: pd.Series, dtc: pd.Series, elements: pd.DataFrame) -> pd.Series:
    """EPOCH of the subject's element (SE: USUBJID, SESTDTC, EPOCH) that started last on or before each date.

    A date-time is compared with the elements' date-times; a date without a time with their start dates (on a day
    several elements start, the last of them); null before the first element. Worked out once per distinct subject
    and date (on the records when there are few), on integers: every text compared ranked once (ISO 8601 values sort
    as text), each date against its subject's elements in turn (a subject has a few)."""
    frame = pd.DataFrame({"USUBJID": subject.array, "d": dtc.astype("str").array}, index=subject.index)
    pairs = distinct_rows(frame, ["USUBJID", "d"]) if len(frame) > SMALL else None
    u = (pairs.rows if pairs is not None else frame).reset_index(drop=True)
    el = elements.dropna(subset=["SESTDTC"]).reset_index(drop=True)
    start = el["SESTDTC"].astype("str")
    n, m = len(u), len(el)
    rank = pd.factorize(pd.concat([u["d"], start, start.str.slice(0, 10)], ignore_index=True), sort=True)[0]
    r_date, r_start, r_day = rank[:n], rank[n : n + m], rank[n + m :]
    who = pd.factorize(pd.concat([u["USUBJID"].astype("str"), el["USUBJID"].astype("str")], ignore_index=True))[0]
    by_subject = np.argsort(who[n:], kind="stable")  # each subject's elements together, in their order
    subjects = who[n:][by_subject]
    lo, hi = np.searchsorted(subjects, who[:n], "left"), np.searchsorted(subjects, who[:n], "right")
    short = (u["d"].str.len() == 10).fillna(False).to_numpy(bool)  # a date without a time: the start dates
    best, chosen = np.full(n, -1, np.int64), np.full(n, -1, np.intp)
    for k in range(int((hi - lo).max(initial=0))):
        rows = np.flatnonzero((r_date >= 0) & (lo + k < hi))
        e = by_subject[lo[rows] + k]
        opens = np.where(short[rows], r_day[e], r_start[e])
        later = (opens <= r_date[rows]) & (opens >= best[rows])  # on or before the date; equal starts: the later
        best[rows[later]], chosen[rows[later]] = opens[later], e[later]
    per_pair = pd.Series(el["EPOCH"].astype("str").array.take(chosen, allow_fill=True))
    return (pairs.expand(per_pair, subject.index) if pairs is not None else per_pair.set_axis(subject.index)).astype(
        "str"
    )


def epoch(ctx: Context, date: str, reference: str | None = None, elements: str | None = None) -> pd.Series:
    if elements:  # the subject's own elements (SE), as SDTMIG asks
        se = ctx.datasets[elements]
        table = pd.DataFrame({k: se[k].to_numpy() for k in ELEMENT_FIELDS})
        return epoch_of_element(ctx.variables["USUBJID"], ctx.variables[date], table)
    return epoch_of_day(ctx.study_days(date, reference), ctx.specs.study.visits)


def refs(args: Mapping[str, Any]) -> list[str]:
    """The elements' start and epoch, or the study-day reference."""
    if args.get("elements"):
        return [f"{args['elements']}.{v}" for v in ("SESTDTC", "EPOCH")]
    return [args.get("reference") or REFERENCE]


ALGORITHM = Operation(
    name="epoch",
    doc=__doc__,
    example="EPOCH: {epoch: EXSTDTC}\nEPOCH: {epoch: {date: AESTDTC, elements: SE}}",
    params=(
        Param("date", "variable"),
        Param("reference", "ref", optional=True),
        Param("elements", "domain", optional=True),
    ),
    primary="date",
    run=epoch,
    refs=refs,
)

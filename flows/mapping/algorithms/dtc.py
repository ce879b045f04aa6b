"""ISO 8601 --DTC from a date column (a partial date kept partial) and an optional time column (hh:mm[:ss]); the
time is appended to a complete date only. `date_only: true` keeps the date of a date-time column (a measurement
made that day, before the time the column records)."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def iso8601(date: pd.Series, time: pd.Series | None = None) -> pd.Series:
    """ISO 8601 --DTC from a date (full or partial, kept as it is) and an optional time of day (hh:mm[:ss]).

    The time is appended only to a complete date: a partial date cannot carry a time.
    """
    out = date.astype("str")
    if time is not None:
        joinable = out.str.len().eq(10).fillna(False) & time.notna()
        out = out.where(~joinable, out + "T" + time.astype("str"))
    return out


def dtc(ctx: Context, date: str, time: str | None = None, date_only: bool = False) -> pd.Series:
    out = iso8601(ctx.column(date), ctx.column(time) if time else None)
    return out.str.slice(0, 10) if date_only else out


ALGORITHM = Operation(
    name="dtc",
    doc=__doc__,
    example=(
        "EXSTDTC: {dtc: start}\nVSDTC: {dtc: {date: VSDAT, time: VSTIM}}\n"
        "VSDTC: {dtc: {date: start, date_only: true}}  # the weight the infusion's dose was computed with"
    ),
    params=(
        Param("date", "column", types=("date", "partial_date", "datetime")),
        Param("time", "column", optional=True),
        Param("date_only", "value", optional=True),
    ),
    primary="date",
    run=dtc,
    row_wise=True,
    plain=lambda args: not args.get("time") and not args.get("date_only"),  # a date alone is copied as it is
    collects="date",
    collects_also="time",
)

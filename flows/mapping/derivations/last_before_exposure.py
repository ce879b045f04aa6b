"""--LOBXFL: `Y` on each subject's last non-null result of each `test` dated (`date`) on or before the subject's
`reference` (DOMAIN.VAR, the first exposure); compared on the date-time where both hold a time (a measurement 4 h
after the infusion start is after it), else on the date, so an assessment dated the day of the first dose counts
as before it (pre-dose). Subjects never exposed get no flag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.kernel.distinct import distinct_rows, value_codes
from flows.mapping.context import Context
from flows.mapping.vectors import lookup_per_subject
from flows.mapping.vocabulary import Operation, Param


def last_before_exposure(ctx: Context, test: str, date: str, reference: str) -> pd.Series:
    """--LOBXFL: 'Y' on each subject's last non-null result of each test dated on or before the reference (first
    exposure); on the date-time where both have a time, else on the date (an assessment dated the day of the first
    dose counts as before it: pre-dose). Subjects never exposed get no flag. Dates are compared once per distinct
    subject and date."""
    source, ref = ctx.ref(reference)
    subject = ctx.variables["USUBJID"]
    frame = pd.DataFrame({"u": subject.array, "d": ctx.variables[date].astype("str").array}, index=subject.index)
    pairs = distinct_rows(frame, ["u", "d"])
    stamp = pairs.rows["d"].reset_index(drop=True)
    ref_stamp = lookup_per_subject(pairs.rows["u"], source, ref).astype("str").reset_index(drop=True)
    day, ref_day = stamp.str.slice(0, 10), ref_stamp.str.slice(0, 10)
    timed = (stamp.str.len().gt(10) & ref_stamp.str.len().gt(10)).fillna(False).astype(bool)
    on_or_before = (stamp <= ref_stamp).where(timed, day <= ref_day)
    before = (day.notna() & ref_day.notna() & on_or_before).fillna(False).to_numpy(bool)[pairs.codes]
    flag = pd.Series(pd.NA, index=subject.index, dtype="str")
    if not before.any():
        return flag
    rows = np.flatnonzero(before)
    u, _ = value_codes(subject)
    t, n_t = value_codes(ctx.variables[test])
    group = (u[rows].astype(np.int64) + 1) * (n_t + 1) + t[rows] + 1  # null is a value of its own
    day_rank = pd.factorize(stamp, sort=True)[0][pairs.codes[rows]]  # ISO 8601 date-times sort as text
    order = np.lexsort((day_rank, group))  # stable: equal dates keep record order
    last = np.ones(len(order), bool)
    last[:-1] = group[order][1:] != group[order][:-1]
    flag.iloc[rows[order[last]]] = "Y"
    return flag


DERIVATION = Operation(
    name="last_before_exposure",
    doc=__doc__,
    example="QSLOBXFL: {derivation: last_before_exposure, test: QSTESTCD, date: QSDTC, reference: DM.RFXSTDTC}",
    params=(Param("test", "variable"), Param("date", "variable"), Param("reference", "ref")),
    run=last_before_exposure,
)

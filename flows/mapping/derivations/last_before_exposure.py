"""--LOBXFL: `Y` on each subject's last non-null result of each `test` dated (`date`) on or before the subject's
`reference` (DOMAIN.VAR, the first exposure); compared on the date, so an assessment on the day of the first dose
counts as before it (pre-dose). Subjects never exposed get no flag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.kernel.distinct import distinct_rows, value_codes
from flows.mapping.context import Context
from flows.mapping.vectors import lookup_per_subject
from flows.mapping.vocabulary import Operation, Param


def last_before_exposure(ctx: Context, test: str, date: str, reference: str) -> pd.Series:
    """--LOBXFL: 'Y' on each subject's last non-null result of each test dated on or before the reference (first
    exposure); compared on the date, so an assessment on the day of the first dose counts as before it (pre-dose).
    Subjects never exposed get no flag. Dates are compared once per distinct subject and date."""
    source, ref = ctx.ref(reference)
    subject = ctx.variables["USUBJID"]
    frame = pd.DataFrame({"u": subject.array, "d": ctx.variables[date].astype("str").array}, index=subject.index)
    pairs = distinct_rows(frame, ["u", "d"])
    day = pairs.rows["d"].str.slice(0, 10).reset_index(drop=True)
    ref_day = lookup_per_subject(pairs.rows["u"], source, ref).str.slice(0, 10).reset_index(drop=True)
    before = (day.notna() & ref_day.notna() & (day <= ref_day)).fillna(False).to_numpy(bool)[pairs.codes]
    flag = pd.Series(pd.NA, index=subject.index, dtype="str")
    if not before.any():
        return flag
    rows = np.flatnonzero(before)
    u, _ = value_codes(subject)
    t, n_t = value_codes(ctx.variables[test])
    group = (u[rows].astype(np.int64) + 1) * (n_t + 1) + t[rows] + 1  # null is a value of its own
    day_rank = pd.factorize(day, sort=True)[0][pairs.codes[rows]]  # dates sort as text
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

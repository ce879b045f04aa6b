"""ADaM's relative day (ADY, ASTDY): days from the subject's `reference` (a ref, a numeric SAS date, ADSL.TRTSDT) to
the record's numeric SAS date `date`, plus one on or after it (no day 0); null when either is missing. admiral's
derive_vars_dy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vectors import values_per_subject
from flows.mapping.vocabulary import Operation, Param


def analysis_day(ctx: Context, date: str, reference: str) -> pd.Series:
    source, ref = ctx.ref(reference)
    start = values_per_subject(ctx.variables["USUBJID"], source, ref).astype("Int64")
    delta = ctx.variables[date].astype("Int64") - start
    return (delta + pd.Series(np.where(delta.fillna(-1) >= 0, 1, 0), index=delta.index)).astype("Int64")


DERIVATION = Operation(
    name="analysis_day",
    doc=__doc__,
    example="ADY: {derivation: analysis_day, date: ADT, reference: ADSL.TRTSDT}",
    params=(Param("date", "variable"), Param("reference", "ref")),
    run=analysis_day,
)

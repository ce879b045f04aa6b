"""CHG: `value` (AVAL) minus `base` (BASE) on the post-baseline records: with `day` (ADY), those after the day of the
first infusion (day 1 holds the pre-dose baseline); null where either is missing. admiral's derive_var_chg, restricted
to post-baseline records as its ad_advs template does (ADaMIG 1.3: CHG is for post-baseline records)."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def change(ctx: Context, value: str, base: str, day: str | None = None) -> pd.Series:
    v = ctx.variables
    diff = v[value].astype("Float64") - v[base].astype("Float64")
    if day:
        diff = diff.where((v[day].astype("Float64") > 1).fillna(False).astype(bool))
    return diff


DERIVATION = Operation(
    name="change",
    doc=__doc__,
    example="CHG: {derivation: change, value: AVAL, base: BASE, day: ADY}",
    params=(Param("value", "variable"), Param("base", "variable"), Param("day", "variable", optional=True)),
    run=change,
)

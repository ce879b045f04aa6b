"""PCHG: 100 x `change` (CHG) / `base` (BASE), rounded to `digits` decimals (default 2); null where the change is
null or the baseline is 0. admiral's derive_var_pchg."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def percent_change(ctx: Context, change: str, base: str, digits: int = 2) -> pd.Series:
    v = ctx.variables
    base_n = v[base].astype("Float64")
    return (100 * v[change].astype("Float64") / base_n.where(base_n != 0)).round(int(digits))


DERIVATION = Operation(
    name="percent_change",
    doc=__doc__,
    example="PCHG: {derivation: percent_change, change: CHG, base: BASE}",
    params=(Param("change", "variable"), Param("base", "variable"), Param("digits", "value", optional=True)),
    run=percent_change,
)

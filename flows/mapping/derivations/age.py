"""AGE: completed years from a birth date column to another date column (`at`, e.g. consent); a partial birth date
is imputed to the first day for this only."""

from __future__ import annotations

import pandas as pd

from flows.kernel.dates import completed_years, impute_first, parse_date
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def age(ctx: Context, birth: str, at: str) -> pd.Series:
    """Completed years from `birth` to `at`; a partial birth date is imputed to the first day for this only."""
    return completed_years(impute_first(ctx.column(birth)), parse_date(ctx.column(at)))


DERIVATION = Operation(
    name="age",
    doc=__doc__,
    example="AGE: {derivation: age, birth: birth_date, at: consent_date}",
    params=(Param("birth", "column"), Param("at", "column")),
    run=age,
)

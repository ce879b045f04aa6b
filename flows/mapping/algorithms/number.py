"""The numeric value of another variable's text (--STRESN from --STRESC); null where the text is not a number."""

from __future__ import annotations

import pandas as pd

from flows.kernel.distinct import per_value
from flows.mapping.vocabulary import Operation, Param


def to_number(values: pd.Series) -> pd.Series:
    """Numeric value of a text result (--STRESN from --STRESC); null where the text is not a number."""
    return per_value(lambda s: pd.to_numeric(s, errors="coerce").astype("Float64"))(values)


ALGORITHM = Operation(
    name="number",
    doc=__doc__,
    example="QSSTRESN: {number: QSSTRESC}",
    params=(Param("variable", "variable"),),
    primary="variable",
    run=lambda ctx, variable: to_number(ctx.variables[variable]),
)

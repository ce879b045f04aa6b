"""Another variable of the same record, unchanged."""

from __future__ import annotations

import pandas as pd

from flows.mapping.vocabulary import Operation, Param


def copy_of(values: pd.Series) -> pd.Series:
    """Another variable of the same record, unchanged."""
    return values.copy()


ALGORITHM = Operation(
    name="copy",
    doc=__doc__,
    example="RFSTDTC: {copy: RFXSTDTC}",
    params=(Param("variable", "variable"),),
    primary="variable",
    run=lambda ctx, variable: copy_of(ctx.variables[variable]),
)

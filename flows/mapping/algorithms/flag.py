"""`Y` where another variable of the record is populated, null elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.mapping.vocabulary import Operation, Param


def flag_present(values: pd.Series) -> pd.Series:
    """'Y' where the value is populated, null elsewhere (e.g. DTHFL from DTHDTC)."""
    return pd.Series(np.where(values.notna(), "Y", None), index=values.index, dtype="str")


ALGORITHM = Operation(
    name="flag",
    doc=__doc__,
    example="DTHFL: {flag: DTHDTC}",
    params=(Param("variable", "variable"),),
    primary="variable",
    run=lambda ctx, variable: flag_present(ctx.variables[variable]),
)

"""Whether a numeric variable holds whole numbers, decided once per dataset for every format: define.xml gives such a
variable DataType "integer", so Parquet, CSV and Dataset-JSON write it as an integer too."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.spec.model import DomainSpec


def holds_integers(col: pd.Series) -> bool:
    """True for an integer column, and for a float column whose present values are all whole (or none present),
    as define.xml's DataType "integer" says."""
    if pd.api.types.is_integer_dtype(col):
        return True
    present = col.dropna().astype("float64")
    return bool((present == np.floor(present)).all())


def whole_as_integers(frame: pd.DataFrame, spec: DomainSpec) -> pd.DataFrame:
    """The dataset with each Num variable held in a float column of whole numbers made a nullable integer column."""
    whole = [
        v.name
        for v in spec.variables
        if v.type == "Num" and pd.api.types.is_float_dtype(frame[v.name]) and holds_integers(frame[v.name])
    ]
    return frame.astype(dict.fromkeys(whole, "Int64")) if whole else frame

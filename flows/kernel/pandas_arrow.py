"""The one door to pandas' private Arrow API: the Arrow data behind a column, and a column of the same dtype from
Arrow data. Nothing else in flows/ names a private pandas attribute.

pandas keeps an Arrow-backed array's data as `ArrowExtensionArray._pa_array` (a pyarrow ChunkedArray) and builds an
array of the same dtype from Arrow data with `_from_pyarrow_array`, without a copy or a cast; neither is public.
tests/test_pandas_arrow.py checks both on the installed pandas, so that an upgrade that changes them fails there first.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa


def arrow_data(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow data of an Arrow-backed column (the same object as long as the column lives), else None."""
    data = getattr(values.array, "_pa_array", None)
    return data if isinstance(data, pa.ChunkedArray) else None


def text_from_arrow(like: pd.Series, data: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow data as an array of the same pandas dtype as the Arrow-backed column `like` (str stays str), no copy."""
    if isinstance(data, pa.Array):
        data = pa.chunked_array([data], type=data.type)
    return like.array._from_pyarrow_array(data)

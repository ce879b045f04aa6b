"""Arrow data and Arrow-backed pandas columns, through public API only: the Arrow data behind a column, and a column
of the same dtype from Arrow data, both without a copy.

The data come from the `__arrow_array__` protocol (pyarrow's, which pandas' Arrow-backed arrays implement): it hands
back the array's own ChunkedArray, the same object on every call, which the shared codes of flows/kernel/distinct.py
are keyed on (pa.array and pa.chunked_array of a column wrap or merge it anew). A column is built with pd.array and the
dtype of the column it stands beside (copy=False): for Arrow data pandas keeps the chunks and their buffers, and casts
only data of another string type (Arrow's take and filter may hand back `string`). tests/test_pandas_arrow.py checks
both, with the buffers' addresses, on the installed pandas and pyarrow.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa


def arrow_data(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow data of an Arrow-backed column (the same object as long as the column lives), else None."""
    if not isinstance(values.array, pd.arrays.ArrowExtensionArray):
        return None
    data = values.array.__arrow_array__()
    return data if isinstance(data, pa.ChunkedArray) else None


def text_from_arrow(like: pd.Series, data: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow data as an array of the same pandas dtype as the Arrow-backed column `like` (str stays str), no copy."""
    return text_of_dtype(like.dtype, data)


def text_of_dtype(dtype: object, data: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow data as an array of the Arrow-backed pandas `dtype` (e.g. str), no copy."""
    return pd.array(data, dtype=dtype, copy=False)

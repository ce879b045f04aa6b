"""Tests of flows/kernel/pandas_arrow.py: the private pandas API it wraps still behaves as flows/ relies on.

When one of these fails after an upgrade of pandas (or pyarrow), the failure names the versions the adapter was
checked with: adapt flows/kernel/pandas_arrow.py (the only place that names `_pa_array` or `_from_pyarrow_array`)
until these pass again, and nothing else in flows/ needs to change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flows.kernel.pandas_arrow import arrow_data, text_from_arrow
from tests import private_api

CHECKED_WITH = "pandas 3.1.1 and pyarrow 26.0.1 (Python 3.11)"
INSTALLED = f"pandas {pd.__version__} and pyarrow {pa.__version__}"


def relied_on(condition: bool, what: str) -> None:
    """Fail loudly, naming the versions, when pandas no longer behaves as the adapter relies on."""
    private_api.relied_on(
        condition, what, "pandas' private Arrow API", "flows/kernel/pandas_arrow.py", CHECKED_WITH, INSTALLED
    )


# the dtypes of text columns the pipeline meets: read's `str`, an explicit Arrow large_string, pandas' NA string
TEXT_DTYPES = {
    "str": "str",
    "large_string[pyarrow]": pd.ArrowDtype(pa.large_string()),
    "string[pyarrow]": pd.StringDtype("pyarrow"),
}


@pytest.fixture(params=list(TEXT_DTYPES))
def text(request) -> pd.Series:
    return pd.Series(["DL1", "DL2", None, "DL1"], dtype=TEXT_DTYPES[request.param])


def test_private_attributes_are_there(text):
    relied_on(hasattr(text.array, "_pa_array"), f"a {text.dtype} array has no `_pa_array`")
    relied_on(hasattr(text.array, "_from_pyarrow_array"), f"a {text.dtype} array has no `_from_pyarrow_array`")


def test_arrow_data_is_the_columns_own_chunked_array(text):
    data = arrow_data(text)
    relied_on(isinstance(data, pa.ChunkedArray), f"`_pa_array` of a {text.dtype} column is {type(data).__name__}")
    # the codes are remembered by the identity of the data: the same object on every call, the column's own memory
    relied_on(arrow_data(text) is data, "`_pa_array` is not the same object on each access")
    relied_on(data.to_pylist() == ["DL1", "DL2", None, "DL1"], "`_pa_array` does not hold the column's values")
    view = text.iloc[:]
    relied_on(
        arrow_data(view).chunks[0].buffers()[2].address == data.chunks[0].buffers()[2].address,
        "a slice of a column copies its Arrow data",
    )


def test_arrow_data_of_a_numpy_column_is_none():
    assert arrow_data(pd.Series([1, 2, 3])) is None
    assert arrow_data(pd.Series(["a", "b"], dtype=object)) is None
    assert arrow_data(pd.Series(pd.Categorical(["a", "b"]))) is None


def test_the_data_of_a_column_built_from_chunks_keep_their_chunks():
    block = pa.array(["S103"] * 3, pa.large_string())
    column = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([block, block, block.slice(0, 2)])))
    data = arrow_data(column)
    relied_on(data.num_chunks == 3, f"pandas merged the chunks of an ArrowStringArray ({data.num_chunks} left)")
    relied_on(
        len({c.buffers()[2].address for c in data.chunks}) == 1, "the chunks of an ArrowStringArray were copied apart"
    )


@pytest.mark.parametrize("as_chunked", [False, True], ids=["Array", "ChunkedArray"])
def test_text_from_arrow_round_trips_with_the_same_dtype(text, as_chunked):
    data = pa.array(["DL3", None, "DL1"], pa.large_string())
    made = text_from_arrow(text, pa.chunked_array([data]) if as_chunked else data)
    relied_on(made.dtype == text.dtype, f"`_from_pyarrow_array` on {text.dtype} made {made.dtype}")
    relied_on(type(made) is type(text.array), f"`_from_pyarrow_array` made a {type(made).__name__}")
    assert pd.Series(made).isna().tolist() == [False, True, False]
    assert pd.Series(made).iloc[[0, 2]].tolist() == ["DL3", "DL1"]
    relied_on(
        arrow_data(pd.Series(made, copy=False)).chunks[0].buffers()[2].address == data.buffers()[2].address,
        "`_from_pyarrow_array` copies the Arrow data",
    )


def test_text_from_arrow_keeps_repeated_chunks_as_one_block():
    """rows_where and constant_text rely on it: a constant column of ten million rows stays one block of memory."""
    block = pa.array(["a.csv"] * 4, pa.large_string())
    like = pd.Series(["x"], dtype="str")
    made = text_from_arrow(like, pa.chunked_array([block, block, block.slice(0, 1)]))
    data = arrow_data(pd.Series(made, copy=False))
    relied_on(data.num_chunks == 3, f"`_from_pyarrow_array` merged the chunks ({data.num_chunks} left)")
    relied_on(len({c.buffers()[2].address for c in data.chunks}) == 1, "`_from_pyarrow_array` copied the chunks")
    assert len(made) == 9 and set(pd.Series(made)) == {"a.csv"}


def test_text_from_arrow_casts_plain_strings_for_str_columns():
    """Arrow's take and filter may hand back `string` data: a str column's copy is still str, values unchanged."""
    like = pd.Series(["x"], dtype="str")
    made = text_from_arrow(like, pa.array(["b", "a"], pa.string()))
    relied_on(made.dtype == like.dtype, f"`_from_pyarrow_array` on string data made {made.dtype}")
    assert np.array_equal(pd.Series(made).to_numpy(), np.array(["b", "a"], dtype=object))

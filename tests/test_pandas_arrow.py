"""Tests of flows/kernel/pandas_arrow.py: the Arrow data of a column and a column from Arrow data, taken and made
with public pandas and pyarrow API, keep what flows/ relies on: the data's identity, their chunks and buffers (no
copy), the dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flows.kernel.pandas_arrow import arrow_data, text_from_arrow

# the dtypes of text columns the pipeline meets: read's `str`, an explicit Arrow large_string, pandas' NA string
TEXT_DTYPES = {
    "str": "str",
    "large_string[pyarrow]": pd.ArrowDtype(pa.large_string()),
    "string[pyarrow]": pd.StringDtype("pyarrow"),
}


def address(data: pa.Array | pa.ChunkedArray) -> int:
    """Where the text of Arrow string data (of its first chunk) lives."""
    return (data.chunks[0] if isinstance(data, pa.ChunkedArray) else data).buffers()[2].address


@pytest.fixture(params=list(TEXT_DTYPES))
def text(request) -> pd.Series:
    return pd.Series(["DL1", "DL2", None, "DL1"], dtype=TEXT_DTYPES[request.param])


def test_arrow_data_is_the_columns_own_chunked_array(text):
    data = arrow_data(text)
    assert isinstance(data, pa.ChunkedArray)
    # the codes are remembered by the identity of the data: the same object on every call, the column's own memory
    assert arrow_data(text) is data
    assert data.to_pylist() == ["DL1", "DL2", None, "DL1"]
    assert address(arrow_data(text.iloc[:])) == address(data), "a slice of a column copies its Arrow data"


def test_arrow_data_of_a_numpy_column_is_none():
    assert arrow_data(pd.Series([1, 2, 3])) is None
    assert arrow_data(pd.Series(["a", "b"], dtype=object)) is None
    assert arrow_data(pd.Series(pd.Categorical(["a", "b"]))) is None
    assert arrow_data(pd.Series([1, None], dtype="Int64")) is None  # a masked array speaks Arrow too, but copies


def test_the_data_of_a_column_built_from_chunks_keep_their_chunks():
    block = pa.array(["S103"] * 3, pa.large_string())
    data = arrow_data(pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([block, block, block.slice(0, 2)]))))
    assert data.num_chunks == 3
    assert {c.buffers()[2].address for c in data.chunks} == {block.buffers()[2].address}


@pytest.mark.parametrize("as_chunked", [False, True], ids=["Array", "ChunkedArray"])
def test_text_from_arrow_round_trips_with_the_same_dtype(text, as_chunked):
    data = pa.array(["DL3", None, "DL1"], pa.large_string())
    made = text_from_arrow(text, pa.chunked_array([data]) if as_chunked else data)
    assert made.dtype == text.dtype and str(made.dtype) == str(text.dtype)
    assert made.dtype.na_value is text.dtype.na_value  # str keeps NaN as its missing value, string keeps NA
    assert type(made) is type(text.array)
    assert pd.Series(made).isna().tolist() == [False, True, False]
    assert pd.Series(made).iloc[[0, 2]].tolist() == ["DL3", "DL1"]
    assert address(arrow_data(pd.Series(made, copy=False))) == address(data), "the Arrow data were copied"


def test_text_from_arrow_keeps_repeated_chunks_as_one_block():
    """rows_where and constant_text rely on it: a constant column of ten million rows stays one block of memory."""
    block = pa.array(["a.csv"] * 4, pa.large_string())
    made = text_from_arrow(pd.Series(["x"], dtype="str"), pa.chunked_array([block, block, block.slice(0, 1)]))
    data = arrow_data(pd.Series(made, copy=False))
    assert data.num_chunks == 3, "the chunks were merged"
    assert {c.buffers()[2].address for c in data.chunks} == {block.buffers()[2].address}, "the chunks were copied"
    assert len(made) == 9 and set(pd.Series(made)) == {"a.csv"}


def test_text_from_arrow_casts_plain_strings_for_str_columns():
    """Arrow's take and filter may hand back `string` data: a str column's copy is still str, values unchanged."""
    like = pd.Series(["x"], dtype="str")
    made = text_from_arrow(like, pa.array(["b", None, "a"], pa.string()))
    assert made.dtype == like.dtype and type(made) is type(like.array)
    assert arrow_data(pd.Series(made, copy=False)).type == pa.large_string()
    shown = pd.Series(made).to_numpy()
    assert shown.dtype == object and shown[[0, 2]].tolist() == ["b", "a"] and np.isnan(shown[1])

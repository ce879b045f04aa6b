"""Files of one record per row (CSV lines, Dataset-JSON rows, XPT records), written from Arrow a block at a time.

Each column is rendered once per distinct value (`column_tokens`); a block of rows then takes its tokens by code,
joins them in C and goes to the file straight from Arrow's buffer, so no Python string per row is ever made and
the memory held is one block's, not the file's. Adjacent columns with few combinations of values are joined once
per combination (`_grouped`), so a block joins a few wide tokens rather than many narrow ones, and inside
`shared_distinct` the writers of one dataset share each column's distinct values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.distinct import SMALL, distinct_rows

BLOCK = 1 << 16  # rows joined at a time: a few MB of text (four times more held twice the write's memory, no faster)
GROUP = 1 << 16  # largest number of value combinations of adjacent columns whose tokens are joined beforehand

_SHARED: ContextVar[dict | None] = ContextVar("flows.transfer.writers.lines shared distinct values", default=None)


@contextmanager
def shared_distinct() -> Iterator[None]:
    """Inside the block a column's distinct values are worked out once, however many writers read it. Columns are
    known by name, length and type: the block must hold the writing of one frame only."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


@dataclass(frozen=True)
class Tokens:
    """A column as text: the token of each distinct value, and for each row the position of its token."""

    values: pa.Array  # large_string, no nulls
    codes: np.ndarray

    def block(self, start: int, stop: int) -> pa.Array:
        return self.values.take(pa.array(self.codes[start:stop]))


@dataclass(frozen=True)
class RowTokens:
    """A column rendered a block of rows at a time, for values that seldom repeat (line numbers, sequences)."""

    column: pa.ChunkedArray
    render: Callable[[pa.Array], pa.Array]  # element-wise, large_string out, no nulls

    def block(self, start: int, stop: int) -> pa.Array:
        return self.render(self.column.slice(start, stop - start).combine_chunks()).cast(pa.large_string())


def _bit_keys(col: pd.Series) -> pd.Series | None:
    """A numeric column's values as int64 bit patterns (null where missing): equal keys, equal values, -0.0 and 0.0
    kept apart (which pandas' factorize would merge). None for a column of any other kind."""
    if not (pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col)):
        return None
    dtype = np.float64 if pd.api.types.is_float_dtype(col) else np.int64
    mask = col.isna().to_numpy()
    bits = col.to_numpy(dtype=dtype, na_value=0).view(np.int64)
    return pd.Series(pd.arrays.IntegerArray(bits, mask))


def column_tokens(col: pd.Series, render: Callable[[pd.Series], Sequence[str] | pa.Array | pa.ChunkedArray]) -> Tokens:
    """`render` (values in, one token each out, element-wise) run on the column's distinct values only."""
    keys = None if len(col) <= SMALL else _bit_keys(col)  # a small column: rendered row by row, cheaper
    if len(col) <= SMALL or (keys is None and not isinstance(col.array, pd.arrays.ArrowExtensionArray)):  # 1 == True
        return Tokens(_as_tokens(render(col)), np.arange(len(col)))
    shared, key = _SHARED.get(), (col.name, len(col), str(col.dtype))
    distinct = shared.get(key) if shared is not None else None
    if distinct is None:
        keys = col.reset_index(drop=True) if keys is None else keys  # Arrow text: its own values are the keys
        distinct = distinct_rows(keys.to_frame("k"), ["k"])
        if shared is not None:
            shared[key] = distinct
    values = col.iloc[distinct.rows.index.to_numpy()]  # the keys' labels are row positions
    return Tokens(_as_tokens(render(values)), distinct.codes)


def _pair(a: Tokens, b: Tokens, sep: pa.Scalar) -> Tokens:
    """Two adjacent columns as one: a token per combination of their values (present or not), joined by `sep`."""
    na, nb = len(a.values), len(b.values)
    left = a.values.take(pa.array(np.repeat(np.arange(na), nb)))
    right = b.values.take(pa.array(np.tile(np.arange(nb), na)))
    codes = a.codes.astype(_code_type(na * nb))
    codes *= nb
    codes += b.codes
    return Tokens(pc.binary_join_element_wise(left, right, sep), codes)


def _code_type(space: int) -> type:
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if space <= np.iinfo(t).max)


def _grouped(columns: Sequence[Tokens | RowTokens], sep: pa.Scalar) -> list[Tokens | RowTokens]:
    """Adjacent columns paired while their combinations are fewer than GROUP and than the rows (a small frame's
    tokens are one per row: pairing them would join rows x rows tokens to save joining rows)."""
    out: list[Tokens | RowTokens] = []
    for column in columns:
        last = out[-1] if out else None
        if (
            isinstance(column, Tokens)
            and isinstance(last, Tokens)
            and len(last.values) * len(column.values) <= min(GROUP, len(column.codes))
        ):
            out[-1] = _pair(last, column, sep)
        else:
            out.append(column)
    return out


def _as_tokens(tokens: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text as large_string, bytes as large_binary: the types a block's tokens are joined in."""
    if isinstance(tokens, pa.ChunkedArray):  # what pa.array gives for pandas data held in several chunks
        tokens = tokens.combine_chunks()
    if not isinstance(tokens, pa.Array):
        return pa.array(list(tokens), pa.large_string())
    binary = pa.types.is_binary(tokens.type) or pa.types.is_large_binary(tokens.type)
    return tokens.cast(pa.large_binary() if binary else pa.large_string())


def _body(joined: pa.Array) -> memoryview:
    """The bytes of a large_string or large_binary array end to end, without a copy."""
    offsets = np.frombuffer(joined.buffers()[1], np.int64, count=len(joined) + 1, offset=8 * joined.offset)
    return memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]] if len(joined) else memoryview(b"")


def _around(column: Tokens, before: pa.Scalar, after: pa.Scalar, empty: pa.Scalar) -> Tokens:
    """The column with `before` and `after` put around each of its tokens."""
    return Tokens(pc.binary_join_element_wise(before, column.values, after, empty), column.codes)


def write_rows(
    fh: BinaryIO,
    columns: Sequence[Tokens | RowTokens],
    rows: int,
    sep: str,
    before: str = "",
    after: str = "",
    trim: int = 0,
) -> None:
    """Each row as `before` + its tokens joined by `sep` + `after`, all rows end to end, the last `trim` bytes of
    the whole dropped (a separator after the last row). Tokens are all text (large_string) or all bytes
    (large_binary)."""
    kind = next((c.values.type for c in columns if isinstance(c, Tokens)), pa.large_string())
    text = {s: pa.scalar(s.encode("utf-8"), kind) for s in (sep, before, after, "")}
    columns = list(columns)
    if before and columns and isinstance(columns[0], Tokens):  # joined once to each distinct value, not each row
        columns[0], before = _around(columns[0], text[before], text[""], text[""]), ""
    if after and columns and isinstance(columns[-1], Tokens):
        columns[-1], after = _around(columns[-1], text[""], text[after], text[""]), ""
    columns = _grouped(columns, text[sep])
    for start in range(0, rows, BLOCK):
        stop = min(start + BLOCK, rows)
        parts = [c.block(start, stop) for c in columns]
        if before:  # joined to the first column alone: cheaper than a second pass over whole rows
            parts[0] = pc.binary_join_element_wise(text[before], parts[0], text[""])
        if after:
            parts[-1] = pc.binary_join_element_wise(parts[-1], text[after], text[""])
        joined = pc.binary_join_element_wise(*parts, text[sep]) if len(parts) > 1 else parts[0]
        body = _body(joined)
        fh.write(body[: len(body) - trim] if stop == rows else body)


def _widths(columns: Sequence[Tokens]) -> list[int] | None:
    """The width in bytes of each column's tokens when every token of a column has one width, else None."""
    widths = []
    for column in columns:
        values = column.values
        offsets = np.frombuffer(values.buffers()[1], np.int64, count=len(values) + 1, offset=8 * values.offset)
        sizes = np.diff(offsets)
        if not len(sizes) or sizes.min() != sizes.max() or sizes[0] == 0:
            return None
        widths.append(int(sizes[0]))
    return widths


def write_records(fh: BinaryIO, columns: Sequence[Tokens], rows: int) -> None:
    """Each row as its tokens end to end, all rows end to end (write_rows with no separator), for tokens of one
    width per column (bytes, large_binary: XPT records): a block of records is laid out by numpy in one buffer,
    each column copied to its place by code, rather than taken and joined by Arrow."""
    columns = _grouped(columns, pa.scalar(b"", pa.large_binary()))
    widths = _widths(columns) if all(isinstance(c, Tokens) for c in columns) else None
    if widths is None:
        write_rows(fh, columns, rows, "")
        return
    starts = np.cumsum([0, *widths])
    record = np.dtype(
        {
            "names": [f"c{i}" for i in range(len(widths))],
            "formats": [f"V{w}" for w in widths],
            "offsets": [int(x) for x in starts[:-1]],
            "itemsize": int(starts[-1]),
        }
    )
    tables = [np.frombuffer(_body(c.values), f"V{w}") for c, w in zip(columns, widths, strict=True)]
    buffer = np.empty(min(BLOCK, rows), record)
    for start in range(0, rows, BLOCK):
        stop = min(start + BLOCK, rows)
        block = buffer[: stop - start]
        for name, table, column in zip(record.names, tables, columns, strict=True):
            block[name] = table[column.codes[start:stop]]
        fh.write(memoryview(block).cast("B"))

"""Evaluate per-row functions once per distinct value or combination and broadcast the answers back.

Raw columns repeat a few values millions of times (site, visit, item, result, dates): a check or rule that depends
only on the values of its own row gives the same answer for equal rows, so it runs on the distinct rows only.
Codes are the smallest integers that fit, and combined in place: at ten million rows every temporary array counts.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.pandas_arrow import arrow_data, text_from_arrow

LOOKUP_LIMIT = 1 << 24  # largest code space compacted with a lookup table (a few bytes per code), not by hashing


_SHARED: ContextVar[dict | None] = ContextVar("flows.kernel.distinct shared codes", default=None)


def code_dtype(space: int, least: type = np.int8) -> type:
    """The smallest signed integer type (at least `least`) holding -1 to space."""
    fits = next(t for t in (np.int8, np.int16, np.int32, np.int64) if space < np.iinfo(t).max)
    return np.result_type(fits, least).type


@contextmanager
def shared_codes(memo: dict | None = None) -> Iterator[None]:
    """Inside the block, the codes of a text column are worked out once, however many checks read the column.

    A block inside another shares the outer one's codes; `memo` resumes an earlier block (a dict that one was
    given): what it worked out of data still alive serves again. Codes are forgotten with their column's data."""
    outer = _SHARED.get()
    token = _SHARED.set(memo if memo is not None else {} if outer is None else outer)
    try:
        yield
    finally:
        _SHARED.reset(token)


def _recall(values: pd.Series, kind: object) -> tuple | None:
    """What was worked out of a column's data (its codes, its distinct rows) in the current shared_codes block."""
    shared, data = _SHARED.get(), arrow_data(values)
    entry = shared.get((kind, id(data))) if shared is not None and data is not None else None
    return entry[1:] if entry is not None and entry[0]() is data else None


def _remember(values: pd.Series, kind: object, *facts: object) -> None:
    """Keep facts of a column's data for the current shared_codes block, as long as the data live."""
    shared, data = _SHARED.get(), arrow_data(values)
    if shared is None or data is None:
        return
    key = (kind, id(data))

    def forget(ref: weakref.ref) -> None:  # the data are gone: their id may be reused
        if (entry := shared.get(key)) is not None and entry[0] is ref:
            del shared[key]

    shared[key] = (weakref.ref(data, forget), *facts)


def _known(values: pd.Series) -> tuple[np.ndarray, int] | None:
    """The codes of a column's data, if they were worked out in the current shared_codes block."""
    return _recall(values, "codes")


def remember_codes(values: pd.Series, codes: np.ndarray, n: int) -> None:
    """Record the codes of a column's data (as value_codes would give them) for the current shared_codes block."""
    _remember(values, "codes", codes, n)


def _repeated(chunk: pa.Array, n: int) -> pa.ChunkedArray:
    """n values of `chunk` repeated whole (the last one cut short): every chunk is the one block of memory."""
    block = len(chunk)
    if not block:
        return pa.chunked_array([chunk], type=chunk.type)
    chunks = [chunk] * (n // block) + ([chunk.slice(0, n % block)] if n % block else [])
    return pa.chunked_array(chunks, type=chunk.type)


def constant_text(value: str, n: int, block: int = 1 << 16) -> pd.api.extensions.ExtensionArray:
    """A text column of `value` n times whose chunks are all one Arrow array: a block of memory, not n copies."""
    return _repeated(pa.repeat(pa.scalar(value, pa.large_string()), min(n, block)), n).to_pandas().array


def as_constant_text(values: pd.Series, block: int = 1 << 16) -> pd.Series:
    """A text column that holds one value on every row (never null), e.g. the site of a one-site study, as
    constant_text: one block of memory instead of a copy per row; any other column as it is. A column whose first
    block holds several values is answered from that block alone."""
    data = arrow_data(values)
    if data is None or len(values) <= 2 * block or data.null_count or _constant_block(data) is not None:
        return values
    if not isinstance(values.array, pd.arrays.ArrowStringArray) or pc.count_distinct(data.slice(0, block)).as_py() > 1:
        return values
    value = data[0]
    if not pc.all(pc.equal(data, value)).as_py():  # a comparison with the one value: faster than min and max
        return values
    return pd.Series(constant_text(value.as_py(), len(values), block), index=values.index, name=values.name)


def _constant_block(data: pa.ChunkedArray | None) -> pa.Array | None:
    """The block of a column made by constant_text (one value, not null, in one block repeated), else None."""
    if data is None or not _one_block(data):
        return None
    block = data.chunks[0]
    return block if not block.null_count and pc.count_distinct(block).as_py() == 1 else None


def _one_block(data: pa.ChunkedArray) -> bool:
    """Whether every chunk is the same Arrow array, the last one maybe cut short (see constant_text)."""
    if data.num_chunks < 2:
        return False
    first = data.chunks[0]
    same = [b.address if b is not None else None for b in first.buffers()]
    return all(
        c.offset == first.offset
        and [b.address if b is not None else None for b in c.buffers()] == same
        and (len(c) == len(first) if i < data.num_chunks - 1 else len(c) <= len(first))
        for i, c in enumerate(data.chunks)
    )


def value_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Integer code of each value (0 to n - 1 for the n distinct values, -1 where null) and n; every code is used.

    The codes may be shared with other callers (see shared_codes): never change them in place.
    """
    if not len(values):
        return np.empty(0, np.int8), 0
    if not isinstance(values.array, pd.arrays.ArrowExtensionArray):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return codes.astype(code_dtype(len(uniques))), len(uniques)
    # Arrow data never change, so the same data object (see arrow_data) has the same codes.
    if (known := _known(values)) is not None:
        return known
    data = arrow_data(values)
    if data is not None and _one_block(data):  # one block repeated: its codes, repeated
        block, n = value_codes(pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([data.chunks[0]]))))
        codes = np.resize(block, len(values))
        remember_codes(values, codes, n)
        return codes, n
    codes, uniques = encoded(pa.chunked_array(pa.array(values.array)))
    remember_codes(values, codes, len(uniques))
    return codes, len(uniques)


def encoded(data: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Arrow data dictionary-encoded: the code of each value (-1 where null) in the smallest integer type, numbered
    in order of first appearance, and the distinct values (the dictionary) that the codes index."""
    chunks = pc.dictionary_encode(data).chunks  # one dictionary for every chunk
    uniques = chunks[-1].dictionary if chunks else pa.array([], type=data.type)
    codes, start = np.empty(len(data), code_dtype(len(uniques))), 0
    for chunk in chunks:  # copied chunk by chunk into the small integer type, with no wider temporary
        indices = pc.fill_null(chunk.indices, -1) if chunk.null_count else chunk.indices
        codes[start : start + len(chunk)] = indices.to_numpy()
        start += len(chunk)
    return codes, uniques


def _values_at(data: pa.ChunkedArray, positions: np.ndarray) -> pa.Array:
    """data[positions] as one array, chunk by chunk (Arrow's take from many chunks is slow for a few positions)."""
    ends = np.cumsum([len(c) for c in data.chunks])
    chunk_of = np.searchsorted(ends, positions, side="right")
    parts, where = [], []
    for c in np.unique(chunk_of):
        at = np.flatnonzero(chunk_of == c)
        start = ends[c] - len(data.chunk(c))
        parts.append(data.chunk(c).take(pa.array(positions[at] - start)))
        where.append(at)
    if not parts:
        return pa.array([], type=data.type)
    back = np.empty(len(positions), np.intp)
    back[np.concatenate(where)] = np.arange(len(positions))
    return pa.concat_arrays(parts).take(pa.array(back))


def take_rows(frame: pd.DataFrame, order: np.ndarray, consume: bool = False) -> pd.DataFrame:
    """frame.iloc[order] for a permutation `order` of its rows, index reset. A column of one value is kept as it is
    (any order of it is itself; a column of constant_text stays its one block of memory), and the codes known of a
    column carry over to its reordered copy. With `consume`, each column leaves `frame` once taken, so that its
    memory goes as its copy comes (when nothing else holds it)."""
    out, names = {}, frame.columns
    if consume and not names.is_unique:
        raise ValueError(f"take_rows: duplicate columns {names[names.duplicated()].tolist()}")
    for i in range(len(names)):
        col = frame[names[i]] if consume else frame.iloc[:, i]
        if consume:
            del frame[names[i]]
        known = _known(col)
        if known is not None and known[1] == 1 and (not len(col) or known[0].min() >= 0):
            out[i] = col.array  # one value, never null
            continue
        if known is None and _constant_block(arrow_data(col)) is not None:  # constant_text's block: kept, not copied
            out[i] = col.array
            continue
        if known is None:
            out[i] = col.array.take(order)
            continue
        codes = known[0][order]
        if isinstance(col.array, pd.arrays.ArrowStringArray):  # built from the few distinct values: no random reads
            uniques = _values_at(arrow_data(col), representatives(known[0], known[1]))
            indices = pa.array(codes, mask=codes < 0) if len(codes) and codes.min() < 0 else pa.array(codes)
            out[i] = text_from_arrow(col, uniques.take(indices))
        else:
            out[i] = col.array.take(order)
        remember_codes(pd.Series(out[i], copy=False), codes, known[1])
    taken = pd.DataFrame(out, copy=False)
    taken.columns = names
    return taken


def _by_lookup(space: int, rows: int) -> bool:
    """Whether a table over the code space is cheaper than hashing the rows' codes."""
    return space <= max(1 << 16, min(8 * rows, LOOKUP_LIMIT))


def _compact(combined: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Dense codes 0 to m - 1 for the m distinct values of `combined` (all in range(space))."""
    if _by_lookup(space, len(combined)):
        present = np.zeros(space, bool)
        present[combined] = True
        dense = np.cumsum(present, dtype=code_dtype(space, np.int32))
        dense -= 1
        return dense[combined], int(dense[-1]) + 1
    codes, uniques = pd.factorize(combined)
    return codes.astype(code_dtype(len(uniques), np.int32)), len(uniques)


def combined_codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
    """One code per row for the combination of values in `columns` (null counts as a value), and the code space."""
    combined, space = np.zeros(len(frame), np.int32), 1
    for col in columns:
        codes, n = value_codes(frame[col])
        if not _by_lookup(space * (n + 1), len(frame)):  # keep the space small: compact what is combined so far
            combined, space = _compact(combined, space)
        space *= n + 1
        combined = combined.astype(code_dtype(space, np.int32), copy=False)
        combined *= n + 1  # in place: no room for many temporaries
        combined += codes
        combined += 1
    return combined, space


def duplicated(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """True for every row whose combination of `columns` occurs more than once (like keep=False)."""
    combined, space = combined_codes(frame, columns)
    if space <= max(LOOKUP_LIMIT, 8 * len(frame)):  # the common case, no duplicate at all, answered by a bitmap
        present = np.zeros(space, bool)
        present[combined] = True
        if np.count_nonzero(present) == len(frame):
            return np.zeros(len(frame), bool)
    return pd.Series(combined).duplicated(keep=False).to_numpy()


@dataclass(frozen=True)
class Distinct:
    """The distinct rows of some columns of a frame and, for each row of the frame, which of them it equals."""

    rows: pd.DataFrame  # one representative row per distinct combination, with its index label
    codes: np.ndarray  # for each row of the frame, its position in `rows`

    def expand(self, values: pd.Series | np.ndarray, index: pd.Index) -> pd.Series:
        """Per-distinct-row values (in the order of `rows`) as a Series over the whole frame's index."""
        series = values if isinstance(values, pd.Series) else pd.Series(values)
        if isinstance(series.dtype, np.dtype):  # numpy indexes with small codes as they are; pandas would widen them
            return pd.Series(series.to_numpy()[self.codes], index=index, name=series.name)
        series = series.reset_index(drop=True)
        out = series.take(self.codes)
        out.index = index
        if _SHARED.get() is not None and arrow_data(out) is not None:  # its codes follow from the distinct rows'
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            remember_codes(out, codes.astype(code_dtype(len(uniques)))[self.codes], len(uniques))
        return out


def representatives(codes: np.ndarray, n: int, block: int = 1 << 20) -> np.ndarray:
    """For each of the n codes, the position of the first row that has it; a negative code (null) is no code.
    Codes numbered in order of first appearance (as value_codes numbers them) get increasing positions."""
    out = np.full(n, -1, np.intp)
    for start in range(0, len(codes), block):  # by blocks: one arange the length of the frame would cost 8 bytes a row
        part = codes[start : start + block]
        found = np.flatnonzero(part >= 0) if part.min() < 0 else np.arange(len(part))
        first = np.full(n, -1, np.intp)
        first[part[found[::-1]]] = found[::-1] + start  # the last write wins: the first row of the block
        new = (out < 0) & (first >= 0)
        out[new] = first[new]
        if not n or out.min() >= 0:  # every code seen: values repeated over millions of rows stop at the first block
            break
    return out


def distinct_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Distinct:
    """The distinct combinations of `columns` in frame, each with the label of one row that has it.

    Of text columns, they are worked out once in a shared_codes block (several checks and steps read the same)."""
    datas = [arrow_data(frame[c]) for c in columns]
    kind = ("distinct", *(id(d) for d in datas[1:])) if columns and all(d is not None for d in datas) else None
    known = _recall(frame[columns[0]], kind) if kind else None
    if known is not None and all(ref() is d for ref, d in zip(known[2], datas[1:], strict=True)):
        positions, codes, _ = known
        return Distinct(_rows_at(frame, columns, datas, positions), codes)
    if len(columns) == 1:  # a column's codes are dense already (null, if any, as one more code)
        codes, n = value_codes(frame[columns[0]])
        if len(codes) and codes.min() < 0:
            codes, n = (codes + 1).astype(code_dtype(n + 1), copy=False), n + 1
    else:
        codes, n = _compact(*combined_codes(frame, columns))
        codes = codes.astype(code_dtype(n), copy=False)  # a few combinations: a byte a row, not four
    representative = representatives(codes, n)
    positions = np.sort(representative)
    rows = _rows_at(frame, columns, datas, positions)
    if n and (np.diff(representative) > 0).all():  # codes already in frame order (a column's): no renumbering
        distinct = Distinct(rows, codes)
    else:
        rank = np.empty(n, codes.dtype)  # rows come out in frame order: renumber the codes to match
        rank[np.argsort(representative)] = np.arange(n, dtype=codes.dtype)
        distinct = Distinct(rows, rank[codes])
    if kind:  # kept for the next caller, while the first column's data live (the others checked when used)
        others = [weakref.ref(d) for d in datas[1:]]
        _remember(frame[columns[0]], kind, positions, distinct.codes, others)
    return distinct


def _by_position(data: pa.ChunkedArray | None, positions: np.ndarray) -> bool:
    """Whether taking the rows chunk by chunk (about 15 us a chunk) beats filtering the whole column (about 1 ns a
    row): few chunks hold the positions."""
    if data is None:
        return False
    ends = np.cumsum([len(c) for c in data.chunks])
    chunk_of = np.searchsorted(ends, positions, side="right")
    hits = 1 + int(np.count_nonzero(np.diff(chunk_of))) if len(positions) else 0
    return hits * 20_000 <= len(data)


def _rows_at(
    frame: pd.DataFrame, columns: Sequence[str], datas: list[pa.ChunkedArray | None], positions: np.ndarray
) -> pd.DataFrame:
    """frame[columns] at the (sorted) row positions: text picked out of the chunks that hold them when they are few,
    else each column filtered through a mask (no codes carried: the rows are a few representatives)."""
    keep, arrays = None, []
    for c, data in zip(columns, datas, strict=True):
        values = frame[c]
        if isinstance(values.array, pd.arrays.ArrowStringArray) and _by_position(data, positions):
            arrays.append(text_from_arrow(values, _values_at(data, positions)))
            continue
        if keep is None:
            keep = np.zeros(len(frame), bool)
            keep[positions] = True
        arrays.append(values.array[keep])
    rows = pd.DataFrame(dict(enumerate(arrays)), index=frame.index[positions], copy=False)
    rows.columns = list(columns)
    return rows


def kept_codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes of some rows of a column, renumbered so that every code is used again (a value no row kept is gone),
    in the same order; and which of the n codes are still used (None: all of them)."""
    used = np.zeros(n + 1, bool)
    used[codes + 1] = True  # null (-1) at 0; the code type holds n
    if used[1:].all():
        return codes, None
    rank = (np.cumsum(used[1:]) - 1).astype(codes.dtype)
    return np.where(codes >= 0, rank[codes], codes).astype(codes.dtype, copy=False), used[1:]


def _kept_codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    kept, used = kept_codes(codes, n)
    return kept, n if used is None else int(used.sum())


def rows_where(frame: pd.DataFrame, mask: np.ndarray | pd.Series) -> pd.DataFrame:
    """frame.loc[mask] for a boolean mask, filtering column by column.

    pandas selects rows by position, and Arrow takes by position from a column in many chunks by first copying it
    into one: for a ten-million-row text column that is a copy of the whole column. A filter works chunk by chunk.
    """
    keep = np.asarray(mask, dtype=bool)
    if not keep.any():  # the usual case for a reject mask: nothing to filter
        return frame.iloc[:0]
    kept = int(np.count_nonzero(keep))

    def filtered(values: pd.Series) -> pd.api.extensions.ExtensionArray:
        if (block := _constant_block(arrow_data(values))) is not None:  # a constant stays one block of memory
            return text_from_arrow(values, _repeated(block, kept))
        return values.array[keep]

    out = pd.DataFrame(
        {i: filtered(frame.iloc[:, i]) for i in range(frame.shape[1])}, index=frame.index[keep], copy=False
    )
    for i in range(frame.shape[1]):  # the codes known of a column carry over to its filtered copy
        if (known := _known(frame.iloc[:, i])) is not None:
            remember_codes(out.iloc[:, i], *_kept_codes(known[0][keep], known[1]))
    out.columns = frame.columns
    return out


SMALL = 4096  # below this many rows an element-wise function runs on the rows: finding distinct values costs more


def distinct_values(values: pd.Series) -> Distinct | None:
    """The distinct values (null included) of a column longer than SMALL; None for a small one, used as it is."""
    if len(values) <= SMALL:
        return None
    return distinct_rows(values.to_frame(), [values.name if values.name is not None else 0])  # to_frame's name


def per_value(check: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """An element-wise Series function that runs once per distinct value (null included) of its argument."""

    def run(values: pd.Series) -> pd.Series:
        distinct = distinct_values(values)
        if distinct is None:
            return check(values)
        return distinct.expand(check(distinct.rows.iloc[:, 0]), values.index)

    return run


def per_value_check(check: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], bool | pd.Series]:
    """A pandera check run once per distinct value: True when every value passes (no answer per row to build),
    else the answer of every row, so that the failing rows are reported."""

    def run(values: pd.Series) -> bool | pd.Series:
        distinct = distinct_values(values)
        ok = check(values if distinct is None else distinct.rows.iloc[:, 0])
        if bool(np.asarray(pd.Series(ok).fillna(False), dtype=bool).all()):  # a null answer is no pass
            return True
        return ok if distinct is None else distinct.expand(ok, values.index)

    return run

"""Evaluate per-row functions once per distinct value or combination and broadcast the answers back.

Raw columns repeat a few values millions of times (site, visit, item, result, dates): a check or rule that depends
only on the values of its own row gives the same answer for equal rows, so it runs on the distinct rows only.
Codes are int32 while they fit, and combined in place: at ten million rows every temporary array counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LOOKUP_LIMIT = 1 << 24  # code spaces up to this (or the row count) are compacted with a lookup table, larger by hashing


def _code_dtype(space: int) -> type:
    return np.int32 if space < 2**31 else np.int64


def value_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Integer code of each value (0 to n - 1 for the n distinct values, -1 where null) and n; every code is used."""
    if not len(values):
        return np.empty(0, np.int32), 0
    if isinstance(values.array, pd.arrays.ArrowExtensionArray):
        encoded = pc.dictionary_encode(pa.chunked_array(pa.array(values.array)))  # one dictionary shared by every chunk
        parts = [(pc.fill_null(c.indices, -1) if c.null_count else c.indices).to_numpy() for c in encoded.chunks]
        return np.concatenate(parts), len(encoded.chunks[-1].dictionary)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(_code_dtype(len(uniques))), len(uniques)


def _compact(combined: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Dense codes 0 to m - 1 for the m distinct values of `combined` (all in range(space))."""
    if space <= max(LOOKUP_LIMIT, len(combined)):
        present = np.zeros(space, bool)
        present[combined] = True
        dense = np.cumsum(present, dtype=_code_dtype(space))
        dense -= 1
        return dense[combined], int(dense[-1]) + 1
    codes, uniques = pd.factorize(combined)
    return codes.astype(_code_dtype(len(uniques))), len(uniques)


def combined_codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
    """One code per row for the combination of values in `columns` (null counts as a value), and the code space."""
    combined, space = np.zeros(len(frame), np.int32), 1
    for col in columns:
        codes, n = value_codes(frame[col])
        if space * (n + 1) > max(LOOKUP_LIMIT, len(frame)):  # keep the space small enough for lookup tables
            combined, space = _compact(combined, space)
        space *= n + 1
        combined = combined.astype(_code_dtype(space), copy=False)
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
        out = series.reset_index(drop=True).take(self.codes)
        out.index = index
        return out


def distinct_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Distinct:
    """The distinct combinations of `columns` in frame, each with the label of one row that has it."""
    if len(columns) == 1:  # a column's codes are dense already (null, if any, as one more code)
        codes, n = value_codes(frame[columns[0]])
        if len(codes) and codes.min() < 0:
            codes, n = codes + 1, n + 1
    else:
        codes, n = _compact(*combined_codes(frame, columns))
    representative = np.empty(n, np.intp)
    representative[codes] = np.arange(len(frame))  # any row of a group will do: they are equal in `columns`
    return Distinct(frame[list(columns)].iloc[representative], codes)


def per_value(check: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """An element-wise Series function that runs once per distinct value (null included) of its argument."""

    def run(values: pd.Series) -> pd.Series:
        distinct = distinct_rows(values.to_frame(), [values.name if values.name is not None else 0])
        return distinct.expand(check(distinct.rows.iloc[:, 0]), values.index)

    return run

"""Rows held compact while they wait: from the read to their validation, and from the validation to the derivation
of their block of subjects.

A raw text column repeats a few values millions of times (visit, item, result, dates): held as pandas text it costs
8 bytes of offset and its characters per row, about 2.2 times the CSV. `Held` keeps each text column as the code of
each row's value (the smallest integer type that fits: mostly one byte) and its distinct values once, in Arrow: about
a tenth. Any other column (numbers once typed) is kept as it is. The rows come back as the very frame they were, value
for value, dtype for dtype, with their index (the raw line): a column (`held[name]`), some columns, or all
(`frame()`); inside a `shared_codes` block a column comes back with its codes known, so checks never hash its text.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from flows.kernel.distinct import constant_text, encoded, kept_codes, remember_codes
from flows.kernel.pandas_arrow import arrow_data, text_of_dtype


class _Coded:
    """A text column as codes (-1 for null) into its distinct values, all of them used."""

    __slots__ = ("codes", "dtype", "uniques")

    def __init__(self, codes: np.ndarray, uniques: pa.Array, dtype: object) -> None:
        self.codes, self.uniques, self.dtype = codes, uniques, dtype

    def take(self, positions: np.ndarray) -> _Coded:
        codes, used = kept_codes(self.codes[positions], len(self.uniques))
        return _Coded(codes, self.uniques if used is None else self.uniques.filter(pa.array(used)), self.dtype)

    def values(self) -> pd.api.extensions.ExtensionArray:
        codes, n = self.codes, len(self.uniques)
        if n == 1 and len(codes) and codes.min() == 0:  # one value on every row: one block of memory, as read
            return constant_text(self.uniques[0].as_py(), len(codes))
        indices = pa.array(codes, mask=codes < 0) if len(codes) and codes.min() < 0 else pa.array(codes)
        return text_of_dtype(self.dtype, self.uniques.take(indices))

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.uniques.nbytes


def _coded(values: pd.Series) -> _Coded | None:
    """A text column's codes and distinct values; None for a column of another type."""
    data = arrow_data(values)
    if data is None or not isinstance(values.array, pd.arrays.ArrowStringArray):
        return None
    codes, uniques = encoded(data)
    return _Coded(codes, uniques, values.dtype)


class Held:
    """A frame's rows, its text columns dictionary-encoded (see the module): what a frame is asked for while rows wait
    (`len`, `index`, `columns`, `in`, a column or a list of columns, `drop`, setting a column), and `frame()`."""

    def __init__(
        self, index: pd.Index, columns: dict[str, _Coded | pd.api.extensions.ExtensionArray], names: object = None
    ) -> None:
        self.index = index
        self._columns = columns
        self._names = names  # the dtype of the frame's column labels
        self._given: dict[str, weakref.ref[pd.Series]] = {}  # the columns handed out and still alive: given again

    def __getstate__(self) -> dict:  # to a worker process: the rows, not the columns handed out here
        return {**self.__dict__, "_given": {}}

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Held:
        """`frame` held compact; each column leaves `frame` once held (a text column's memory goes as it is encoded,
        when nothing else holds it)."""
        if not frame.columns.is_unique:
            raise ValueError(f"Held: duplicate columns {frame.columns[frame.columns.duplicated()].tolist()}")
        columns: dict[str, _Coded | pd.api.extensions.ExtensionArray] = {}
        names = frame.columns
        for name in list(names):
            values = frame[name]
            coded = _coded(values)
            columns[name] = values.array if coded is None else coded
            del values, frame[name]
        return cls(frame.index, columns, names.dtype)

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    @property
    def columns(self) -> pd.Index:
        return pd.Index(list(self._columns), dtype=self._names)

    @property
    def nbytes(self) -> int:
        """Bytes held (the index not counted)."""
        return sum(c.nbytes for c in self._columns.values())

    def _column(self, name: str) -> pd.Series:
        if (given := self._given.get(name)) is not None and (series := given()) is not None:
            return series
        held = self._columns[name]
        if isinstance(held, _Coded):
            series = pd.Series(held.values(), index=self.index, name=name, copy=False)
            remember_codes(series, held.codes, len(held.uniques))  # inside a shared_codes block: never hashed
        else:
            series = pd.Series(held, index=self.index, name=name, copy=False)
        self._given[name] = weakref.ref(series)
        return series

    def __getitem__(self, key: str | Sequence[str]) -> pd.Series | pd.DataFrame:
        if isinstance(key, str):
            return self._column(key)
        return self._frame(list(key))

    def __setitem__(self, name: str, values: pd.Series | pd.api.extensions.ExtensionArray) -> None:
        series = values if isinstance(values, pd.Series) else pd.Series(values, index=self.index, copy=False)
        if len(series) != len(self):
            raise ValueError(f"Held: column {name} has {len(series)} rows, not {len(self)}")
        coded = _coded(series)
        self._columns[name] = series.array if coded is None else coded
        self._given.pop(name, None)

    def _frame(self, names: list[str]) -> pd.DataFrame:
        frame = pd.DataFrame({i: self._column(n).array for i, n in enumerate(names)}, index=self.index, copy=False)
        frame.columns = pd.Index(names, dtype=self._names)
        return frame

    def frame(self) -> pd.DataFrame:
        """The rows as the frame they were."""
        return self._frame(list(self._columns))

    def drop(self, columns: Sequence[str]) -> Held:
        return Held(self.index, {n: c for n, c in self._columns.items() if n not in set(columns)}, self._names)

    def take(self, positions: np.ndarray) -> Held:
        """The rows at `positions` (in that order), their codes renumbered to the values they still use."""
        taken = {n: c.take(positions) for n, c in self._columns.items()}
        return Held(self.index.take(positions), taken, self._names)


Rows = pd.DataFrame | Held  # a file's rows, held compact or not


def held_frame(rows: Rows) -> pd.DataFrame:
    """The rows as a frame, whether held or not."""
    return rows.frame() if isinstance(rows, Held) else rows


def held_like(like: Rows, frame: pd.DataFrame) -> Rows:
    """`frame` held when `like` is (after a step that needed the whole frame), else as it is."""
    return Held.of(frame) if isinstance(like, Held) else frame

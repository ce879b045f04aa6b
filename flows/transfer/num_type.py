"""Whether a numeric variable holds whole numbers, decided once per dataset for every format: define.xml gives such a
variable DataType "integer", so Parquet, CSV and Dataset-JSON write it as an integer too."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

import numpy as np
import pandas as pd

from flows.kernel.chunks import chunks_of, in_blocks, rows_of
from flows.spec.model import DomainSpec


def holds_integers(col: pd.Series) -> bool:
    """True for an integer column, and for a float column whose present values are all whole (or none present),
    as define.xml's DataType "integer" says."""
    if pd.api.types.is_integer_dtype(col):
        return True
    present = col.dropna().astype("float64")
    return bool((present == np.floor(present)).all())


def whole_columns(frame: pd.DataFrame, spec: DomainSpec) -> list[str]:
    """The Num variables held in a float column of whole numbers (those written as integers)."""
    return [
        v.name
        for v in spec.variables
        if v.type == "Num" and pd.api.types.is_float_dtype(frame[v.name]) and holds_integers(frame[v.name])
    ]


def retyped(frame: pd.DataFrame, whole: Collection[str], without: Collection[str] = ()) -> pd.DataFrame:
    """The frame with its `whole` columns made nullable integers and its `without` columns left out; the other
    columns are the frame's own, not copied (the frame itself when nothing changes)."""
    dropped = [c for c in without if c in frame]
    if not whole and not dropped:
        return frame
    columns = {c: frame[c].astype("Int64") if c in whole else frame[c] for c in frame.columns if c not in dropped}
    return pd.DataFrame(columns, index=frame.index, columns=frame.columns.drop(dropped), copy=False)


class AsWritten(Mapping[str, pd.DataFrame]):
    """Datasets as every format writes them: each Num variable held in a float column of whole numbers made a
    nullable integer column, without the `without` columns. Each is made when it is read and not kept, so a write
    holds one dataset's converted columns at a time rather than a copy of every dataset; which columns hold whole
    numbers is decided once per dataset."""

    def __init__(
        self, datasets: Mapping[str, pd.DataFrame], specs: Mapping[str, DomainSpec], without: Collection[str] = ()
    ) -> None:
        self._datasets, self._specs, self._without = datasets, specs, tuple(without)
        self._whole: dict[str, list[str]] = {}

    def _whole_of(self, domain: str) -> list[str] | None:
        """The dataset's whole-number columns: from its blocks' facts where the mapping keeps them (Spilled.whole),
        else from the dataset itself (None until it is read)."""
        if domain not in self._whole:
            known = getattr(self._datasets, "whole", None)
            decided = known(domain) if known is not None else None
            if decided is None:
                return None
            self._whole[domain] = decided
        return self._whole[domain]

    def __getitem__(self, domain: str) -> pd.DataFrame:
        frame = self._datasets[domain]
        if self._whole_of(domain) is None:
            self._whole[domain] = whole_columns(frame, self._specs[domain])
        return retyped(frame, self._whole[domain], self._without)

    def chunks(self, domain: str) -> Iterator[pd.DataFrame]:
        """The dataset as written a block of rows at a time where the mapping keeps it in blocks whose dtypes agree
        (each block converted alike), else whole at once."""
        whole = self._whole_of(domain)
        if whole is None:
            yield self[domain]
            return
        for chunk in chunks_of(self._datasets, domain):
            yield retyped(chunk, whole, self._without)

    def in_blocks(self, domain: str) -> bool:
        return in_blocks(self._datasets, domain)

    def rows(self, domain: str) -> int:
        """The dataset's records, without converting it."""
        return rows_of(self._datasets, domain)

    def columns(self, domain: str) -> list[str] | None:
        """The columns as written, where the mapping keeps them (a dataset in blocks), else None."""
        columns = getattr(self._datasets, "columns", None)
        known = columns(domain) if columns is not None else None
        return None if known is None else [c for c in known if c not in self._without]

    def counts(self, domain: str) -> tuple[int, int | None] | None:
        """Records and distinct USUBJID where the mapping keeps them (a dataset in blocks), else None."""
        counts = getattr(self._datasets, "counts", None)
        return counts(domain) if counts is not None else None

    def __contains__(self, domain: object) -> bool:
        return domain in self._datasets

    def __iter__(self) -> Iterator[str]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)

"""Datasets given whole (a dict of frames) or in blocks of rows (a mapping with `chunks`, as run/spill.Spilled):
the readers that can take a dataset a block at a time ask here, so neither kind is held whole for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pandas as pd


def chunks_of(datasets: Mapping[str, pd.DataFrame], domain: str) -> Iterator[pd.DataFrame]:
    """The dataset's rows in order, a block at a time where `datasets` keeps it in blocks, else whole at once."""
    chunks = getattr(datasets, "chunks", None)
    if chunks is not None:
        yield from chunks(domain)
    else:
        yield datasets[domain]


def counts_of(datasets: Mapping[str, pd.DataFrame], domain: str) -> tuple[int, int | None]:
    """The dataset's records and distinct USUBJID (None without the variable), from the mapping's own count where it
    keeps one (a dataset in blocks of subjects: the blocks' counts added up), else from the dataset."""
    counts = getattr(datasets, "counts", None)
    known = counts(domain) if counts is not None else None
    if known is not None:
        return known
    frame = datasets[domain]
    return len(frame), int(frame["USUBJID"].nunique()) if "USUBJID" in frame else None


def columns_of(datasets: Mapping[str, pd.DataFrame], domain: str) -> list[str]:
    """The dataset's column names, from the mapping where it keeps them (a dataset in blocks), else the dataset's."""
    columns = getattr(datasets, "columns", None)
    known = columns(domain) if columns is not None else None
    return list(known) if known is not None else list(datasets[domain].columns)


def rows_of(datasets: Mapping[str, pd.DataFrame], domain: str) -> int:
    """The dataset's records, from the mapping where it keeps them (`rows`), else the dataset's."""
    rows = getattr(datasets, "rows", None)
    return int(rows(domain)) if rows is not None else len(datasets[domain])


def in_blocks(datasets: Mapping[str, pd.DataFrame], domain: str) -> bool:
    """Whether the mapping keeps the dataset in blocks (read whole only at a cost), as its `in_blocks` says."""
    kept = getattr(datasets, "in_blocks", None)
    return bool(kept(domain)) if kept is not None else False


def rows_where(
    datasets: Mapping[str, pd.DataFrame], domain: str, keep: Callable[[pd.DataFrame], pd.Series]
) -> pd.DataFrame | None:
    """The dataset's rows that `keep` (a row mask of a frame, row by row) keeps, in order, a block at a time where
    the mapping keeps it in blocks: a few rows of a large dataset without reading it whole. None without the dataset."""
    if domain not in datasets:
        return None
    parts = [chunk.loc[keep(chunk).to_numpy(dtype=bool)] for chunk in chunks_of(datasets, domain)]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

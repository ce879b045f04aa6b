"""Identifiers and ordering shared by every domain: USUBJID, key sort and --SEQ."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from flows.kernel.distinct import SMALL, distinct_rows, representatives, take_rows, value_codes


def usubjid(studyid: str, site: pd.Series | None, subject: pd.Series) -> pd.Series:
    """USUBJID as STUDYID-SITEID-SUBJID (STUDYID-SUBJID when subjects are numbered across sites), unique across
    the submission; built once per subject, however many rows (row by row when there are few)."""
    if site is None:
        return (studyid + "-" + subject.astype("str")).astype("str")
    if len(site) <= SMALL or not site.index.equals(subject.index):  # few rows, or rows aligned by label
        return studyid + "-" + site + "-" + subject
    pairs = distinct_rows(pd.DataFrame({"s": site.array, "n": subject.array}), ["s", "n"])
    out = pairs.expand(studyid + "-" + pairs.rows["s"] + "-" + pairs.rows["n"], site.index)
    out.name = site.name if site.name == subject.name else None  # as pandas names the row-by-row result
    return out


def subject_ids(frame: pd.DataFrame, columns: Sequence[str], studyid: str) -> pd.Series:
    """USUBJID of each row of a raw frame, from its subject columns (a raw contract's columns of role SITEID and
    SUBJID, in that order; SUBJID alone when subjects are numbered across sites)."""
    return usubjid(studyid, frame[columns[0]] if len(columns) == 2 else None, frame[columns[-1]])


def _ranks(col: pd.Series) -> tuple[np.ndarray, int]:
    """Rank of each value among the column's distinct values, 0 for null (which sorts first), and the number of
    ranks. Text sorts as pandas sorts it; the ranking works on the distinct values only."""
    if pd.api.types.is_numeric_dtype(col):
        values = col.astype("Float64").to_numpy(dtype=float, na_value=-np.inf)  # null first
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        n = len(uniques)
        rank = np.empty(n, np.int64)
        rank[np.argsort(uniques, kind="stable")] = np.arange(n)
        return rank[codes], n
    codes, n = value_codes(col)  # -1 for null
    uniques = pd.Series(col.array.take(representatives(codes, n)))
    rank = np.empty(n + 1, np.int64)
    rank[0] = 0
    rank[1:][uniques.argsort(kind="stable").to_numpy()] = np.arange(1, n + 1)
    return rank[codes.astype(np.int64) + 1], n + 1


def key_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Positions of the rows in key order: stable (ties keep their order), nulls first, text sorted as pandas sorts
    it. Sorts one integer per row (the keys' ranks combined), not text: ten million rows sort in a second."""
    if not keys:
        return np.arange(len(frame))
    ranked = [_ranks(frame[k]) for k in keys]
    space = 1
    for _, n in ranked:
        space *= max(n, 1)
    if space >= 1 << 62:  # too many combinations for one integer: sort the ranks key by key
        return np.lexsort([r for r, _ in ranked][::-1])
    combined = np.zeros(len(frame), np.int64)
    for r, n in ranked:
        combined *= max(n, 1)
        combined += r
    return np.argsort(combined, kind="stable")


def sort_by_keys(
    frame: pd.DataFrame, keys: Sequence[str], order: np.ndarray | None = None, consume: bool = False
) -> pd.DataFrame:
    """Rows in the order of the domain keys (stable, so ties keep raw order), index reset; `order` is the key order
    when the caller has it already. With `consume`, `frame` is emptied column by column as the sorted copy grows."""
    present = [k for k in keys if k in frame]
    return take_rows(frame, key_order(frame, present) if order is None else order, consume)


def seq_in_key_order(frame: pd.DataFrame, keys: list[str], order: np.ndarray | None = None) -> pd.Series:
    """--SEQ: 1..n within USUBJID in key order (ties in row order), as a Series on frame's index; `order` is
    key_order(frame, keys) when the caller has it already."""
    order = key_order(frame, keys) if order is None else order
    subject = value_codes(frame["USUBJID"])[0][order]
    n = len(order)
    starts = np.ones(n, bool)
    starts[1:] = subject[1:] != subject[:-1]
    if n and np.unique(subject[starts]).size != starts.sum():  # a subject's rows not together: count by groups
        ordered = frame.iloc[order]
        numbers = ordered.groupby("USUBJID", sort=False).cumcount().add(1).to_numpy()
    else:
        first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        numbers = np.arange(n) - first + 1
    out = np.empty(n, np.int64)
    out[order] = numbers
    return pd.Series(out, index=frame.index, dtype="Int64")

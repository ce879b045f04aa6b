"""Identifiers and ordering shared by every domain: USUBJID, key sort and --SEQ."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.distinct import distinct_rows
from flows.specs import DomainSpec


def usubjid(studyid: str, site: pd.Series | None, subject: pd.Series) -> pd.Series:
    """USUBJID as STUDYID-SITEID-SUBJID (STUDYID-SUBJID when subjects are numbered across sites), unique across
    the submission; built once per subject, however many rows."""
    if site is None:
        return (studyid + "-" + subject.astype("str")).astype("str")
    if not site.index.equals(subject.index):
        return studyid + "-" + site + "-" + subject
    pairs = distinct_rows(pd.DataFrame({"s": site.array, "n": subject.array}), ["s", "n"])
    out = pairs.expand(studyid + "-" + pairs.rows["s"] + "-" + pairs.rows["n"], site.index)
    out.name = site.name if site.name == subject.name else None
    return out


def key_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Positions of the rows in key order: stable (ties keep their order), nulls first, text sorted as pandas sorts
    it. Sorts integer codes, not text: ten million rows of text keys sort in a second."""
    arrays = []
    for k in keys:
        col = frame[k]
        if pd.api.types.is_numeric_dtype(col):
            arrays.append(col.astype("Float64").to_numpy(dtype=float, na_value=-np.inf))
        else:
            arrays.append(pd.factorize(col, sort=True, use_na_sentinel=True)[0])  # null: -1, first
    return np.lexsort(arrays[::-1]) if arrays else np.arange(len(frame))


def sort_by_keys(frame: pd.DataFrame, spec: DomainSpec) -> pd.DataFrame:
    """Rows in the order of the domain keys (stable, so ties keep raw order), index reset."""
    keys = [k for k in spec.keys if k in frame]
    return frame.iloc[key_order(frame, keys)].reset_index(drop=True)


def seq_in_key_order(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """--SEQ: 1..n within USUBJID in key order (ties in row order), as a Series on frame's index."""
    order = key_order(frame, keys)
    subject = pd.factorize(frame["USUBJID"])[0][order]
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


def derive_seq(frame: pd.DataFrame, spec: DomainSpec) -> pd.DataFrame:
    """Sort by the keys and number records 1..n within USUBJID into the spec's --SEQ variable."""
    out = sort_by_keys(frame, spec)
    out[spec.seq] = out.groupby("USUBJID", sort=False).cumcount().add(1).astype("Int64")
    return out

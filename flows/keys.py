"""Identifiers and ordering shared by every domain: USUBJID, key sort and --SEQ."""

from __future__ import annotations

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


def sort_by_keys(frame: pd.DataFrame, spec: DomainSpec) -> pd.DataFrame:
    """Rows in the order of the domain keys (stable, so ties keep raw order), index reset."""
    keys = [k for k in spec.keys if k in frame]
    return frame.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)


def derive_seq(frame: pd.DataFrame, spec: DomainSpec) -> pd.DataFrame:
    """Sort by the keys and number records 1..n within USUBJID into the spec's --SEQ variable."""
    out = sort_by_keys(frame, spec)
    out[spec.seq] = out.groupby("USUBJID", sort=False).cumcount().add(1).astype("Int64")
    return out

"""Vectorised ISO 8601 helpers: parsing full and partial dates, completed years of age, SDTM study day."""

from __future__ import annotations

import numpy as np
import pandas as pd

DATE = r"\d{4}-\d{2}-\d{2}"
PARTIAL_DATE = r"\d{4}(-\d{2}(-\d{2})?)?"
DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?"


def parse_date(dtc: pd.Series) -> pd.Series:
    """Date part of complete ISO 8601 values as datetime64; NaT where the date is missing, partial or invalid."""
    head = dtc.astype("str").str.slice(0, 10)
    return pd.to_datetime(head.where(head.str.len() == 10), format="%Y-%m-%d", errors="coerce")


def parse_datetime(dtc: pd.Series) -> pd.Series:
    """Full ISO 8601 date-times (minutes or seconds) as datetime64; NaT where absent or invalid."""
    return pd.to_datetime(dtc, format="ISO8601", errors="coerce")


def impute_first(dtc: pd.Series) -> pd.Series:
    """Complete a partial date with the first month and day ('1980' -> 1980-01-01, '1980-07' -> 1980-07-01)."""
    head = dtc.astype("str").str.slice(0, 10)
    filled = head.where(head.str.len() != 4, head + "-01-01")
    filled = filled.where(filled.str.len() != 7, filled + "-01")
    return pd.to_datetime(filled, format="%Y-%m-%d", errors="coerce")


def is_valid(dtc: pd.Series, kind: str) -> pd.Series:
    """True where a value is a well-formed ISO 8601 value of kind date, partial_date or datetime (or is null)."""
    pattern = {"date": DATE, "partial_date": PARTIAL_DATE, "datetime": DATETIME}[kind]
    shaped = dtc.str.fullmatch(pattern).fillna(False).astype(bool)
    candidates = dtc.where(shaped)
    ok = (parse_datetime(candidates) if kind == "datetime" else impute_first(candidates)).notna()
    return ok | dtc.isna()


def completed_years(birth: pd.Series, reference: pd.Series) -> pd.Series:
    """Whole years from birth to reference (both datetime64), as a nullable integer."""
    years = reference.dt.year - birth.dt.year
    before_birthday = (reference.dt.month < birth.dt.month) | (
        (reference.dt.month == birth.dt.month) & (reference.dt.day < birth.dt.day)
    )
    return (years - before_birthday.astype("Int64")).astype("Int64")


def study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """SDTM --DY: days from RFSTDTC, plus one on or after it (no day 0); null when either date is incomplete."""
    date, ref = parse_date(dtc), parse_date(rfstdtc)
    delta = (date - ref).dt.days
    day = delta + np.where(delta >= 0, 1, 0)
    return day.astype("Int64")

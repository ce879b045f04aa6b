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


def day_of(delta: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """SDTM --DY of a number of days from RFSTDTC: plus one on or after it (no day 0)."""
    return delta + (delta >= 0)


def study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """SDTM --DY: days from RFSTDTC, plus one on or after it (no day 0); null when either date is incomplete."""
    date, ref = parse_date(dtc), parse_date(rfstdtc)
    return day_of((date - ref).dt.days).astype("Int64")


SAS_EPOCH = pd.Timestamp("1960-01-01")  # SAS dates count days, SAS date-times seconds, from it


def sas_date(dtc: pd.Series) -> pd.Series:
    """A SAS date (days since 1960-01-01, Int64) of the date part of complete ISO 8601 values; null when partial."""
    return (parse_date(dtc) - SAS_EPOCH).dt.days.astype("Int64")


def sas_datetime(dtc: pd.Series) -> pd.Series:
    """A SAS date-time (seconds since 1960-01-01T00:00, Int64) of ISO 8601 date-times; null without a time."""
    text = dtc.astype("str")
    timed = text.where(text.str.len() >= 16)
    return ((parse_datetime(timed) - SAS_EPOCH).dt.total_seconds()).round().astype("Int64")


def impute_date(dtc: pd.Series, how: str) -> tuple[pd.Series, pd.Series]:
    """A partial ISO 8601 date completed to its period's first (`how` first) or last day, as datetime64, and its
    imputation flag: D (the day imputed), M (month and day), null (a complete date; null also where the year is
    missing or the value is not a date: nothing is imputed). admiral's derive_vars_dt(highest_imputation = "M")."""
    head = dtc.astype("str").str.slice(0, 10)
    n = head.str.len()
    flag = pd.Series(pd.NA, index=dtc.index, dtype="str").mask(n == 7, "D").mask(n == 4, "M")
    if how == "first":
        filled = head.mask(n == 4, head + "-01-01").mask(n == 7, head + "-01")
        return pd.to_datetime(filled, format="%Y-%m-%d", errors="coerce"), flag
    month_start = pd.to_datetime(head.mask(n == 7, head + "-01").where(n == 7), format="%Y-%m-%d", errors="coerce")
    filled = pd.to_datetime(head.where(n == 10).mask(n == 4, head + "-12-31"), format="%Y-%m-%d", errors="coerce")
    filled = filled.mask(n == 7, month_start + pd.offsets.MonthEnd(0))
    return filled, flag


def iso_of_sas(values: pd.Series, kind: str) -> pd.Series:
    """ISO 8601 text of SAS dates (`kind` date: days since 1960-01-01) or date-times (seconds): null stays null."""
    unit, layout = ("s", "%Y-%m-%dT%H:%M:%S") if kind == "datetime" else ("D", "%Y-%m-%d")
    moments = SAS_EPOCH + pd.to_timedelta(values.astype("Float64").astype("float64"), unit=unit)
    return moments.dt.strftime(layout).astype("str").where(values.notna().to_numpy(bool), None)

"""Tests of flows/kernel/dates.py: ISO 8601 parsing, partial dates, age and study day."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.kernel.dates import (
    completed_years,
    impute_date,
    impute_first,
    is_valid,
    iso_of_sas,
    sas_date,
    sas_datetime,
    study_day,
)


@pytest.mark.parametrize(
    ("dtc", "ref", "expected"),
    [
        ("2025-06-10", "2025-06-10T09:30", 1),  # same day is day 1
        ("2025-06-11T08:00", "2025-06-10T09:30", 2),  # the time is ignored
        ("2025-06-09", "2025-06-10", -1),  # the day before is -1: there is no day 0
        ("2025-05-11", "2025-06-10", -30),
        ("2026-06-10", "2025-06-10", 366),
        ("2025-06", "2025-06-10", None),  # partial date: no study day
        ("2025-06-10", None, None),  # no RFSTDTC (screen failure): no study day
        (None, "2025-06-10", None),
    ],
)
def test_study_day(dtc, ref, expected):
    got = study_day(pd.Series([dtc], dtype="str"), pd.Series([ref], dtype="str")).iloc[0]
    assert (pd.isna(got) and expected is None) or got == expected


@pytest.mark.parametrize(
    ("birth", "ref", "years"),
    [
        ("1980-06-02", "2025-06-01", 44),  # birthday tomorrow
        ("1980-06-01", "2025-06-01", 45),  # birthday today
        ("1980-06", "2025-06-01", 45),  # day missing: imputed to the 1st
        ("1980", "2025-06-01", 45),  # month missing: imputed to January 1
        ("2000-02-29", "2025-02-28", 24),  # leap-day birth
    ],
)
def test_completed_years(birth, ref, years):
    got = completed_years(impute_first(pd.Series([birth])), pd.to_datetime(pd.Series([ref])))
    assert got.iloc[0] == years


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("2025-01-31", "date", True),
        ("2025-02-30", "date", False),  # no such day
        ("2025-1-3", "date", False),  # not zero-padded
        ("1980", "partial_date", True),
        ("1980-07", "partial_date", True),
        ("1980-13", "partial_date", False),
        ("2025-06-03T09:30", "datetime", True),
        ("2025-06-03T09:30:15", "datetime", True),
        ("2025-06-03T25:30", "datetime", False),
        ("2025-06-03", "datetime", False),  # a date-time needs its time
        (None, "date", True),  # nullability is checked elsewhere
    ],
)
def test_is_valid(value, kind, ok):
    assert bool(is_valid(pd.Series([value], dtype="str"), kind).iloc[0]) is ok


def test_sas_dates_and_date_times():
    dtc = pd.Series(["1960-01-01", "2025-06-17T11:42", "2025-06", None], dtype="str")
    assert sas_date(dtc).tolist() == [0, 23909, pd.NA, pd.NA]  # days since 1960-01-01; partial: none
    assert sas_datetime(dtc).tolist() == [pd.NA, 23909 * 86400 + 42120, pd.NA, pd.NA]  # only with a time


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("first", ["2025-06-01", "2025-01-01", "2025-06-17", None]),
        ("last", ["2025-06-30", "2025-12-31", "2025-06-17", None]),
    ],
)
def test_impute_date_with_its_flag(how, expected):
    filled, flag = impute_date(pd.Series(["2025-06", "2025", "2025-06-17T10:00", None], dtype="str"), how)
    assert [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in filled] == expected
    assert [None if pd.isna(f) else f for f in flag] == ["D", "M", None, None]


def test_iso_of_sas_dates_and_date_times():
    dates = iso_of_sas(pd.Series([0, 23909, None], dtype="Int64"), "date")
    assert [None if pd.isna(v) else v for v in dates] == ["1960-01-01", "2025-06-17", None]
    seconds = iso_of_sas(pd.Series([23909 * 86400 + 42120, None], dtype="Int64"), "datetime")
    assert [None if pd.isna(v) else v for v in seconds] == ["2025-06-17T11:42:00", None]

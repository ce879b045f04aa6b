"""derivations/sas_date.py: numeric SAS dates and date-times of ISO 8601 values."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run


def test_days_and_seconds_since_1960(specs):
    records = {"RFXSTDTC": ["1960-01-02", "2025-06-17T11:42", "2025-06", None]}
    ctx = context(specs, records=records)
    days = run("{derivation: sas_date, date: RFXSTDTC}", ctx)
    # 1960-01-02 is day 1; 2025-06-17 is 23909 (65 years of 365 days + 16 leap days + 167 days); partial: null
    assert [None if pd.isna(v) else int(v) for v in days] == [1, 23909, None, None]
    seconds = run("{derivation: sas_date, date: RFXSTDTC, part: datetime}", ctx)
    # only a value with a time has a date-time: 23909 days and 11:42
    assert [None if pd.isna(v) else int(v) for v in seconds] == [None, 23909 * 86400 + 11 * 3600 + 42 * 60, None, None]

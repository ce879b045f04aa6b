"""derivations/imputed_date.py: partial AE dates imputed as admiral does, with their flags."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s

DAY = {"2025-06-01": 23893, "2025-06-17": 23909, "2025-06-30": 23922, "2025-01-01": 23742, "2025-12-31": 24106}


def values(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


def test_an_imputed_start_date_and_its_flag(specs):
    adsl = {"USUBJID": s("A", "B"), "TRTSDT": pd.Series([23909, 23909], dtype="Int64")}  # both dosed 2025-06-17
    records = {"AESTDTC": ["2025-06", "2025-06", "2025", "2025-06-20T10:00", None]}
    variables = {"USUBJID": s("A", "B", "B", "B", "B")}
    ctx = context(specs, records=records, variables=variables, datasets={"ADSL": adsl})
    start = run("{derivation: imputed_date, date: AESTDTC, impute: first, floor: ADSL.TRTSDT}", ctx)
    # 2025-06 -> 2025-06-01, but the infusion was in June: not before it -> 2025-06-17 (admiral's min_dates)
    # 2025 -> 2025-01-01, likewise -> 2025-06-17; a complete date is kept; nothing known -> null
    assert values(start) == [DAY["2025-06-17"], DAY["2025-06-17"], DAY["2025-06-17"], DAY["2025-06-17"] + 3, None]
    flag = run("{derivation: imputed_date, date: AESTDTC, impute: first, output: flag}", ctx)
    assert values(flag) == ["D", "D", "M", None, None]
    plain = run("{derivation: imputed_date, date: AESTDTC, impute: first}", ctx)  # no floor: the first day
    assert values(plain)[:3] == [DAY["2025-06-01"], DAY["2025-06-01"], DAY["2025-01-01"]]


def test_an_end_date_is_imputed_to_the_last_day(specs):
    ctx = context(specs, records={"AEENDTC": ["2025-06", "2025", "2025-06-30"]})
    end = run("{derivation: imputed_date, date: AEENDTC, impute: last}", ctx)
    assert values(end) == [DAY["2025-06-30"], DAY["2025-12-31"], DAY["2025-06-30"]]


def test_an_end_date_is_not_imputed_after_the_death(specs):
    adsl = {"USUBJID": s("A", "B"), "DTHDT": pd.Series([DAY["2025-06-17"], None], dtype="Int64")}  # A died 06-17
    records = {"AEENDTC": ["2025-06", "2025-06"]}
    ctx = context(specs, records=records, variables={"USUBJID": s("A", "B")}, datasets={"ADSL": adsl})
    end = run("{derivation: imputed_date, date: AEENDTC, impute: last, ceiling: ADSL.DTHDT}", ctx)
    assert values(end) == [DAY["2025-06-17"], DAY["2025-06-30"]]  # A: not after the death; B: the month's last

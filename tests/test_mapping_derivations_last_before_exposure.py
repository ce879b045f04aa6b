"""derivations/last_before_exposure.py: --LOBXFL on the last result on or before exposure."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_last_result_of_each_test_on_or_before_the_first_dose(specs):
    dm = {"USUBJID": s("A", "B"), "RFXSTDTC": s("2025-06-17T09:00", None)}  # B never exposed
    variables = {
        "USUBJID": s("A", "A", "A", "A", "B"),
        "QSTESTCD": s("X", "X", "X", "Y", "X"),
        "QSDTC": s("2025-06-01", "2025-06-17", "2025-06-20", "2025-06-02", "2025-06-01"),
    }
    ctx = context(specs, variables=variables, datasets={"DM": dm})
    out = run("{derivation: last_before_exposure, test: QSTESTCD, date: QSDTC, reference: DM.RFXSTDTC}", ctx)
    # X: the day of the dose counts as before it; after it no; Y: its only result; B: no flag
    assert [None if pd.isna(v) else v for v in out] == [None, "Y", None, "Y", None]


def test_date_times_compare_as_date_times_on_the_day_of_the_dose(specs):
    """Vital signs on the infusion day (dose at 09:53): 09:24 is before it, 13:57 after; a date alone (the dose's
    weight) still counts as before. A's TEMP: the pre-dose value, not the 4 h one (a CRS fever)."""
    dm = {"USUBJID": s("A"), "RFXSTDTC": s("2025-07-10T09:53")}
    variables = {
        "USUBJID": s("A", "A", "A", "A"),
        "VSTESTCD": s("TEMP", "TEMP", "TEMP", "WEIGHT"),
        "VSDTC": s("2025-07-06T08:03", "2025-07-10T09:24", "2025-07-10T13:57", "2025-07-10"),
    }
    ctx = context(specs, variables=variables, datasets={"DM": dm})
    out = run("{derivation: last_before_exposure, test: VSTESTCD, date: VSDTC, reference: DM.RFXSTDTC}", ctx)
    assert [None if pd.isna(v) else v for v in out] == [None, "Y", None, "Y"]

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

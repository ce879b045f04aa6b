"""derivations/baseline_flag.py: ABLFL on the last non-missing value on or before the first infusion."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_last_non_missing_value_on_or_before_the_infusion(specs):
    adsl = {"USUBJID": s("A", "B"), "TRTSDT": pd.Series([100, None], dtype="Int64")}
    variables = {
        "USUBJID": s("A", "A", "A", "A", "A", "B"),
        "PARAMCD": s("T", "T", "T", "T", "I", "T"),
        "AVAL": pd.Series([7, 8, None, 5, 1, 3], dtype="Float64"),
        "ADT": pd.Series([72, 95, 100, 184, 100, 90], dtype="Int64"),
    }
    ctx = context(specs, variables=variables, datasets={"ADSL": adsl})
    out = run("{derivation: baseline_flag, by: [PARAMCD], value: AVAL, date: ADT, reference: ADSL.TRTSDT}", ctx)
    # T: day 95 (the infusion-day record has no value; 184 is after); I: the infusion day counts; B: never treated
    assert [None if pd.isna(v) else v for v in out] == [None, "Y", None, None, "Y", None]

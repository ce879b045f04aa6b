"""derivations/change.py: CHG on post-baseline records only."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run


def test_change_after_the_infusion_day(specs):
    variables = {
        "AVAL": pd.Series([8, 6, 7, 5], dtype="Float64"),
        "BASE": pd.Series([8, 8, None, 8], dtype="Float64"),
        "ADY": pd.Series([-5, 84, 85, 1], dtype="Int64"),
    }
    out = run("{derivation: change, value: AVAL, base: BASE, day: ADY}", context(specs, variables=variables))
    # baseline record: none; month 3: 6 - 8; no baseline: none; the infusion day (pre-dose): none
    assert [None if pd.isna(v) else float(v) for v in out] == [None, -2.0, None, None]

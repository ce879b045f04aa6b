"""derivations/percent_change.py: PCHG, null for a zero baseline."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run


def test_percent_of_the_baseline(specs):
    variables = {"CHG": pd.Series([-2, 1, 3, None], dtype="Float64"), "BASE": pd.Series([8, 3, 0, 8], dtype="Float64")}
    out = run("{derivation: percent_change, change: CHG, base: BASE}", context(specs, variables=variables))
    assert [None if pd.isna(v) else float(v) for v in out] == [-25.0, 33.33, None, None]

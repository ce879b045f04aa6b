"""algorithms/assign.py: a raw column as it is."""

from __future__ import annotations

import pandas as pd

from flows.mapping.algorithms.assign import assign
from tests.mapping_cases import context, run, s


def test_assign_keeps_values_and_type():
    out = assign(s("M", None))
    assert out.iloc[0] == "M" and pd.isna(out.iloc[1]) and out.dtype == "str"
    assert assign(s(1.5, None, dtype="Float64")).dtype == "Float64"


def test_assign_from_the_records(specs):
    ctx = context(specs, {"lot": ["L-01", None]})
    out = run("{assign: lot}", ctx)
    assert out.iloc[0] == "L-01" and pd.isna(out.iloc[1])  # a blank cell stays null

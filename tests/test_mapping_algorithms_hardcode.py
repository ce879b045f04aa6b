"""algorithms/hardcode.py: one value on every record."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run


def test_hardcode_on_every_record(specs):
    ctx = context(specs, {"x": ["a", "b", "c"]})
    assert run("{hardcode: EX}", ctx).tolist() == ["EX", "EX", "EX"]
    assert run("{hardcode: 3}", ctx).dtype == "Int64"  # a whole number stays a number
    assert run("{hardcode: null}", ctx).isna().all() and run("{hardcode: null}", ctx).dtype == "str"
    assert isinstance(run("{hardcode: 2.5}", ctx).iloc[0], float | pd.Float64Dtype().type)

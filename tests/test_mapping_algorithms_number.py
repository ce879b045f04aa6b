"""algorithms/number.py: the number of a text result."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_number_of_a_text(specs):
    ctx = context(specs, variables={"QSSTRESC": s("3", "2.5", "IIa", None)})
    out = run("{number: QSSTRESC}", ctx)
    assert out.iloc[:2].tolist() == [3.0, 2.5] and out.iloc[2:].isna().all()  # a class is not a number
    assert out.dtype == pd.Float64Dtype()

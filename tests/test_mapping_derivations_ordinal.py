"""derivations/ordinal.py: a class's position in an ordered study.yaml list."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_mgfa_classes_in_order(specs):
    ctx = context(specs, variables={"AVALC": s("I", "IIIb", "V", "X", None)})
    out = run("{derivation: ordinal, variable: AVALC, values: instruments.MGFA.classes}", ctx)
    assert [None if pd.isna(v) else int(v) for v in out] == [1, 5, 8, None, None]  # I IIa IIb IIIa IIIb IVa IVb V

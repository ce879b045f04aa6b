"""algorithms/flag.py: Y where another variable is populated."""

from __future__ import annotations

import pandas as pd

from flows.mapping.algorithms.copy import copy_of
from flows.mapping.algorithms.flag import flag_present
from tests.mapping_cases import context, run, s


def test_copy_of_and_flag_present():
    assert copy_of(s("Y", None)).isna().tolist() == [False, True]
    flag = flag_present(s("2026-01-09", None))  # DTHFL from DTHDTC
    assert flag.iloc[0] == "Y" and pd.isna(flag.iloc[1])


def test_flag_from_a_variable(specs):
    ctx = context(specs, variables={"DTHDTC": s(None, "2026-01-09")})
    out = run("{flag: DTHDTC}", ctx)
    assert pd.isna(out.iloc[0]) and out.iloc[1] == "Y"

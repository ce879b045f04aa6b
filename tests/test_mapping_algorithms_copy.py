"""algorithms/copy.py: another variable of the record."""

from __future__ import annotations

from tests.mapping_cases import context, run, s


def test_copy_of_another_variable(specs):
    ctx = context(specs, variables={"RFXSTDTC": s("2025-06-17", None)})
    out = run("{copy: RFXSTDTC}", ctx)
    assert out.iloc[0] == "2025-06-17" and out.isna().tolist() == [False, True]

"""algorithms/study_day.py: --DY against the reference date."""

from __future__ import annotations

import pandas as pd

from flows.mapping.algorithms.study_day import ALGORITHM
from tests.mapping_cases import context, run, s

DM = {"USUBJID": s("A", "B"), "RFSTDTC": s("2025-06-17", None), "RFXSTDTC": s("2025-06-10", None)}


def test_study_day_against_rfstdtc_or_a_named_reference(specs):
    variables = {"USUBJID": s("A", "A", "A", "B"), "AESTDTC": s("2025-06-17", "2025-06-16", "2025-06", "2025-06-17")}
    ctx = context(specs, variables=variables, datasets={"DM": DM})
    out = run("{study_day: AESTDTC}", ctx)
    assert out.iloc[:2].tolist() == [1, -1] and out.iloc[2:].isna().all()  # no day 0; partial or no reference: null
    assert run("{study_day: {date: AESTDTC, reference: DM.RFXSTDTC}}", ctx).iloc[0] == 8
    assert out.dtype == pd.Int64Dtype()


def test_study_day_reads_its_reference():
    assert list(ALGORITHM.refs({"date": "AESTDTC"})) == ["DM.RFSTDTC"]
    assert list(ALGORITHM.refs({"date": "AESTDTC", "reference": "DM.RFXSTDTC"})) == ["DM.RFXSTDTC"]

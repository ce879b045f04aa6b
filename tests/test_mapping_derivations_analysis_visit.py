"""derivations/analysis_visit.py: AVISIT/AVISITN by the windows of study.yaml visits.schedule."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run


def test_visits_by_window(specs):
    # the sample's windows: SCREENING [-35, -6], BASELINE [-5, -1], DAY 1 [1, 1], MONTH 3 [78, 92] (visitnum 6)
    variables = {"ADY": pd.Series([-27, -5, 1, 84, 100, None], dtype="Int64")}
    ctx = context(specs, variables=variables)
    names = run("{derivation: analysis_visit, day: ADY, output: name}", ctx)
    assert [None if pd.isna(v) else v for v in names] == ["SCREENING", "BASELINE", "DAY 1", "MONTH 3", None, None]
    numbers = run("{derivation: analysis_visit, day: ADY, output: number}", ctx)
    assert [None if pd.isna(v) else int(v) for v in numbers] == [1, 2, 3, 6, None, None]

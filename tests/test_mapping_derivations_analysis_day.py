"""derivations/analysis_day.py: ADY from numeric dates, no day 0."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_days_from_the_first_treatment(specs):
    adsl = {"USUBJID": s("A", "B"), "TRTSDT": pd.Series([100, None], dtype="Int64")}  # B never treated
    variables = {"USUBJID": s("A", "A", "A", "B"), "ADT": pd.Series([95, 100, 184, 100], dtype="Int64")}
    out = run(
        "{derivation: analysis_day, date: ADT, reference: ADSL.TRTSDT}",
        context(specs, variables=variables, datasets={"ADSL": adsl}),
    )
    assert [None if pd.isna(v) else int(v) for v in out] == [-5, 1, 85, None]  # the infusion day is day 1

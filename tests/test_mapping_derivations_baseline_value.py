"""derivations/baseline_value.py: BASE on every record of the subject's parameter."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_the_flagged_value_on_every_record_of_the_parameter(specs):
    variables = {
        "USUBJID": s("A", "A", "A", "B", "B"),
        "PARAMCD": s("T", "T", "I", "T", "T"),
        "AVAL": pd.Series([8, 5, 1, 3, 4], dtype="Float64"),
        "ABLFL": s("Y", None, None, None, None),  # I and B have no baseline
    }
    out = run(
        "{derivation: baseline_value, by: [PARAMCD], value: AVAL, flag: ABLFL}", context(specs, variables=variables)
    )
    assert [None if pd.isna(v) else float(v) for v in out] == [8.0, 8.0, None, None, None]

"""derivations/extreme_flag.py: first-occurrence and analysis flags."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def flags(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


def test_first_treatment_emergent_occurrence_per_term(specs):
    variables = {
        "USUBJID": s("A", "A", "A", "A", "B"),
        "AEDECOD": s("X", "X", "Y", "X", "X"),
        "ASTDT": pd.Series([90, 120, 110, 105, None], dtype="Int64"),
        "AESEQ": pd.Series([1, 2, 3, 4, 1], dtype="Int64"),
        "TRTEMFL": s(None, "Y", "Y", "Y", "Y"),  # the first X is before the infusion
    }
    ctx = context(specs, variables=variables)
    by_term = run("{derivation: extreme_flag, by: [AEDECOD], order: [ASTDT, AESEQ], mode: first, among: TRTEMFL}", ctx)
    assert flags(by_term) == [None, None, "Y", "Y", "Y"]  # A/X: day 105 (seq 4) before day 120; B: its only one
    any_term = run("{derivation: extreme_flag, by: [], order: [ASTDT, AESEQ], mode: first, among: TRTEMFL}", ctx)
    assert flags(any_term) == [None, None, None, "Y", "Y"]


def test_last_record_of_each_visit(specs):
    variables = {
        "USUBJID": s("A", "A", "A"),
        "AVISITN": pd.Series([6, 6, None], dtype="Int64"),
        "ADT": pd.Series([80, 90, 200], dtype="Int64"),
    }
    out = run(
        "{derivation: extreme_flag, by: [AVISITN], order: [ADT], mode: last, among: AVISITN}",
        context(specs, variables=variables),
    )
    assert flags(out) == [None, "Y", None]  # outside every window: not analysed


def test_first_occurrence_of_the_worst_grade(specs):
    variables = {
        "USUBJID": s("A", "A", "A", "A"),
        "ATOXGRN": pd.Series([2, 3, 3, 4], dtype="Int64"),
        "ASTDT": pd.Series([100, 120, 110, 90], dtype="Int64"),
        "AESEQ": pd.Series([1, 2, 3, 4], dtype="Int64"),
        "TRTEMFL": s("Y", "Y", "Y", None),  # grade 4 before the infusion: not emergent
    }
    out = run(
        "{derivation: extreme_flag, by: [], order: [ATOXGRN, ASTDT, AESEQ], descending: [ATOXGRN], mode: first,"
        " among: TRTEMFL}",
        context(specs, variables=variables),
    )
    assert flags(out) == [None, None, "Y", None]  # grade 3 twice: the earlier (day 110)

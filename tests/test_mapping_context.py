"""context.py: what a step sees, and study days shared by the steps of a domain."""

from __future__ import annotations

from flows.mapping.context import REFERENCE
from tests.mapping_cases import context, s


def test_ref_gives_another_datasets_subjects_and_values(specs):
    ctx = context(specs, datasets={"DM": {"USUBJID": s("A"), "RFSTDTC": s("2025-06-17")}})
    subjects, values = ctx.ref(REFERENCE)
    assert subjects.tolist() == ["A"] and values.tolist() == ["2025-06-17"]


def test_study_days_are_worked_out_once(specs):
    dm = {"USUBJID": s("A"), "RFSTDTC": s("2025-06-17")}
    ctx = context(specs, variables={"USUBJID": s("A", "A"), "D": s("2025-06-18", "2025-06-10")}, datasets={"DM": dm})
    days = ctx.study_days("D")
    assert days.tolist() == [2, -7] and ctx.study_days("D") is days  # --DY and EPOCH of a date share it

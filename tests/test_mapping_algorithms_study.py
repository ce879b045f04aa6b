"""algorithms/study.py: a fact of study.yaml on every record."""

from __future__ import annotations

from tests.mapping_cases import context, run


def test_study_fact_on_every_record(specs):
    ctx = context(specs, {"x": ["a", "b"]})
    assert run("{study: treatment.name}", ctx).tolist() == ["S103 CAR-T CELLS"] * 2
    assert run("{study: treatment.dose_tolerance}", ctx).tolist() == [0.1, 0.1]  # a number stays a number

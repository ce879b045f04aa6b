"""derivations/cutoff_date.py: DCUTDT from the run's cut, else the data-as-of date."""

from __future__ import annotations

import dataclasses

from tests.mapping_cases import context, run


def test_the_cut_else_the_data_as_of_date(specs):
    ctx = context(specs, records={"X": ["a", "b"]})
    cut = dataclasses.replace(ctx, facts={"cutoff": "2025-06-17", "data_as_of": "2026-01-01"})
    assert list(run("{derivation: cutoff_date}", cut)) == [23909, 23909]
    as_of = dataclasses.replace(ctx, facts={"cutoff": None, "data_as_of": "1960-01-11"})
    assert list(run("{derivation: cutoff_date}", as_of)) == [10, 10]

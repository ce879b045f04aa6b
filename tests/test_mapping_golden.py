"""S103 on the mapping engine: the same bytes as the hand-written derivations it replaced (tests/fixtures)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "s103_before"


@pytest.mark.parametrize("rel", ["csv/dm.csv", "csv/ex.csv", "csv/ie.csv", "csv/ti.csv", "csv/ts.csv", "trace.csv"])
def test_sample_transfer_matches_the_fixture(sample_export, rel):
    _, transfer = sample_export
    assert (transfer / rel).read_bytes() == (FIXTURE / rel.removeprefix("csv/")).read_bytes(), rel


def test_define_matches_the_fixture(sample_export):
    _, transfer = sample_export
    assert (transfer / "define.xml").read_bytes() == (FIXTURE / "define.xml").read_bytes()

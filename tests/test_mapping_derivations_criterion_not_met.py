"""derivations/criterion_not_met.py: IE keeps the criteria not met."""

from __future__ import annotations

from flows.mapping.registry import RECORD_FILTERS
from tests.mapping_cases import context


def test_inclusion_answered_n_and_exclusion_answered_y_are_kept(specs):
    # study.yaml: not_met_when {INCLUSION: N, EXCLUSION: Y}; INCL01 is an inclusion, EXCL02 an exclusion
    excl = next(c["code"] for c in specs.study.criteria if c["category"] == "EXCLUSION")
    ctx = context(specs, {"code": ["INCL01", "INCL01", excl, excl], "met": ["N", "Y", "Y", "N"]})
    op = RECORD_FILTERS["criterion_not_met"]
    assert op.run(ctx, code="code", answer="met").tolist() == [True, False, True, False]

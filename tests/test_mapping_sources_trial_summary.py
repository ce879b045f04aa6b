"""sources/trial_summary.py: TS from study.yaml, with facts measured on the data."""

from __future__ import annotations

import dataclasses

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.sources.trial_summary import DATA_FACTS, RECORD_SOURCE, check_data_facts
from tests.mapping_cases import context, s


def test_trial_summary_takes_data_facts(specs):
    dm = {"ARMCD": s("DL1", None, "DL2")}  # two subjects with an arm: ACTSUB 2
    ctx = context(specs, datasets={"DM": dm})
    ctx.facts = {"data_as_of": "2026-01-31"}  # no cut: the data-as-of date
    ts = RECORD_SOURCE.run(ctx).set_index("TSPARMCD")
    assert ts.loc["ACTSUB", "TSVAL"] == "2" and ts.loc["DCUTDTC", "TSVAL"] == "2026-01-31"
    assert ts.loc["STYPE", "TSVALCD"] is not None and ts.loc["STYPE", "TSVCDREF"] == "CDISC CT"


def test_the_data_facts(specs):
    ctx = context(specs, datasets={"DM": {"ARMCD": s("DL1", None)}})
    ctx.facts = {"cutoff": "2025-12-31", "data_as_of": "2026-01-31"}
    assert DATA_FACTS["enrolled_subjects"](ctx) == 1 and DATA_FACTS["cutoff"](ctx) == "2025-12-31"  # the cut first


def test_an_unknown_data_fact_is_refused_at_load(specs):
    entries = [*specs.study.data["trial_summary"], {"parmcd": "X", "from": "data.treated"}]
    study = dataclasses.replace(specs.study, data={**specs.study.data, "trial_summary": entries})
    with pytest.raises(SpecError, match=r"trial_summary\[\d+\].from: unknown data fact 'data.treated'"):
        check_data_facts(dataclasses.replace(specs, study=study))

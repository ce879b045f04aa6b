"""load.py: the specs read, cross-checked, and given each collected variable's raw source and the copied columns."""

from __future__ import annotations

from flows.mapping.load import load_specs
from tests.conftest import ROOT


def test_load_specs_works_out_raw_sources_and_copies(specs):
    dm = {v.name: v for v in specs.sdtm["DM"].variables}
    assert dm["SEX"].source == "enrollment.sex"  # assign_ct: the column it recodes
    assert dm["RFICDTC"].source == "enrollment.consent_date"  # dtc: its date
    assert dm["USUBJID"].source is None  # derived, not collected
    assert any(c.variable == "DM.SUBJID" for c in specs.copies[("enrollment", "subject")])  # assign: copied as is


def test_a_second_study_loads_from_its_own_folder():
    other = load_specs(ROOT / "tests" / "studies" / "PBO-2201" / "specs")
    assert other.study.studyid == "PBO-2201" and "TS" in other.sdtm

"""plan.py: what each variable reads, the raw files each node reads, one order for all."""

from __future__ import annotations

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.plan import RECORDS, analysis_raw_reads, plan_domain, plan_domains, record_deps
from flows.spec.read import read_specs
from tests.test_specs import broken


def test_a_variable_reads_its_arguments_and_what_its_operation_reads_unnamed(specs):
    dm = plan_domain(specs.sdtm["DM"]).deps
    assert ("EX", "EXSTDTC") in dm["RFXSTDTC"] and ("DM", "USUBJID") in dm["RFXSTDTC"]  # aggregate: a ref
    assert ("DM", "RFXSTDTC") in dm["RFSTDTC"]  # copy: a variable
    ae = plan_domain(specs.sdtm["AE"]).deps
    assert {("SE", "SESTDTC"), ("SE", "EPOCH")} <= ae["EPOCH"]  # epoch by elements: unnamed refs
    assert ("DM", "RFSTDTC") in ae["AESTDY"]  # study_day: its default reference
    assert {("AE", "AEDECOD"), ("AE", "USUBJID")} <= ae["AESEQ"]  # seq: the keys
    assert all(("AE", RECORDS) in d for d in ae.values())


def test_record_sources_and_supplementals_come_after_what_they_read(specs):
    assert ("DM", "RFPENDTC") in record_deps(specs.sdtm["SE"], specs)  # DM.*
    assert ("AE", "AESEQ") in record_deps(specs.sdtm["SUPPAE"], specs)  # the parent's variables
    assert record_deps(specs.sdtm["EX"], specs) == set()


def test_one_order_with_raw_reads(specs):
    plan = plan_domains(specs)
    at = {node: i for i, node in enumerate(plan.order)}
    assert at[("DM", "RFXSTDTC")] > at[("EX", "EXSTDTC")] and at[("SE", RECORDS)] > at[("DM", "RFPENDTC")]
    assert plan.reads[("EX", RECORDS)] == {"dosing"} and plan.reads[("EX", "EXSTDTC")] == frozenset()


def test_seq_on_another_variable_is_refused(tmp_path):
    root = broken(tmp_path, "sdtm/ex.yaml", "map: {assign: lot}", "map: seq")
    with pytest.raises(SpecError, match=r"ex.yaml: variables.EXLOT.map: seq numbers the domain's sequence variable"):
        plan_domain(read_specs(root).sdtm["EX"])


WEIGHT_FROM_VS = "map: {derivation: merged, ref: VS.VSSTRESN, where: {VSTESTCD: WEIGHT, VSLOBXFL: Y}}"
WEIGHT_FROM_RAW = "map: {aggregate: {raw: enrollment.weight_kg, how: first}}"


def test_the_raw_files_the_analysis_datasets_read(specs, tmp_path):
    """specs/adam reads SDTM only (ADSL's baseline weight from VS); an analysis variable that reads a raw form (the
    enrollment form's weight) has that form's valid rows kept past the SDTM derivation."""
    assert analysis_raw_reads(specs) == set()
    raw_weight = read_specs(broken(tmp_path, "adam/adsl.yaml", WEIGHT_FROM_VS, WEIGHT_FROM_RAW))
    assert analysis_raw_reads(raw_weight) == {"enrollment"}

"""AE and SUPPAE of the sample against values worked out by hand and independently from the raw files."""

from __future__ import annotations

import pandas as pd
import pyreadstat
import pytest
import yaml

from flows.mapping.load import load_specs
from flows.review.safety import dlt_table
from tests.conftest import RAW, ROOT, STUDYID


@pytest.fixture(scope="module")
def sdtm(sample_export) -> dict[str, pd.DataFrame]:
    _, transfer = sample_export
    return {d: pyreadstat.read_xport(transfer / "xpt" / f"{d}.xpt")[0] for d in ("ae", "suppae", "dm")}


def subject(frame: pd.DataFrame, number: str) -> pd.DataFrame:
    return frame[frame["USUBJID"] == f"{STUDYID}-01-{number}"].reset_index(drop=True)


def test_named_subject_ae_records(sdtm):
    ae = subject(sdtm["ae"], "0014").set_index("AESPID")  # infused 2025-09-02 (DL2): day 1
    icans = ae.loc["1"]  # raw: ICANS 2025-09-04 to 09-06, CTCAE 3, ASTCT 3, serious, possibly related
    assert (icans["AEDECOD"], icans["AEBODSYS"]) == (
        "Immune effector cell-associated neurotoxicity syndrome",
        "Nervous system disorders",
    )
    assert (icans["AESTDY"], icans["AEENDY"], icans["AETOXGR"], icans["AESER"]) == (3, 5, "3", "Y")
    assert icans["EPOCH"] == "FOLLOW-UP" and icans["AESTDTC"] == "2025-09-04"
    late = ae.loc["7"]  # myasthenia gravis worsening 2026-05-27: day 268
    assert late["AESTDY"] == 268 and late["AEREL"] == "UNLIKELY RELATED"
    assert list(subject(sdtm["ae"], "0014")["AESEQ"]) == list(range(1, 8))


def test_every_raw_event_is_one_record(sdtm):
    raw = pd.read_csv(RAW / "adverse_events.csv", dtype=str)
    assert len(sdtm["ae"]) == len(raw)
    assert set(sdtm["ae"]["USUBJID"]) <= set(sdtm["dm"]["USUBJID"])


def independent_dlts() -> set[tuple[str, str]]:
    """(subject, AE number) of every DLT by the rule of study.yaml, from the raw files only."""
    study = yaml.safe_load((ROOT / "specs" / "study.yaml").read_text(encoding="utf-8"))["safety"]
    rule, related = study["dlt"], set(study["relationship"]["related"])
    ae = pd.read_csv(RAW / "adverse_events.csv", dtype=str)
    dose = pd.read_csv(RAW / "dosing.csv", dtype=str).groupby("subject")["start"].min().str.slice(0, 10)
    out = set()
    for r in ae.itertuples():
        if r.subject not in dose.index:
            continue
        day = (pd.Timestamp(r.start_date) - pd.Timestamp(dose[r.subject])).days + 1
        grade = int(r.astct_grade if isinstance(r.astct_grade, str) else r.ctcae_grade)
        lasted = (pd.Timestamp(r.end_date) - pd.Timestamp(r.start_date)).days if isinstance(r.end_date, str) else None
        if not (1 <= day <= 28 and grade >= 3 and r.causality in related):
            continue
        excepted = any(
            r.meddra_pt in e["terms"]
            and grade in e.get("grades", [grade])
            and ("resolved_within_days" not in e or (lasted is not None and lasted <= e["resolved_within_days"]))
            for e in rule["exceptions"]
        )
        if not excepted:
            out.add((r.subject, r.ae_number))
    return out


def test_dlt_flags_match_an_independent_reading_of_the_rule(sdtm):
    ae, supp = sdtm["ae"], sdtm["suppae"]
    flags = supp[supp["QNAM"] == "DLTFL"].merge(
        ae[["USUBJID", "AESEQ", "AESPID"]].assign(IDVARVAL=ae["AESEQ"].astype(int).astype(str)),
        on=["USUBJID", "IDVARVAL"],
    )
    assert len(flags) == len(ae)  # one flag per event
    got = {(u.rsplit("-", 1)[1], n) for u, n in flags.loc[flags["QVAL"] == "Y", ["USUBJID", "AESPID"]].values}
    assert got == independent_dlts()
    # 0014: ICANS grade 3 day 3; 0031: neutropenia and anaemia grade 3 lasting over 28 days (not the exception)
    assert got == {("0014", "1"), ("0018", "3"), ("0028", "1"), ("0031", "1"), ("0031", "2")}
    assert set(supp["QORIG"]) == {"Derived", "Assigned"} and set(supp["RDOMAIN"]) == {"AE"}


def test_grading_scale_per_event(sdtm):
    ae, supp = sdtm["ae"], sdtm["suppae"]
    scale = supp[supp["QNAM"] == "AETOXSC"].set_index(["USUBJID", "IDVARVAL"])["QVAL"]
    crs = ae[ae["AEDECOD"] == "Cytokine release syndrome"].iloc[0]
    other = ae[ae["AEDECOD"] == "Headache"].iloc[0]
    assert scale[(crs["USUBJID"], str(int(crs["AESEQ"])))] == "ASTCT 2019"
    assert scale[(other["USUBJID"], str(int(other["AESEQ"])))] == "CTCAE v5.0"


def test_summary_dlt_table_counts_subjects_with_an_independent_dlt(sdtm):
    table = dlt_table(sdtm["dm"], sdtm["ae"], sdtm["suppae"], load_specs().study).set_index("level")
    dm = sdtm["dm"].assign(n=sdtm["dm"]["USUBJID"].str.rsplit("-", n=1).str[1])
    level = dm.set_index("n")["ACTARMCD"]
    expected = pd.Series([level[s] for s in {s for s, _ in independent_dlts()}]).value_counts()
    for lv in ("DL1", "DL2", "DL3", "DL4"):
        assert table.loc[lv, "dlt"] == int(expected.get(lv, 0)), lv


def test_define_names_meddra_and_the_dlt_method(sample_export):
    _, transfer = sample_export
    define = (transfer / "define.xml").read_text(encoding="utf-8")
    assert '<ExternalCodeList Dictionary="MedDRA" Version="27.1" />' in define
    assert 'ItemOID="IT.SUPPAE.QVAL.DLTFL"' in define and 'MethodOID="MT.SUPPAE.QVAL.DLTFL"' in define

"""AE and SUPPAE of the sample against values worked out by hand and independently from the raw files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
import yaml

from flows.mapping.load import load_specs
from flows.review.safety import dlt_table
from tests.conftest import RAW, ROOT, STUDYID, run_cli


@pytest.fixture(scope="module")
def sdtm(sample_export) -> dict[str, pd.DataFrame]:
    _, transfer = sample_export
    return {d: pyreadstat.read_xport(transfer / "xpt" / f"{d}.xpt")[0] for d in ("ae", "suppae", "dm", "se")}


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


HIERARCHY = ["AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD",
             "AEBODSYS", "AEBDSYCD", "AESOC", "AESOCCD"]  # fmt: skip
CODED = {
    # 0014 AE 1 (raw line 38): verbatim ICANS, coded to the PT's own LLT; primary SOC Nervous system disorders
    ("0014", "1"): ["Immune effector cell-associated neurotoxicity syndrome", 10082888,
                    "Immune effector cell-associated neurotoxicity syndrome", 10082888,
                    "Encephalopathies NEC", 10014629, "Encephalopathies", 10014627,
                    "Nervous system disorders", 10029205, "Nervous system disorders", 10029205],
    # 0009 AE 2 (raw line 26): verbatim "Chills during infusion", coded to Infusion related reaction
    ("0009", "2"): ["Infusion related reaction", 10051792, "Infusion related reaction", 10051792,
                    "Administration site reactions NEC", 10001316,
                    "Procedural related injuries and complications NEC", 10069888,
                    "Injury, poisoning and procedural complications", 10022117,
                    "Injury, poisoning and procedural complications", 10022117],
}  # fmt: skip


@pytest.mark.parametrize(("number", "spid"), list(CODED))
def test_named_subjects_meddra_hierarchy_in_xpt_and_parquet(sample_export, number, spid):
    """Every Expected MedDRA variable of SDTMIG 3.4, read back with pyreadstat (XPT) and pyarrow (Parquet)."""
    _, transfer = sample_export
    xpt = subject(pyreadstat.read_xport(transfer / "xpt" / "ae.xpt")[0], number).set_index("AESPID")
    parquet = subject(pq.read_table(transfer / "parquet" / "ae.parquet").to_pandas(), number).set_index("AESPID")
    expected = CODED[(number, spid)]
    assert [xpt.loc[spid, v] for v in HIERARCHY] == expected  # codes come back as SAS numbers: 10082888.0 == ...
    assert [parquet.loc[spid, v] for v in HIERARCHY] == expected
    schema = pq.read_schema(transfer / "parquet" / "ae.parquet")
    assert str(schema.field("AEPTCD").type) == "int64" and schema.field("AEPTCD").metadata[b"label"] == (
        b"Preferred Term Code"
    )


def test_define_gives_dictionary_coded_variables_origin_assigned_and_sdtmig_roles(sample_export):
    """Define-XML 2.1: a value a dictionary assigns has origin Assigned; roles as SDTMIG 3.4 (AESOC a Variable
    Qualifier, AEBODSYS a Record Qualifier); the codes use an integer MedDRA codelist."""
    _, transfer = sample_export
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    root = ET.parse(transfer / "define.xml").getroot()
    refs = {r.get("ItemOID"): r for r in root.iterfind(".//odm:ItemGroupDef[@OID='IG.AE']/odm:ItemRef", ns)}
    items = {i.get("OID"): i for i in root.iterfind(".//odm:ItemDef", ns)}
    for name in HIERARCHY:
        item = items[f"IT.AE.{name}"]
        assert item.find("def:Origin", ns).get("Type") == "Assigned", name
        codelist = item.find("odm:CodeListRef", ns).get("CodeListOID")
        assert codelist == ("CL.MEDDRA.INTEGER" if name.endswith("CD") else "CL.MEDDRA"), name
        role = "Record Qualifier" if name == "AEBODSYS" else "Synonym Qualifier" if name == "AEDECOD" else None
        assert refs[f"IT.AE.{name}"].get("Role") == (role or "Variable Qualifier"), name
    codes = root.find(".//odm:CodeList[@OID='CL.MEDDRA.INTEGER']", ns)
    assert codes.get("DataType") == "integer"
    assert codes.find("odm:ExternalCodeList", ns).attrib == {"Dictionary": "MedDRA", "Version": "27.1"}


def infusions() -> pd.DataFrame:
    return pd.read_csv(RAW / "dosing.csv", dtype=str).set_index("subject")


def test_infusion_day_events_have_their_time(sdtm):
    """0009 was infused 2025-08-24 10:16 to 10:45 (dosing line 8): chills during the infusion at 10:23, CRS an hour
    and more after its end, both study day 1; an event without a time stays a date."""
    ae = subject(sdtm["ae"], "0009").set_index("AESPID")
    assert (ae.loc["2", "AETERM"], ae.loc["2", "AESTDTC"], ae.loc["2", "AESTDY"]) == (
        "Chills during infusion",
        "2025-08-24T10:23",
        1,
    )
    assert (ae.loc["1", "AEDECOD"], ae.loc["1", "AESTDTC"], ae.loc["1", "AESTDY"]) == (
        "Cytokine release syndrome",
        "2025-08-24T11:56",
        1,
    )
    icans = subject(sdtm["ae"], "0014").set_index("AESPID").loc["1"]
    assert icans["AESTDTC"] == "2025-09-04" and icans["AESTDY"] == 3  # no time collected


def test_an_event_during_the_infusion_is_in_the_treatment_epoch(sdtm):
    """0009's chills at 10:23 fall inside SE's TREATMENT element (10:16 to 10:45); the CRS at 11:56 in FOLLOW-UP."""
    ae = subject(sdtm["ae"], "0009").set_index("AESPID")
    se = subject(sdtm["se"], "0009").set_index("EPOCH")
    assert (se.loc["TREATMENT", "SESTDTC"], se.loc["TREATMENT", "SEENDTC"]) == ("2025-08-24T10:16", "2025-08-24T10:45")
    assert (ae.loc["2", "EPOCH"], ae.loc["1", "EPOCH"]) == ("TREATMENT", "FOLLOW-UP")


def test_every_timed_event_is_where_the_generator_puts_it():
    """Read independently from the raw files: an infusion reaction starts within its infusion, a CRS on day 1 at
    least an hour after the infusion ends; only CRS and infusion reactions have a time."""
    ae = pd.read_csv(RAW / "adverse_events.csv", dtype=str)
    dose = infusions()
    timed = ae[ae["start_time"].notna()]
    assert set(timed["meddra_pt"]) == {"Cytokine release syndrome", "Infusion related reaction"}
    reactions = ae[ae["meddra_pt"] == "Infusion related reaction"]
    assert len(reactions) and reactions["start_time"].notna().all()
    for r in reactions.itertuples():
        at = f"{r.start_date}T{r.start_time}"
        assert dose.loc[r.subject, "start"] <= at <= dose.loc[r.subject, "end"], r
    crs_day_one = timed[
        (timed["meddra_pt"] == "Cytokine release syndrome")
        & (timed["start_date"] == timed["subject"].map(dose["start"]).str.slice(0, 10))
    ]
    assert len(crs_day_one)
    for r in crs_day_one.itertuples():
        end = pd.Timestamp(dose.loc[r.subject, "end"])
        assert pd.Timestamp(f"{r.start_date}T{r.start_time}") >= end + pd.Timedelta(hours=1), r


def reject_line(raw: Path, column: str, value: str) -> int:
    """Set one cell of subject 0009's second AE (raw line 26); return the line."""
    frame = pd.read_csv(raw / "adverse_events.csv", dtype=str, keep_default_na=False)
    (idx,) = frame.index[(frame["subject"] == "0009") & (frame["ae_number"] == "2")]
    frame.loc[idx, column] = value
    frame.to_csv(raw / "adverse_events.csv", index=False, lineterminator="\n")
    return int(idx) + 2


@pytest.mark.parametrize(
    ("column", "value", "rules"),
    [
        ("meddra_version", "26.0", {"study:safety.dictionary.version"}),  # coded with another MedDRA version
        # 7 and 9 digits; the term then has two codes, so every row of it is also a same_within reject
        ("meddra_pt_code", "1005179", {"pattern", "same_within"}),
        ("meddra_soc_code", "100221170", {"pattern", "same_within"}),
        ("meddra_llt_code", "1005179X", {"type:integer", "pattern", "same_within"}),  # not a number
        ("start_time", "10:75", {"pattern"}),  # not a time of day
    ],
)
def test_bad_coding_is_a_row_reject_naming_file_line_column_rule(raw_copy, tmp_path, column, value, rules):
    line = reject_line(raw_copy, column, value)
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 1, proc.stderr
    transfer = tmp_path / "out" / STUDYID / "latest"
    rejects = pd.read_csv(transfer / "rejects.csv", dtype=str, keep_default_na=False)
    mine = rejects[(rejects["line"] == str(line)) & (rejects["column"] == column)]
    assert set(mine["file"]) == {"adverse_events.csv"} and set(mine["rule"]) == rules
    assert mine["value"].str.contains(value, regex=False).all()
    ae = pyreadstat.read_xport(transfer / "xpt" / "ae.xpt")[0]
    assert len(ae) == len(pd.read_csv(RAW / "adverse_events.csv")) - len(set(rejects["line"]))
    assert not ((ae["USUBJID"] == f"{STUDYID}-01-0009") & (ae["AESPID"] == "2")).any()

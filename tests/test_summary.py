"""Tests of flows/review/summary.py: the HTML tables against the frames they count, the inline SVG, determinism."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.mapping.engine import derive_datasets
from flows.mapping.load import load_specs
from flows.raw.validate import REJECT_COLUMNS
from flows.review import summary
from flows.spec.model import Specs, Study

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def specs() -> Specs:
    return load_specs()


# ----------------------------------------------------------------------------------------------------------------
# Inputs: small SDTM frames whose counts are easy to read off


def make_dm(specs: Specs) -> pd.DataFrame:
    """Seven subjects over the first two arms of the study, with a screen failure, a non-treated and a death."""
    study = specs.study
    a1, a2 = (a["armcd"] for a in study.arms[:2])
    sf, nt = study.data["arm_null_reasons"]["screen_failure"], study.data["arm_null_reasons"]["not_treated"]
    rows = [
        # SUBJID  RFICDTC       RFXSTDTC            RFPENDTC      DTHDTC     ARMCD ACTARMCD ARMNRS
        ("0001", "2025-05-10", "2025-06-10T09:30", "2025-12-01", None, a1, a1, None),  # treated at level 1
        ("0002", "2025-05-12", None, "2025-05-20", None, None, None, sf),  # screen failure
        ("0003", "2025-05-15", None, "2025-06-01", None, a1, None, nt),  # assigned, not treated
        ("0004", "2025-06-01", "2025-07-01T10:00", "2025-09-15", "2025-09", a1, a1, None),  # died, partial date
        ("0005", "2025-07-01", "2025-08-01T10:00", "2026-01-10", None, a2, a2, None),  # level 2
        ("0006", "2025-07-03", "2025-08-05T10:00", "2026-01-12", None, a2, a1, None),  # planned 2, dosed at 1
        ("0007", "2025-07-05", None, "2025-07-09", None, None, None, sf),  # screen failure
    ]
    dm = pd.DataFrame(
        rows, columns=["SUBJID", "RFICDTC", "RFXSTDTC", "RFPENDTC", "DTHDTC", "ARMCD", "ACTARMCD", "ARMNRS"]
    )
    names = {a["armcd"]: a["arm"] for a in study.arms}
    return dm.assign(
        STUDYID=study.studyid,
        DOMAIN="DM",
        USUBJID=study.studyid + "-01-" + dm["SUBJID"],
        SITEID="01",
        ARM=dm["ARMCD"].map(names),
        ACTARM=dm["ACTARMCD"].map(names),
        DTHFL=np.where(dm["DTHDTC"].notna(), "Y", None),
        AGE=[40, 50, 60, 30, 45, 35, 70],
        AGEU="YEARS",
        SEX=["F", "M", "F", "M", "F", "F", "M"],
    )


def make_ex(dm: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    """One infusion per treated subject at the dose of its actual arm."""
    dose = {a["armcd"]: a["dose"] for a in specs.study.arms}
    treated = dm[dm["ACTARMCD"].notna()]
    return pd.DataFrame(
        {
            "STUDYID": treated["STUDYID"],
            "DOMAIN": "EX",
            "USUBJID": treated["USUBJID"],
            "EXSEQ": 1,
            "EXDOSE": treated["ACTARMCD"].map(dose),
            "EXSTDTC": treated["RFXSTDTC"],
            "EXENDTC": treated["RFXSTDTC"],
        }
    ).reset_index(drop=True)


def make_ie(dm: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    """Failed criteria: 0002 fails one inclusion and one exclusion, 0007 the same exclusion (twice, as a dup)."""
    crit = {c["code"]: c for c in specs.study.criteria}
    incl = next(c for c in crit if crit[c]["category"] == "INCLUSION")
    excl = next(c for c in crit if crit[c]["category"] == "EXCLUSION")
    sid = dm.set_index("SUBJID")["USUBJID"]
    rows = [(sid["0002"], incl), (sid["0002"], excl), (sid["0007"], excl), (sid["0007"], excl)]
    ie = pd.DataFrame(rows, columns=["USUBJID", "IETESTCD"])
    return ie.assign(
        STUDYID=specs.study.studyid,
        DOMAIN="IE",
        IETEST=ie["IETESTCD"].map(lambda c: crit[c]["test"]),
        IECAT=ie["IETESTCD"].map(lambda c: crit[c]["category"]),
    )


def make_ae(dm: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    """AEs of the treated subjects of make_dm; grades, seriousness and relationship chosen to be counted by hand."""
    crs, icans = specs.study.data["safety"]["special_interest"].values()
    rel, unrel = "RELATED", "NOT RELATED"
    rows = [
        # SUBJID AESEQ AEDECOD                     AETOXGR AESER AEREL AESTDTC  AESTDY (infusion = day 1)
        ("0001", 1, crs, "2", "N", rel, "2025-06-11", 2),  # level 1, infused 06-10
        ("0001", 2, "Neutrophil count decreased", "4", "Y", rel, "2025-06-12", 3),  # DLT
        ("0004", 1, crs, "3", "Y", rel, "2025-07-02", 2),  # level 1, DLT, infused 07-01
        ("0004", 2, icans, "1", "N", rel, "2025-07-05", 5),
        ("0004", 3, "Sepsis", "5", "Y", unrel, "2025-09-10", 72),  # fatal, not related
        ("0005", 1, "Headache", "1", "N", unrel, "2025-08-03", 3),  # level 2: flagged N in SUPPAE; infused 08-01
        ("0006", 1, crs, "1", "N", rel, "2025-08-06", 2),  # planned level 2, dosed at level 1 on 08-05
        ("0006", 2, crs, "2", "N", rel, "2025-08-20", 16),  # a second CRS: worst grade 2
        ("0099", 1, crs, "4", "Y", rel, "2025-08-20", None),  # not in DM as treated: never counted
    ]
    columns = ["SUBJID", "AESEQ", "AEDECOD", "AETOXGR", "AESER", "AEREL", "AESTDTC", "AESTDY"]
    ae = pd.DataFrame(rows, columns=columns).astype({"AESTDY": "Int64"})
    return ae.assign(
        STUDYID=specs.study.studyid,
        DOMAIN="AE",
        USUBJID=specs.study.studyid + "-01-" + ae["SUBJID"],
        AETERM=ae["AEDECOD"],
        AEBODSYS="Some SOC",
        AEENDTC=None,
        AEOUT=np.where(ae["AETOXGR"] == "5", "FATAL", "RECOVERED/RESOLVED"),
    ).drop(columns="SUBJID")


def make_suppae(specs: Specs) -> pd.DataFrame:
    """DLT flags: 0001 seq 2 and 0004 seq 1 are DLTs, 0005 seq 1 explicitly not; plus a grading-scale row."""
    rows = [("0001", "2", "DLTFL", "Y"), ("0004", "1", "DLTFL", "Y"), ("0005", "1", "DLTFL", "N")]
    rows += [("0005", "1", "AETOXSC", "CTCAE v5.0"), ("0001", "1", "AETOXSC", "Y")]  # not a DLT flag
    supp = pd.DataFrame(rows, columns=["SUBJID", "IDVARVAL", "QNAM", "QVAL"])
    return supp.assign(
        STUDYID=specs.study.studyid,
        RDOMAIN="AE",
        USUBJID=specs.study.studyid + "-01-" + supp["SUBJID"],
        IDVAR="AESEQ",
    ).drop(columns="SUBJID")


def make_rejects() -> pd.DataFrame:
    rows = [
        # file            line column         value   rule            message
        ("enrollment.csv", 5, "sex", "X", "codelist", "not in SEX"),
        ("enrollment.csv", 5, "race", "Z", "codelist", "not in RACE"),  # same row, same rule: 2 records, 1 row
        ("dosing.csv", 3, "start", "x", "codelist", "not in ..."),
        ("dosing.csv", 3, "start", "x", "<iso & date>", "bad <date>"),  # same row, another rule
        ("dosing.csv", 4, "subject", "9", "unknown_subject", "subject not screened"),
    ]
    return pd.DataFrame(rows, columns=REJECT_COLUMNS)


@pytest.fixture(scope="module")
def datasets(specs: Specs) -> dict[str, pd.DataFrame]:
    dm = make_dm(specs)
    return {"DM": dm, "EX": make_ex(dm, specs), "IE": make_ie(dm, specs)}


# ----------------------------------------------------------------------------------------------------------------
# An independent reader of the HTML tables


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs)["id"]
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th") and self._id:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._id][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, pd.DataFrame]:
    """Every <table id=...> as a frame of strings, header row as columns."""
    parser = _Tables()
    parser.feed(html)
    return {k: pd.DataFrame(rows[1:], columns=rows[0]) for k, rows in parser.tables.items()}


def embedded_svg(html: str) -> ET.Element:
    """The one inline <svg> of the page, parsed as XML."""
    (svg,) = re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL)
    return ET.fromstring(svg)


def infusion_markers(svg: ET.Element) -> int:
    return sum(len(g.findall(f"{SVG}use")) for g in svg.iter(f"{SVG}g") if g.get("class") == "infusions")


def write(tmp_path: Path, datasets, rejects, specs, cutoff="2026-01-31", name="summary.html") -> str:
    path = tmp_path / name
    summary.write_summary(datasets, rejects, specs, cutoff, path)
    return path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------------
# Tables


def test_arm_counts_match_dm(tmp_path, datasets, specs):
    dm = datasets["DM"]
    arms = tables(write(tmp_path, datasets, make_rejects(), specs))["arms"].set_index("ARM")
    not_treated = specs.study.data["arm_null_reasons"]["not_treated"]
    for arm in specs.study.arms:
        row = arms.loc[arm["arm"]]
        planned = dm["ARMCD"] == arm["armcd"]
        assert row["ARMCD"] == arm["armcd"]
        assert int(row["Screened"]) == planned.sum()
        assert int(row["Assigned"]) == planned.sum()
        assert int(row["Treated"]) == (dm["ACTARMCD"] == arm["armcd"]).sum()
        assert int(row["Not treated"]) == (planned & (dm["ARMNRS"] == not_treated)).sum()
    sf = specs.study.data["arm_null_reasons"]["screen_failure"]
    assert int(arms.loc[sf, "Screened"]) == (dm["ARMNRS"] == sf).sum() == 2
    total = arms[arms["ARMCD"] == "Total"].iloc[0]
    assert [int(total[c]) for c in ("Screened", "Assigned", "Treated", "Not treated")] == [7, 5, 4, 1]


def test_assigned_not_treated_without_end_of_study_is_not_yet_treated_at_the_cut(tmp_path, datasets, specs):
    """0003 is assigned, not treated: with no end-of-study record in DS it is pending at the cut; with one, not."""
    dm = datasets["DM"]
    nt = dm.loc[dm["SUBJID"] == "0003", "USUBJID"].iloc[0]
    milestones = pd.DataFrame({"USUBJID": [nt, nt], "DSCAT": ["PROTOCOL MILESTONE"] * 2})
    ended = pd.concat([milestones, pd.DataFrame({"USUBJID": [nt], "DSCAT": ["DISPOSITION EVENT"]})])
    for ds, pending in ((milestones, 1), (ended, 0)):
        arms = tables(write(tmp_path, {**datasets, "DS": ds}, make_rejects(), specs))["arms"].set_index("ARMCD")
        assert int(arms.loc["Total", "Not treated"]) == 1
        assert int(arms.loc["Total", "Not yet treated at the cut"]) == pending
        assert int(arms.loc[specs.study.arms[0]["armcd"], "Not yet treated at the cut"]) == pending
    html = write(tmp_path, {**datasets, "DS": milestones}, make_rejects(), specs, cutoff=None)
    assert "Not yet treated</th>" in html and "at the cut" not in html
    assert "Not yet treated" not in write(tmp_path, datasets, make_rejects(), specs)  # no DS: cannot tell


def test_arm_rows_follow_the_study_spec(tmp_path, datasets, specs):
    """Arm codes and labels come from specs: renaming an arm there renames its row."""
    data = dict(specs.study.data)
    data["arms"] = [{**a, "arm": f"Renamed <{a['armcd']}>"} for a in specs.study.arms]
    renamed = dataclasses.replace(specs, study=Study(data, specs.study.path))
    html = write(tmp_path, datasets, make_rejects(), renamed)
    labels = tables(html)["arms"]["ARM"].tolist()
    assert labels[: len(data["arms"])] == [f"Renamed <{a['armcd']}>" for a in data["arms"]]
    assert "Renamed &lt;" in html and "Renamed <" not in html


def test_failed_criteria_match_ie(tmp_path, datasets, specs):
    ie = datasets["IE"]
    got = tables(write(tmp_path, datasets, make_rejects(), specs))["criteria"]
    expected = ie.groupby("IETESTCD")["USUBJID"].nunique()  # the duplicated IE row counts once
    assert dict(zip(got["IETESTCD"], got["Subjects"].astype(int), strict=True)) == expected.to_dict()
    failures = datasets["DM"]["ARMNRS"] == specs.study.data["arm_null_reasons"]["screen_failure"]
    of_failures = ie[ie["USUBJID"].isin(datasets["DM"].loc[failures, "USUBJID"])].groupby("IETESTCD")["USUBJID"]
    assert dict(zip(got["IETESTCD"], got["of which screen failures"].astype(int), strict=True)) == (
        of_failures.nunique().to_dict()
    )
    assert got.set_index("IETESTCD")["IETEST"].to_dict() == ie.groupby("IETESTCD")["IETEST"].first().to_dict()
    order = [c["code"] for c in specs.study.criteria]
    assert got["IETESTCD"].tolist() == sorted(got["IETESTCD"], key=order.index)  # protocol order


def test_reject_counts_by_rule_match_rejects(tmp_path, datasets, specs):
    rejects = make_rejects()
    html = write(tmp_path, datasets, rejects, specs)
    got = tables(html)["rejects"].set_index("Rule")
    for rule, group in rejects.groupby("rule"):
        assert int(got.loc[rule, "Reject records"]) == len(group)
        assert int(got.loc[rule, "Raw rows (file + line)"]) == len(group.drop_duplicates(["file", "line"]))
    assert (int(got.loc["codelist", "Reject records"]), int(got.loc["codelist", "Raw rows (file + line)"])) == (3, 2)
    assert int(got.loc["Total", "Reject records"]) == 5
    assert int(got.loc["Total", "Raw rows (file + line)"]) == 3  # enrollment 5, dosing 3, dosing 4
    assert "&lt;iso &amp; date&gt;" in html  # rule names are escaped


def test_rejected_rows_per_raw_contract(specs):
    by_file = summary.rejected_rows(make_rejects(), specs)  # enrollment line 5; dosing lines 3 and 4
    assert by_file == {
        "adverse_events": 0,
        "assessments": 0,
        "dosing": 2,
        "eligibility": 0,
        "enrollment": 1,
        "vital_signs": 0,
    }
    given = summary.rejected_rows(make_rejects(), specs, {"adverse_events": 3})  # the validation's counts win
    assert given["adverse_events"] == 3 and given["dosing"] == 0


@pytest.mark.parametrize(
    ("domains", "inputs"),
    [
        (["AE"], ["adverse_events"]),
        (["SUPPAE"], ["adverse_events"]),  # a SUPP-- dataset reads its parent's rows
        (["AE", "SUPPAE", "DM", "DS"], ["adverse_events", "enrollment"]),  # DS comes from enrollment too: once
        (["TS", "TA"], []),  # built from the specs
    ],
)
def test_inputs_of(specs, domains, inputs):
    assert summary.inputs_of(domains, specs) == inputs


def test_rejected_note_names_each_file_and_its_count(specs):
    rejected = {"adverse_events": 3, "enrollment": 1}
    assert summary.rejected_note("103 AEs counted", ["adverse_events"], rejected, specs) == (
        "103 AEs counted; 3 rows of adverse_events.csv rejected at validation, not counted (see rejects.csv)."
    )
    assert summary.rejected_note("n", ["adverse_events", "enrollment", "dosing"], rejected, specs) == (
        "n; 3 rows of adverse_events.csv, 1 row of enrollment.csv and 0 rows of dosing.csv rejected at validation, "
        "not counted (see rejects.csv)."
    )
    assert summary.rejected_note("13 TS records", [], rejected, specs) == "13 TS records."
    odm = load_specs(ROOT / "tests" / "studies" / "S103-odm" / "specs")  # every form in clinical_data.xml
    assert summary.rejected_note("n", ["adverse_events", "enrollment"], rejected, odm) == (
        "n; 3 rows of clinical_data.xml (adverse_events) and 1 row of clinical_data.xml (enrollment) rejected at "
        "validation, not counted (see rejects.csv)."
    )


def test_domain_rows_rejected_from_the_run(tmp_path, datasets, specs):
    got = tables(write(tmp_path, datasets, make_rejects(), specs))["domains"].set_index("Domain")
    assert got["Raw rows rejected, not counted"].to_dict() == {"DM": "1", "EX": "2", "IE": "0"}  # by make_rejects
    path = tmp_path / "counted.html"
    summary.write_summary(datasets, make_rejects(), specs, None, path, rejected={"enrollment": 4})
    got = tables(path.read_text(encoding="utf-8"))["domains"].set_index("Domain")
    assert got["Raw rows rejected, not counted"].to_dict() == {"DM": "4", "EX": "0", "IE": "0"}


def test_domain_counts(tmp_path, datasets, specs):
    got = tables(write(tmp_path, datasets, make_rejects(), specs))["domains"].set_index("Domain")
    for domain, frame in datasets.items():
        assert int(got.loc[domain, "Records"]) == len(frame)
        assert int(got.loc[domain, "Subjects"]) == frame["USUBJID"].nunique()


def test_header_names_study_and_data_cut(tmp_path, datasets, specs):
    html = write(tmp_path, datasets, make_rejects(), specs, cutoff="2026-01-31")
    assert specs.study.studyid in html and "<dd>2026-01-31</dd>" in html
    assert "<dt>Data cut</dt><dd>none</dd>" in write(tmp_path, datasets, make_rejects(), specs, cutoff=None)


# ----------------------------------------------------------------------------------------------------------------
# Picture and determinism


def test_inline_svg_parses(tmp_path, datasets, specs):
    svg = embedded_svg(write(tmp_path, datasets, make_rejects(), specs))
    assert svg.tag == f"{SVG}svg" and svg.get("class") == "escalation"
    assert svg.find(f"{SVG}title").text.startswith(specs.study.studyid)
    assert infusion_markers(svg) == len(datasets["EX"])


def test_two_writes_are_byte_identical(tmp_path, datasets, specs):
    first = (tmp_path / "a.html", tmp_path / "b.html")
    for path in first:
        summary.write_summary(datasets, make_rejects(), specs, "2026-01-31", path)
    assert first[0].read_bytes() == first[1].read_bytes()


def test_row_order_does_not_change_the_output(tmp_path, datasets, specs):
    shuffled = {k: v.sample(frac=1, random_state=3) for k, v in datasets.items()}
    a = write(tmp_path, datasets, make_rejects(), specs, name="a.html")
    b = write(tmp_path, shuffled, make_rejects().iloc[::-1], specs, name="b.html")
    assert a == b


def test_identical_across_processes(tmp_path, datasets, specs):
    """A fresh interpreter with another hash seed writes the same bytes (no set or dict order leaks in)."""
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, 'tests');"
        "import test_summary as t; from flows.review import summary; from flows.mapping.load import load_specs;"
        "s = load_specs(); dm = t.make_dm(s);"
        "summary.write_summary({'DM': dm, 'EX': t.make_ex(dm, s), 'IE': t.make_ie(dm, s)}, t.make_rejects(), s,"
        " '2026-01-31', Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "other.html")], cwd=ROOT, env=env, check=True)
    summary.write_summary(datasets, make_rejects(), specs, "2026-01-31", tmp_path / "here.html")
    assert (tmp_path / "other.html").read_bytes() == (tmp_path / "here.html").read_bytes()


def test_empty_rejects_ex_and_ie(tmp_path, datasets, specs):
    empty = {
        "DM": datasets["DM"],
        "EX": datasets["EX"].iloc[0:0],
        "IE": datasets["IE"].iloc[0:0],
    }
    html = write(tmp_path, empty, pd.DataFrame(columns=REJECT_COLUMNS), specs, cutoff=None)
    assert "No raw rows rejected." in html
    assert "No IE records" in html
    assert "rejects" not in tables(html) and "criteria" not in tables(html)
    assert infusion_markers(embedded_svg(html)) == 0


# ----------------------------------------------------------------------------------------------------------------
# End to end on the committed sample


@pytest.mark.skipif(not any((ROOT / "raw").glob("*.csv")), reason="no sample raw exports in raw/")
def test_sample_summary_matches_datasets(tmp_path, specs):
    from flows.run import pipeline

    raw = pipeline.read_inputs(ROOT / "raw", specs)
    validation = pipeline.validate_raw(raw, specs)
    datasets = derive_datasets(validation.valid, specs)
    html = write(tmp_path, datasets, validation.rejects, specs)
    got = tables(html)
    dm = datasets["DM"]
    total = got["arms"][got["arms"]["ARMCD"] == "Total"].iloc[0]
    assert int(total["Screened"]) == len(dm)
    assert int(total["Treated"]) == dm["ACTARMCD"].notna().sum()
    assert int(got["domains"].set_index("Domain").loc["EX", "Records"]) == len(datasets["EX"])
    assert write(tmp_path, datasets, validation.rejects, specs, name="again.html") == html


# ----------------------------------------------------------------------------------------------------------------
# Safety review (only when AE is among the datasets)


def with_safety(datasets, specs) -> dict[str, pd.DataFrame]:
    return {**datasets, "AE": make_ae(datasets["DM"], specs), "SUPPAE": make_suppae(specs)}


def test_safety_section_only_with_ae(tmp_path, datasets, specs):
    html = write(tmp_path, datasets, make_rejects(), specs)
    assert "Safety review" not in html and "safety-dlt" not in tables(html)
    html = write(tmp_path, with_safety(datasets, specs), make_rejects(), specs, name="safety.html")
    got = tables(html)
    assert {"safety-demographics", "safety-disposition", "safety-exposure", "safety-ae", "safety-dlt"} <= set(got)
    assert "Weight is left out" in html and specs.study.data["safety"]["dlt"]["text"] in html


def test_safety_dlt_table_matches_suppae(tmp_path, datasets, specs):
    full = with_safety(datasets, specs)
    got = tables(write(tmp_path, full, make_rejects(), specs))["safety-dlt"].set_index("Dose level")
    supp, dm = full["SUPPAE"], full["DM"]
    flagged = supp[(supp["QNAM"] == "DLTFL") & (supp["QVAL"] == "Y")].merge(
        full["AE"].assign(IDVARVAL=full["AE"]["AESEQ"].astype(str)), on=["USUBJID", "IDVARVAL"]
    )
    per_level = flagged["USUBJID"].map(dm.set_index("USUBJID")["ACTARMCD"]).value_counts()
    for arm in specs.study.arms:
        code = arm["armcd"]
        assert int(got.loc[code, "Subjects with a DLT"]) == per_level.get(code, 0)
        assert int(got.loc[code, "Treated"]) == (dm["ACTARMCD"] == code).sum()
    assert got.loc[specs.study.arms[0]["armcd"], "Rule decides"] == "STOP: MTD EXCEEDED"


def test_safety_markers_are_in_the_picture(tmp_path, datasets, specs):
    full = with_safety(datasets, specs)
    svg = embedded_svg(write(tmp_path, full, make_rejects(), specs))
    kinds = {g.get("data-kind") for g in svg.iter(f"{SVG}g") if g.get("class") == "events"}
    assert kinds == {*specs.study.data["safety"]["special_interest"], "DLT"}


def test_safety_section_row_order_does_not_change_the_output(tmp_path, datasets, specs):
    full = with_safety(datasets, specs)
    shuffled = {k: v.sample(frac=1, random_state=5) for k, v in full.items()}
    a = write(tmp_path, full, make_rejects(), specs, name="a.html")
    assert a == write(tmp_path, shuffled, make_rejects(), specs, name="b.html")


def test_ae_without_a_safety_section_in_the_study(tmp_path, datasets, specs):
    """A study whose specs state no safety rules gets no safety review, and no crash."""
    data = {k: v for k, v in specs.study.data.items() if k != "safety"}
    bare = dataclasses.replace(specs, study=Study(data, specs.study.path))
    html = write(tmp_path, with_safety(datasets, specs), make_rejects(), bare)
    assert "Safety review" not in html and infusion_markers(embedded_svg(html)) == len(datasets["EX"])


def test_dlt_listing_beyond_its_length_shows_the_provisional_rows_first(tmp_path, datasets, specs, monkeypatch):
    full = with_safety(datasets, specs)
    dm = full["DM"]
    full["DM"] = dm.assign(RFPENDTC=dm["RFPENDTC"].where(dm["SUBJID"] != "0006", "2025-08-10"))  # 0006: day 6 of 28
    listing = tables(write(tmp_path, full, make_rejects(), specs, cutoff="2025-08-10"))["safety-dlt-listing"]
    assert listing[["Subject", "Status"]].values.tolist() == [
        ["01-0001", "DLT"],  # level 1 in subject order: 0001's neutropenia, 0004's CRS, 0006 in its window
        ["01-0004", "DLT"],
        ["01-0006", "provisional: not yet evaluable"],
    ]
    monkeypatch.setattr(summary, "LISTED", 2)
    html = write(tmp_path, full, make_rejects(), specs, cutoff="2025-08-10", name="short.html")
    assert tables(html)["safety-dlt-listing"]["Subject"].tolist() == ["01-0001", "01-0006"]  # 0006 kept, 0004 not
    assert "1 more rows not listed; the table above counts them." in html

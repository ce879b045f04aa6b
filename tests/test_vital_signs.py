"""VS end to end (SDTMIG 3.4 Findings): the vital signs form, and the weight of the enrollment and infusion forms,
exported from raw/ and read back from XPT (pyreadstat) and Parquet (pyarrow), against values read off the raw files
by hand for named subjects; a systolic pressure below the diastolic is a reject naming file, line, column and rule."""

from __future__ import annotations

import csv

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from tests.conftest import STUDYID, run_cli

CRS = "Cytokine release syndrome"


def usubjid(subject: str) -> str:
    return f"{STUDYID}-01-{subject}"


@pytest.fixture(scope="module", params=["xpt", "parquet"])
def vs(request, sample_export) -> pd.DataFrame:
    """VS as an independent reader sees it: SAS XPORT through pyreadstat (blank text, missing numbers as NaN), or
    Parquet through pyarrow (nulls); text blanks are made None either way."""
    _, transfer = sample_export
    if request.param == "xpt":
        frame, _ = pyreadstat.read_xport(str(transfer / "xpt" / "vs.xpt"))
    else:
        frame = pq.read_table(transfer / "parquet" / "vs.parquet").to_pandas()
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.replace({"": None})


def record(vs: pd.DataFrame, subject: str, test: str, visit: str, tpt: str | None = None) -> dict:
    rows = vs[(vs["USUBJID"] == usubjid(subject)) & (vs["VSTESTCD"] == test) & (vs["VISIT"] == visit)]
    rows = rows[rows["VSTPT"].isna()] if tpt is None else rows[rows["VSTPT"] == tpt]
    assert len(rows) == 1, (subject, test, visit, tpt, len(rows))
    return rows.iloc[0].to_dict()


def test_baseline_weight_is_the_weight_of_the_dose(vs):
    """0005: enrollment.csv and dosing.csv both say 66.7 kg; the infusion started 2025-07-10T09:53. The dose's weight
    (dated the infusion day, before the infusion) is the last before exposure; the enrollment form's has no date."""
    dosed = record(vs, "0005", "WEIGHT", "DAY 1")
    assert (dosed["VSORRES"], dosed["VSORRESU"], dosed["VSSTRESN"], dosed["VSSTRESU"]) == ("66.7", "kg", 66.7, "kg")
    assert (dosed["VSLOBXFL"], dosed["VSDTC"], dosed["VSDY"], dosed["VISITNUM"]) == ("Y", "2025-07-10", 1, 3)
    assert dosed["VSTEST"] == "Weight" and dosed["VSPOS"] is None and dosed["VSTPT"] is None
    assert dosed["EPOCH"] == "SCREENING"  # before the infusion, though dated only by its day
    screening = record(vs, "0005", "WEIGHT", "SCREENING")
    assert (screening["VSSTRESN"], screening["VISITNUM"]) == (66.7, 1)
    assert screening["VSLOBXFL"] is None and screening["VSDTC"] is None and screening["VSDY"] is None
    assert screening["EPOCH"] == "SCREENING"


def test_height_at_screening(vs):
    """0005: 172.1 cm on 2025-06-09 at 09:43, 31 days before the infusion (2025-07-10): study day -31 (no day 0)."""
    height = record(vs, "0005", "HEIGHT", "SCREENING")
    assert (height["VSORRES"], height["VSORRESU"], height["VSSTRESN"]) == ("172.1", "cm", 172.1)
    assert (height["VSDTC"], height["VSDY"], height["VSLOBXFL"], height["EPOCH"]) == (
        "2025-06-09T09:43",
        -31,
        "Y",
        "SCREENING",
    )
    assert len(vs[(vs["VSTESTCD"] == "HEIGHT") & (vs["VISIT"] != "SCREENING")]) == 0  # measured once


def test_crs_subject_has_fever_and_hypotension_at_the_onset(vs):
    """0016 (DL2): CRS from 2025-09-18, the infusion day (start 09:09), ASTCT grade 3. vital_signs.csv line 262: 36.6 C
    before the infusion (08:36), 39.8 C with 77/44 mmHg and 87 beats/min at 4 h (13:15)."""
    pre = record(vs, "0016", "TEMP", "DAY 1", "PRE-INFUSION")
    assert (pre["VSSTRESN"], pre["VSDTC"], pre["VSLOBXFL"], pre["VSELTM"]) == (36.6, "2025-09-18T08:36", "Y", "-PT30M")
    hot = record(vs, "0016", "TEMP", "DAY 1", "4H POST")
    assert (hot["VSORRES"], hot["VSORRESU"], hot["VSSTRESN"], hot["VSDTC"]) == ("39.8", "C", 39.8, "2025-09-18T13:15")
    assert (hot["VSTPTNUM"], hot["VSELTM"], hot["VSTPTREF"]) == (3, "PT4H", "S103 INFUSION START")
    assert (hot["VSRFTDTC"], hot["VSDY"], hot["VSLOBXFL"]) == ("2025-09-18T09:09", 1, None)  # after the dose
    systolic, diastolic = (
        record(vs, "0016", "SYSBP", "DAY 1", "4H POST"),
        record(vs, "0016", "DIABP", "DAY 1", "4H POST"),
    )
    assert (systolic["VSSTRESN"], diastolic["VSSTRESN"], systolic["VSPOS"]) == (77, 44, "SUPINE")
    assert record(vs, "0016", "HR", "DAY 1", "4H POST")["VSSTRESN"] == 87


def test_every_crs_onset_has_a_fever_that_day(vs, sample_export):
    """For each CRS event of AE: a temperature >= 38.0 C measured on its start date (ASTCT: fever defines CRS)."""
    _, transfer = sample_export
    ae = pq.read_table(transfer / "parquet" / "ae.parquet").to_pandas()
    crs = ae[ae["AEDECOD"] == CRS]
    assert len(crs) >= 10
    temp = vs[vs["VSTESTCD"] == "TEMP"].assign(day=lambda f: f["VSDTC"].str.slice(0, 10))
    for subject, onset in zip(crs["USUBJID"], crs["AESTDTC"], strict=True):
        that_day = temp[(temp["USUBJID"] == subject) & (temp["day"] == onset[:10])]  # a date, or with its time
        assert that_day["VSSTRESN"].astype(float).max() >= 38.0, (subject, onset)


def test_seq_and_study_days_of_one_subject(vs):
    """0005 in key order (VSTESTCD, VISITNUM, VSTPTREF, VSTPTNUM): DIABP at 2 visits before, 16 time points and 5
    visits after the infusion (1-23), HEIGHT (24), HR (25-47), SYSBP (48-70), TEMP (71-93), WEIGHT at screening
    (94) and on the infusion day (95). Day 1 = 2025-07-10; screening 2025-06-09 is day -31, baseline 2025-07-06 day
    -4, 24 h after the infusion (2025-07-11) day 2."""
    mine = vs[vs["USUBJID"] == usubjid("0005")].sort_values("VSSEQ")
    assert list(mine["VSSEQ"]) == list(range(1, 96))
    first = {t: int(mine.loc[mine["VSTESTCD"] == t, "VSSEQ"].min()) for t in mine["VSTESTCD"].unique()}
    assert first == {"DIABP": 1, "HEIGHT": 24, "HR": 25, "SYSBP": 48, "TEMP": 71, "WEIGHT": 94}
    diabp = mine[mine["VSTESTCD"] == "DIABP"]
    assert list(diabp["VSDY"].iloc[[0, 1, 2, 5]]) == [-31, -4, 1, 2]
    assert list(diabp["VSTPT"].iloc[2:5]) == ["PRE-INFUSION", "1H POST", "4H POST"]
    assert list(diabp["VSSTRESN"].iloc[:2]) == [80, 73]  # vital_signs.csv: 137/80 at screening, 133/73 at baseline


def test_systolic_below_diastolic_is_rejected(raw_copy, tmp_path):
    """Line 48 of vital_signs.csv (0003 at screening, 121/87 mmHg) written 88/91: a row reject naming file, line,
    column and rule; its other measurements are rejected with it, the rest of the export goes on (exit 1)."""
    path = raw_copy / "vital_signs.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[47] == "01,0003,SCREENING,,2025-05-30,10:33,SITTING,168.0,36.6,87,121,87\n"
    lines[47] = lines[47].replace(",121,87", ",88,91")
    path.write_text("".join(lines), encoding="utf-8")
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 1, proc.stderr
    transfer = next((tmp_path / "out").glob("*/latest"))
    with (transfer / "rejects.csv").open(encoding="utf-8", newline="") as fh:
        rejects = [r for r in csv.DictReader(fh) if r["file"] == "vital_signs.csv"]
    assert [(r["line"], r["column"], r["value"], r["rule"]) for r in rejects] == [
        ("48", "systolic_bp", "88", "greater_than")
    ]
    assert "diastolic_bp" in rejects[0]["message"]
    vs = pq.read_table(transfer / "parquet" / "vs.parquet").to_pandas()
    assert set(vs.loc[vs["USUBJID"] == usubjid("0003"), "VSTESTCD"]) == set()  # 0003 has no weight: no record


def test_define_describes_each_vs_result_by_test_code(sample_export):
    """Value-level metadata: VSORRES, VSSTRESC and VSSTRESN by VSTESTCD, one where clause per test code."""
    from lxml import etree

    _, transfer = sample_export
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    root = etree.parse(str(transfer / "define.xml"))
    tests = ["DIABP", "HEIGHT", "HR", "SYSBP", "TEMP", "WEIGHT"]
    for var in ("VSORRES", "VSSTRESC", "VSSTRESN"):
        refs = root.findall(f".//def:ValueListDef[@OID='VL.VS.{var}']/odm:ItemRef", ns)
        assert [r.get("ItemOID") for r in refs] == [f"IT.VS.{var}.{t}" for t in tests], var
    temp = root.find(".//odm:ItemDef[@OID='IT.VS.VSSTRESN.TEMP']", ns)
    assert (temp.get("DataType"), temp.get("SignificantDigits")) == ("float", "1")  # 36.6 C
    clause = root.find(".//def:WhereClauseDef[@OID='WC.VS.VSTESTCD.TEMP']/odm:RangeCheck", ns)
    assert [v.text for v in clause] == ["TEMP"] and clause.get(f"{{{ns['def']}}}ItemOID") == "IT.VS.VSTESTCD"

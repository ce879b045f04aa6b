"""Subject timing end to end (issue 21): SV's infusion and missed visits, SE open for ongoing subjects, the DM dates
of the subject assigned and never treated, and AE EPOCH by date and time. Runs the CLI (or takes the session's
sample export) and reads csv/ and trace.csv back with the csv module."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, STUDYID, run_cli


def rows(transfer: Path, domain: str) -> list[dict[str, str]]:
    with (transfer / "csv" / f"{domain}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def of(records: list[dict[str, str]], subject: str, **match: str) -> list[dict[str, str]]:
    usubjid = f"{STUDYID}-01-{subject}"
    return [r for r in records if r["USUBJID"] == usubjid and all(r[k] == v for k, v in match.items())]


def export(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "out"
    done = run_cli("export", "--out", str(out), "--quiet", *args)
    assert done.returncode == 0, done.stderr
    return out / STUDYID / "latest"


def test_the_infusion_visit_of_a_treated_subject(sample_export):
    _, transfer = sample_export
    sv = rows(transfer, "sv")
    # 0001: infused 2025-06-17 11:42-12:11 (dosing.csv); the visit is dated by the day, the times are EX's
    (day1,) = of(sv, "0001", VISIT="DAY 1")
    assert (day1["VISITNUM"], day1["VISITDY"], day1["SVPRESP"], day1["SVOCCUR"]) == ("3", "1", "Y", "Y")
    assert (day1["SVSTDTC"], day1["SVENDTC"], day1["SVSTDY"], day1["SVENDY"]) == ("2025-06-17",) * 2 + ("1",) * 2
    assert [r["VISITNUM"] for r in of(sv, "0001")] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert len([r for r in sv if r["VISIT"] == "DAY 1"]) == 24  # every treated subject
    assert not of(sv, "0010", VISIT="DAY 1")  # assigned, never infused
    assert not [r for r in sv if r["SVOCCUR"] == "N"]  # the sample misses no visit that was due
    assert not of(sv, "0012", VISIT="MONTH 6")  # died 2026-01-09 (day 125): MONTH 6 [155, 183] is not missed
    traced = [r for r in csv.DictReader((transfer / "trace.csv").open()) if r["domain"] == "SV"]
    assert len(traced) == len(sv) - 24  # the infusion visits come from EX: no line of SV's raw file


def test_se_is_open_for_an_ongoing_subject_and_closed_at_the_end_of_study(sample_export):
    _, transfer = sample_export
    se = rows(transfer, "se")
    (fu,) = of(se, "0027", ETCD="FU")  # DL4, infused 2025-12-26, no end of study: ongoing at 2026-10-26
    assert (fu["SESTDTC"], fu["SEENDTC"], fu["SEENDY"]) == ("2025-12-26T12:09", "", "")
    (inf,) = of(se, "0027", ETCD="INF4")
    assert (inf["SESTDTC"], inf["SEENDTC"]) == ("2025-12-26T11:35", "2025-12-26T12:09")  # the infusion's times
    (done,) = of(se, "0001", ETCD="FU")  # completed 2026-05-16
    assert done["SEENDTC"] == "2026-05-16"
    assert len([r for r in se if r["SEENDTC"] == ""]) == 6  # the six DL4 subjects


def test_dm_dates_of_the_subject_assigned_and_never_treated(sample_export):
    _, transfer = sample_export
    (dm,) = of(rows(transfer, "dm"), "0010")  # assigned DL2 2025-09-02, withdrew 2025-09-04, no infusion
    assert (dm["ARMCD"], dm["ACTARMCD"], dm["ARMNRS"]) == ("DL2", "", "ASSIGNED, NOT TREATED")
    assert (dm["RFSTDTC"], dm["RFXSTDTC"], dm["RFXENDTC"]) == ("", "", "")  # DM assumption 9: never exposed
    assert dm["RFENDTC"] == dm["RFPENDTC"] == "2025-09-04"  # required for an assigned subject (CG0529)
    (screen_failure,) = of(rows(transfer, "dm"), "0003")
    assert screen_failure["RFENDTC"] == ""  # null for screen failures


def test_a_visit_without_data_whose_window_closed_is_missed(tmp_path, raw_copy):
    lines = (raw_copy / "assessments.csv").read_text().splitlines(keepends=True)
    kept = [x for x in lines if not x.startswith("01,0005,MONTH 3,")]  # 0005 infused 2025-07-10: day 85 = 10-02
    assert len(lines) - len(kept) == 23  # the MG-ADL and QMG items and totals of that visit
    (raw_copy / "assessments.csv").write_text("".join(kept))
    transfer = export(tmp_path, "--raw", str(raw_copy))
    (missed,) = of(rows(transfer, "sv"), "0005", VISIT="MONTH 3")
    assert (missed["VISITNUM"], missed["VISITDY"], missed["SVPRESP"], missed["SVOCCUR"]) == ("6", "85", "Y", "N")
    assert (missed["SVSTDTC"], missed["SVENDTC"], missed["SVSTDY"]) == ("", "", "")
    assert of(rows(transfer, "sv"), "0005", VISIT="MONTH 6")[0]["SVOCCUR"] == "Y"


def test_at_a_cut_open_windows_and_elements_stay_open(tmp_path):
    transfer = export(tmp_path, "--cutoff", "2025-10-20")
    sv, se = rows(transfer, "sv"), rows(transfer, "se")
    assert not [r for r in sv if r["SVOCCUR"] == "N"]  # 0019's WEEK 2 [12, 18] opens 2025-10-27: not yet due
    assert [r["VISIT"] for r in of(sv, "0019")] == ["SCREENING", "BASELINE", "DAY 1"]
    (fu,) = of(se, "0019", ETCD="FU")  # infused 2025-10-16, ongoing at the cut
    assert fu["SEENDTC"] == ""
    (scrn,) = of(se, "0018", ETCD="SCRN")  # consented 2025-09-21, infused only on 2025-10-26, after the cut
    assert (scrn["SESTDTC"], scrn["SEENDTC"]) == ("2025-09-21", "")


@pytest.fixture
def timed_ae(tmp_path, raw_copy) -> tuple[Path, Path]:
    """Specs and raw data whose AE form has a start time (`start_time`, hh:mm) feeding AESTDTC: added here unless the
    contract has it already. 0018's infusion ran 11:52-12:30 on 2025-10-26; 0028's 09:57-10:40 on 2025-12-23."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    contract = specs / "raw" / "adverse_events.yaml"
    text = contract.read_text()
    if "name: start_time" not in text:
        anchor = "  - {name: start_date, type: date, required: true, description: Start date}\n"
        assert anchor in text
        column = "  - {name: start_time, type: string, required: false, pattern: '^\\d{2}:\\d{2}$',\n"
        column += "     description: Start time}\n"
        contract.write_text(text.replace(anchor, anchor + column))
    ae = specs / "sdtm" / "ae.yaml"
    if "time: start_time" not in ae.read_text():
        ae.write_text(
            ae.read_text().replace("map: {dtc: start_date}", "map: {dtc: {date: start_date, time: start_time}}")
        )
    times = {("0018", "2"): "12:05", ("0018", "1"): "18:00", ("0028", "2"): "10:40", ("0009", "2"): ""}
    path = raw_copy / "adverse_events.csv"
    with path.open(newline="") as f:
        table = list(csv.DictReader(f))
    header = list(table[0]) + ([] if "start_time" in table[0] else ["start_time"])
    for r in table:
        key = (r["subject"], r["ae_number"])
        r["start_time"] = times[key] if key in times else r.get("start_time") or ""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return specs, raw_copy


def test_ae_epoch_by_date_and_time(tmp_path, timed_ae):
    specs, raw = timed_ae
    ae = rows(export(tmp_path, "--specs", str(specs), "--raw", str(raw)), "ae")
    (chills,) = of(ae, "0018", AESPID="2")  # "Chills during infusion", AEACN DRUG INTERRUPTED, at 12:05
    assert (chills["AESTDTC"], chills["AESTDY"], chills["EPOCH"]) == ("2025-10-26T12:05", "1", "TREATMENT")
    (evening,) = of(ae, "0018", AESPID="1")  # lymphopenia at 18:00, after the infusion ended at 12:30
    assert (evening["AESTDTC"], evening["EPOCH"]) == ("2025-10-26T18:00", "FOLLOW-UP")
    (at_end,) = of(ae, "0028", AESPID="2")  # at 10:40, the infusion's end: follow-up starts there
    assert at_end["EPOCH"] == "FOLLOW-UP"
    (no_time,) = of(ae, "0009", AESPID="2")  # chills on the infusion day, no time: the element at the day's end
    assert (no_time["AESTDTC"], no_time["EPOCH"]) == ("2025-08-24", "FOLLOW-UP")

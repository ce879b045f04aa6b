"""sources/planned_visits.py: SV's records completed with the infusion visit and the planned visits missed by the cut.

The sample's schedule (study.yaml): SCREENING [-35, -6], BASELINE [-5, -1], DAY 1 [1, 1] (the infusion), WEEK 2
[12, 18], MONTH 1 [25, 33], MONTH 3 [78, 92], MONTH 6 [155, 183], MONTH 12 [323, 351] (study days from RFSTDTC)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from flows.mapping.sources.planned_visits import RECORD_SOURCE
from tests.mapping_cases import context, s

HELD = {  # the assessments grouped by subject and visit, as records.group makes them
    "site": s("01", "01", "01", "01", "01", "01", "01"),
    "subject": s("A", "A", "A", "B", "B", "B", "C"),
    "visit": s("SCREENING", "BASELINE", "WEEK 2", "SCREENING", "BASELINE", "DAY 1", "SCREENING"),
    "min_date": s("2025-05-20", "2025-06-12", "2025-07-01", "2025-05-05", "2025-05-28", "2025-06-01", "2025-05-01"),
    "max_date": s("2025-05-20", "2025-06-12", "2025-07-01", "2025-05-05", "2025-05-28", "2025-06-01", "2025-05-01"),
    "_file": s(*["assessments.csv"] * 7),
    "_line": pd.Series([2, 3, 4, 5, 6, 7, 8], dtype="int64"),
}
DM = {
    "USUBJID": s("S-01-A", "S-01-B", "S-01-C"),
    "SITEID": s("01", "01", "01"),
    "SUBJID": s("A", "B", "C"),
    "RFSTDTC": s("2025-06-17T11:42", "2025-06-01T23:40", None),  # C: never treated
}
EX = {  # B's infusion ran past midnight
    "USUBJID": s("S-01-A", "S-01-B"),
    "EXSTDTC": s("2025-06-17T11:42", "2025-06-01T23:40"),
    "EXENDTC": s("2025-06-17T12:11", "2025-06-02T00:20"),
}
DS = {  # B withdrew on 2025-06-20 (day 20); C failed screening; A is ongoing
    "USUBJID": s("S-01-A", "S-01-B", "S-01-B", "S-01-C"),
    "DSCAT": s("PROTOCOL MILESTONE", "PROTOCOL MILESTONE", "DISPOSITION EVENT", "DISPOSITION EVENT"),
    "DSSTDTC": s("2025-05-20", "2025-05-05", "2025-06-20", "2025-05-10"),
}


def visits(specs, facts: dict, ds: dict | None = None) -> dict[tuple[str, str], tuple]:
    datasets = {"DM": DM, "EX": EX, "DS": DS if ds is None else ds}
    ctx = context(specs, HELD, domain="SV", contract="assessments", datasets=datasets)
    out = RECORD_SOURCE.run(replace(ctx, facts=facts))
    rows = out.astype(object).where(out.notna(), None).to_dict("records")
    return {(r["subject"], r["visit"]): (r["min_date"], r["max_date"], r["occurred"], r["_line"]) for r in rows}


def test_held_visits_stay_with_their_lines_and_the_infusion_visit_is_added(specs):
    got = visits(specs, {"cutoff": "2025-08-01"})
    assert got[("A", "WEEK 2")] == ("2025-07-01", "2025-07-01", "Y", 4)  # held: kept with its raw line
    assert got[("A", "DAY 1")] == ("2025-06-17", "2025-06-17", "Y", None)  # the infusion's dates; from EX, no line
    assert got[("B", "DAY 1")] == ("2025-06-01", "2025-06-02", "Y", 7)  # held that day: widened to the infusion's end
    assert ("C", "DAY 1") not in got  # never treated: no infusion visit


@pytest.mark.parametrize(
    ("subject", "visit", "missed"),
    [
        ("A", "MONTH 1", True),  # window closes on day 33 = 2025-07-19, before the cut 2025-08-01: no data
        ("A", "MONTH 3", False),  # closes on day 92 = 2025-09-16: still open at the cut
        ("B", "WEEK 2", True),  # closes on day 18 = 2025-06-18, before B withdrew (2025-06-20)
        ("B", "MONTH 1", False),  # closes on day 33 = 2025-07-03: after B's end of study (SDTMIG SV assumption 3)
        ("C", "BASELINE", False),  # C has no RFSTDTC: no dated plan
    ],
)
def test_missed_visits(specs, subject, visit, missed):
    got = visits(specs, {"cutoff": "2025-08-01"})
    assert (got.get((subject, visit)) == (None, None, "N", None)) is missed
    if not missed:
        assert (subject, visit) not in got


def test_the_data_as_of_date_bounds_when_there_is_no_cut_and_nothing_is_due_without_either(specs):
    assert visits(specs, {"cutoff": None, "data_as_of": "2025-08-01"})[("A", "MONTH 1")][2] == "N"
    unbounded = visits(specs, {})  # no date known for the transfer: only what ended subjects missed
    assert ("A", "MONTH 1") not in unbounded and unbounded[("B", "WEEK 2")][2] == "N"
    assert {k for k, v in unbounded.items() if v[2] == "N"} == {("B", "WEEK 2")}


def test_no_subject_ended_yet(specs):  # raised AttributeError: no end-of-study date to compare with (an early cut)
    ongoing = {k: v.iloc[:2].reset_index(drop=True) for k, v in DS.items()}  # milestones only
    got = visits(specs, {"cutoff": "2025-08-01"}, ds=ongoing)
    assert {k for k, v in got.items() if v[2] == "N"} == {("A", "MONTH 1"), ("B", "WEEK 2"), ("B", "MONTH 1")}

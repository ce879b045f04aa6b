"""Tests of flows/raw/cutoff.py: which valid rows a data cut keeps, what it blanks, what it counts, and the date a
transfer is as of. Small frames of named subjects against the sample's contracts (specs/raw/)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from flows.raw.cutoff import apply_cutoff, data_as_of

CUT = "2025-07-01"


ENROLLMENT = [
    *("site", "subject", "birth_date", "consent_date", "dose_level", "assign_date", "eos_date", "eos_reason"),
    "death_date",
]


def text(rows: list, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype="str")


def valid_rows() -> dict[str, pd.DataFrame]:
    """Subjects 01-0001 to 01-0003 and a few rows of each child file around the cut."""
    return {
        "enrollment": text(
            [
                # consented and assigned before the cut; the end of study after it is not yet known
                ["01", "0001", "1984-08", "2025-05-21", "DL1", "2025-05-23", "2025-07-20", "COMPLETED", None],
                # consented before the cut, assigned after it: not yet assigned at the cut
                ["01", "0002", "1996-02-22", "2025-06-20", "DL2", "2025-07-03", None, None, None],
                # consented after the cut: left out
                ["01", "0003", "1979", "2025-07-15", None, None, None, None, None],
            ],
            ENROLLMENT,
        ),
        "adverse_events": text(
            [
                {
                    "site": "01",
                    "subject": "0001",
                    "ae_number": "1",
                    "start_date": "2025-06-19",  # before: kept
                    "end_date": "2025-06-25",
                    "outcome": "RECOVERED/RESOLVED",
                },
                {
                    "site": "01",
                    "subject": "0001",
                    "ae_number": "2",
                    "start_date": "2025-06-28",  # ends after the cut
                    "end_date": "2025-07-05",
                    "outcome": "RECOVERED/RESOLVED",
                },
                {
                    "site": "01",
                    "subject": "0001",
                    "ae_number": "3",
                    "start_date": "2025-07-01",  # on the cut day
                    "end_date": None,
                    "outcome": "NOT RECOVERED/NOT RESOLVED",
                },
                {
                    "site": "01",
                    "subject": "0001",
                    "ae_number": "4",
                    "start_date": "2025-07-02",  # after: left out
                    "end_date": "2025-07-03",
                    "outcome": "RECOVERED/RESOLVED",
                },
                {
                    "site": "01",
                    "subject": "0002",
                    "ae_number": "1",
                    "start_date": "2025-08-01",  # after: left out
                    "end_date": None,
                    "outcome": "NOT RECOVERED/NOT RESOLVED",
                },
            ],
            ["site", "subject", "ae_number", "start_date", "end_date", "outcome"],
        ),
        "assessments": text(
            [
                {"site": "01", "subject": "0001", "visit": "SCREENING", "date": "2025-05-21"},
                {"site": "01", "subject": "0001", "visit": "DAY 28", "date": "2025-07-15"},  # after: left out
                {"site": "01", "subject": "0009", "visit": "SCREENING", "date": "2025-05-30"},  # no enrolled parent
            ],
            ["site", "subject", "visit", "date"],
        ),
        "dosing": text(
            [
                {"site": "01", "subject": "0001", "infusion": "1", "start": "2025-07-01T23:59"},  # the cut's day: kept
                {"site": "01", "subject": "0002", "infusion": "1", "start": "2025-07-16T09:00"},  # after: left out
            ],
            ["site", "subject", "infusion", "start"],
        ),
        "eligibility": text([], ["site", "subject", "criterion", "date"]),
        "vital_signs": text(
            [
                {"site": "01", "subject": "0001", "visit": "SCREENING", "date": "2025-05-21"},
                {"site": "01", "subject": "0001", "visit": "DAY 1", "date": "2025-07-01"},  # the cut's day: kept
                {"site": "01", "subject": "0001", "visit": "DAY 1", "date": "2025-07-02"},  # after: left out
            ],
            ["site", "subject", "visit", "date"],
        ),
    }


def test_rows_after_the_cut_are_left_out_and_counted(specs):
    kept, dropped = apply_cutoff(valid_rows(), specs, CUT)
    assert dropped == {
        "enrollment": 1,
        "adverse_events": 2,
        "assessments": 2,
        "dosing": 1,
        "eligibility": 0,
        "vital_signs": 1,
    }
    assert kept["enrollment"]["subject"].tolist() == ["0001", "0002"]  # 0003 consented after the cut
    assert kept["adverse_events"]["ae_number"].tolist() == ["1", "2", "3"]
    assert kept["assessments"]["visit"].tolist() == ["SCREENING"]  # 01-0009 has no enrollment row: left out too
    assert kept["dosing"]["subject"].tolist() == ["0001"]  # a date-time is cut by its day
    assert kept["vital_signs"]["date"].tolist() == ["2025-05-21", "2025-07-01"]


def test_what_happened_after_the_cut_is_blanked_in_the_rows_kept(specs):
    """enrollment: blank_after {assign_date: [assign_date, dose_level], eos_date: [eos_date, eos_reason], ...}."""
    dm = apply_cutoff(valid_rows(), specs, CUT)[0]["enrollment"].set_index("subject")
    assert dm.loc["0001", ["dose_level", "assign_date"]].tolist() == ["DL1", "2025-05-23"]  # assigned before
    assert dm.loc["0001", ["eos_date", "eos_reason"]].isna().all()  # ended 2025-07-20: ongoing at the cut
    assert dm.loc["0002", ["dose_level", "assign_date"]].isna().all()  # assigned 2025-07-03: not yet at the cut
    assert dm.loc["0002", "consent_date"] == "2025-06-20" and dm.loc["0002", "birth_date"] == "1996-02-22"


def test_an_end_after_the_cut_is_not_yet_known(specs):
    """adverse_events: cut {date: start_date, blank_after: {end_date: [end_date, outcome]}}."""
    ae = apply_cutoff(valid_rows(), specs, CUT)[0]["adverse_events"].set_index("ae_number")
    assert ae.loc["2", "start_date"] == "2025-06-28"
    assert pd.isna(ae.loc["2", "end_date"]) and pd.isna(ae.loc["2", "outcome"])  # ended 2025-07-05: not known
    assert ae.loc["1", "end_date"] == "2025-06-25" and ae.loc["1", "outcome"] == "RECOVERED/RESOLVED"
    assert pd.isna(ae.loc["3", "end_date"]) and ae.loc["3", "outcome"] == "NOT RECOVERED/NOT RESOLVED"


def test_the_valid_rows_given_are_not_changed(specs):
    rows = valid_rows()
    apply_cutoff(rows, specs, CUT)
    assert rows["adverse_events"].equals(valid_rows()["adverse_events"])


@pytest.mark.parametrize(
    ("start", "kept"),
    [
        ("2025-06-30", True),
        ("2025-07-01", True),  # on the cut day
        ("2025-07-02", False),
        ("2025-07-01T08:00", True),  # a time on the cut day
    ],
)
def test_the_cut_day_is_inclusive(specs, start, kept):
    rows = valid_rows()
    rows["adverse_events"] = rows["adverse_events"].iloc[:1].assign(start_date=start, end_date=None)
    out, dropped = apply_cutoff(rows, specs, CUT)
    assert (len(out["adverse_events"]), dropped["adverse_events"]) == ((1, 0) if kept else (0, 1))


def test_data_as_of_is_the_cut_when_there_is_one(specs):
    assert data_as_of(valid_rows(), specs, CUT) == datetime(2025, 7, 1)


def test_data_as_of_is_the_latest_full_date_in_the_data(specs):
    # the latest date of a date or datetime column: 01-0002's AE start 2025-08-01 (partial dates do not count)
    assert data_as_of(valid_rows(), specs, None) == datetime(2025, 8, 1)
    rows = {name: frame.iloc[:0] for name, frame in valid_rows().items()}
    rows["enrollment"] = valid_rows()["enrollment"].assign(birth_date="2030")  # partial_date: not a data date
    assert data_as_of(rows, specs, None) == datetime(2025, 7, 20)  # 01-0001's end of study


def test_data_as_of_without_any_date_is_the_floor(specs):
    empty = {name: frame.iloc[:0] for name, frame in valid_rows().items()}
    assert data_as_of(empty, specs, None) == datetime(1900, 1, 1)

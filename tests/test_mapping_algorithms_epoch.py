"""algorithms/epoch.py: EPOCH from the planned visit windows or from the subject's elements (SE)."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.mapping.algorithms.epoch import epoch_of_day, epoch_of_element, refs
from tests.mapping_cases import context, run, s

SCHEDULE = [
    {"visit": "SCREENING", "window": [-35, -6], "epoch": "SCREENING"},
    {"visit": "DAY 1", "window": [1, 1], "epoch": "TREATMENT"},
    {"visit": "WEEK 2", "window": [12, 18], "epoch": "FOLLOW-UP"},
]


@pytest.mark.parametrize(
    ("day", "epoch"),
    [
        (-28, "SCREENING"),  # in the screening window
        (-60, "SCREENING"),  # before every window: the first epoch
        (1, "TREATMENT"),  # the infusion day
        (5, "TREATMENT"),  # between windows: the last window opened
        (15, "FOLLOW-UP"),
        (None, "SCREENING"),  # no reference date (never treated): the first epoch
    ],
)
def test_epoch_of_day(day, epoch):
    assert epoch_of_day(s(day, dtype="Int64"), SCHEDULE).iloc[0] == epoch


SE = {
    "USUBJID": s("A", "A", "A"),
    "SESTDTC": s("2025-05-01", "2025-06-17T09:00", "2025-06-18"),
    "EPOCH": s("SCREENING", "TREATMENT", "FOLLOW-UP"),
}


@pytest.mark.parametrize(
    ("dtc", "epoch"),
    [
        ("2025-04-30", None),  # before the first element
        ("2025-06-17", "TREATMENT"),  # a date without a time: compared with the element's start date
        ("2025-06-17T08:00", "SCREENING"),  # a time before the infusion started
        ("2025-07-01", "FOLLOW-UP"),
        (None, None),
    ],
)
def test_epoch_of_the_subjects_element(specs, dtc, epoch):
    ctx = context(specs, variables={"USUBJID": s("A"), "AESTDTC": s(dtc)}, datasets={"SE": SE})
    out = run("{epoch: {date: AESTDTC, elements: SE}}", ctx).iloc[0]
    assert out == epoch if epoch else pd.isna(out)


def test_epoch_of_element_when_no_record_has_an_element():  # raised a KeyError: no record of the domain had an element
    assert epoch_of_element(s("Z"), s("2025-06-17"), pd.DataFrame(SE)).isna().all()  # a subject without elements
    assert epoch_of_element(s("A"), s("2025-04-30"), pd.DataFrame(SE)).isna().all()  # every date before them


def test_epoch_by_study_day(specs):
    dm = {"USUBJID": s("A"), "RFSTDTC": s("2025-06-17")}
    variables = {"USUBJID": s("A", "A"), "VSDTC": s("2025-05-20", "2025-06-17")}
    ctx = context(specs, variables=variables, datasets={"DM": dm})
    assert run("{epoch: VSDTC}", ctx).tolist() == ["SCREENING", "TREATMENT"]  # day -28, day 1


def test_epoch_reads_the_elements_or_the_reference():
    assert refs({"date": "AESTDTC", "elements": "SE"}) == ["SE.SESTDTC", "SE.EPOCH"]
    assert refs({"date": "AESTDTC"}) == ["DM.RFSTDTC"]


INFUSION_DAY = {  # 0018's elements: the infusion ran 11:52-12:30 on 2025-10-26
    "USUBJID": s("A", "A", "A"),
    "SESTDTC": s("2025-09-21", "2025-10-26T11:52", "2025-10-26T12:30"),
    "EPOCH": s("SCREENING", "TREATMENT", "FOLLOW-UP"),
}


@pytest.mark.parametrize(
    ("dtc", "epoch"),
    [
        ("2025-10-26T12:05", "TREATMENT"),  # chills during the infusion: inside TREATMENT's SESTDTC..SEENDTC
        ("2025-10-26T11:52", "TREATMENT"),  # at the infusion's start
        ("2025-10-26T11:52:30", "TREATMENT"),  # seconds after it
        ("2025-10-26T12:30", "FOLLOW-UP"),  # at its end: follow-up starts there
        ("2025-10-26T18:00", "FOLLOW-UP"),  # the evening of the infusion day
        ("2025-10-26T08:10", "SCREENING"),  # before the infusion (pre-dose)
        ("2025-10-26", "FOLLOW-UP"),  # a date alone on the infusion day: the element in effect at the day's end
        ("2025-10-25T23:59", "SCREENING"),
    ],
)
def test_epoch_by_date_and_time_on_the_infusion_day(specs, dtc, epoch):
    ctx = context(specs, variables={"USUBJID": s("A"), "AESTDTC": s(dtc)}, datasets={"SE": INFUSION_DAY})
    assert run("{epoch: {date: AESTDTC, elements: SE}}", ctx).iloc[0] == epoch

"""algorithms/dtc.py: ISO 8601 --DTC from a date and an optional time."""

from __future__ import annotations

import pytest

from flows.mapping.algorithms.dtc import iso8601
from tests.mapping_cases import context, run, s


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("2025-06-17", "11:42", "2025-06-17T11:42"),  # date and time joined
        ("2025-06", "11:42", "2025-06"),  # partial date: no time can follow
        ("2025-06-17", None, "2025-06-17"),  # no time
        ("1984", None, "1984"),  # partial kept partial
    ],
)
def test_iso8601_from_one_or_two_columns(date, time, expected):
    assert iso8601(s(date), s(time)).iloc[0] == expected
    if time is None:
        assert iso8601(s(date)).iloc[0] == expected


def test_dtc_reads_one_or_two_columns(specs):
    ctx = context(specs, {"d": ["2025-06-17", "2025-06"], "t": ["08:30", "08:30"]})
    assert run("{dtc: d}", ctx).tolist() == ["2025-06-17", "2025-06"]
    assert run("{dtc: {date: d, time: t}}", ctx).tolist() == ["2025-06-17T08:30", "2025-06"]  # partial: no time


def test_dtc_date_only_keeps_the_date_of_a_date_time(specs):
    """The weight a dose was computed with: measured that day before the infusion, so not at the infusion's time."""
    ctx = context(specs, {"start": ["2025-07-10T09:53", "2025-07-10", None]})
    out = run("{dtc: {date: start, date_only: true}}", ctx).tolist()
    assert out[:2] == ["2025-07-10", "2025-07-10"] and out[2] != out[2]  # a null stays null (NaN)
    assert run("{dtc: start}", ctx).tolist()[0] == "2025-07-10T09:53"  # without it: the date-time

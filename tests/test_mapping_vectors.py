"""The vectorised helpers several algorithms share: inputs annotated beside the expected values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.mapping import vectors as v
from tests.mapping_cases import s


@pytest.mark.parametrize(("value", "dtype"), [("EX", "str"), (3, "Int64"), (2.5, "Float64"), (None, "str")])
def test_hardcode_repeats_one_value(value, dtype):
    out = v.hardcode(value, pd.RangeIndex(3))
    assert len(out) == 3 and out.dtype == dtype
    assert out.isna().all() if value is None else (out == value).all()


def test_per_subject_summaries():
    target = s("A", "B", "C")  # C has no source records
    source = s("A", "A", "B")
    values = s("2025-06-18", "2025-06-17", "2025-07-01")
    assert v.per_subject(target, source, values, "min").tolist()[:2] == ["2025-06-17", "2025-07-01"]
    assert v.per_subject(target, source, values, "max").iloc[0] == "2025-06-18"
    assert pd.isna(v.per_subject(target, source, values, "min").iloc[2])
    dose = s(2.0, 1.0, 4.0, dtype="Float64")
    assert v.per_subject(target, source, dose, "first", order=values).tolist()[:2] == [1.0, 4.0]  # earliest date


def test_first_non_null_takes_candidates_in_order():
    out = v.first_non_null([s("2026-05-16", None, None), s("2025-06-17", "2025-06-18", None)])
    assert out.iloc[:2].tolist() == ["2026-05-16", "2025-06-18"] and pd.isna(out.iloc[2])


@pytest.mark.parametrize(
    ("dtc", "ref", "day"),
    [("2025-06-17", "2025-06-17T11:42", 1), ("2025-06-16", "2025-06-17", -1), ("2025-06", "2025-06-17", None)],
)
def test_study_day_of(dtc, ref, day):  # no day 0; partial dates give no day
    out = v.study_day_of(s(dtc), s(ref)).iloc[0]
    assert (pd.isna(out) and day is None) or out == day


@pytest.mark.parametrize("dtype", ["str", "Float64"])  # text in Arrow, numbers the pandas way
def test_first_non_null_is_the_same_for_text_and_numbers(dtype):
    a = pd.Series(["1", None, None, "4"], dtype="str").astype(dtype)
    b = pd.Series(["9", "2", None, None], dtype="str").astype(dtype)
    expected = a.where(a.notna(), b)
    pd.testing.assert_series_equal(v.first_non_null([a, b]), expected)


@pytest.mark.parametrize("dtype", ["str", "Int64"])
def test_null_unless_is_where(dtype):
    values = pd.Series(["1", None, "3", "4"], index=[5, 6, 8, 9], dtype="str").astype(dtype)
    mask = pd.Series([True, True, False, True], index=values.index)
    pd.testing.assert_series_equal(v.null_unless(values, mask), values.where(mask))


def test_lookup_per_subject_gives_each_record_its_subjects_value():
    subject = s("S-1", "S-2", "S-1", "S-9", None)  # S-9 is not in the other dataset
    out = v.lookup_per_subject(subject, s("S-2", "S-1"), s("2025-06-18", "2025-06-17"))
    assert out.tolist()[:3] == ["2025-06-17", "2025-06-18", "2025-06-17"] and out.iloc[3:].isna().all()
    assert out.dtype == "str"


def test_isin_text_is_pandas_isin_for_text_with_nulls():
    values = pd.Series(["A", None, "C", "B"], dtype="str")
    among = pd.Index(["B", "A", "Z"])
    assert v.isin_text(values, among).tolist() == [True, False, False, True]  # a null is in nothing
    assert v.isin_text(values, pd.Index([], dtype="str")).tolist() == [False] * 4


def test_positions_in_is_the_look_up_of_series_map():
    values = s("S-2", None, "S-9", "S-1")  # a null and a value not in the table: -1
    assert v.positions_in(values, s("S-1", "S-2")).tolist() == [1, -1, -1, 0]
    assert v.positions_in(values, pd.Index(["S-1", "S-2"], dtype=object)).tolist() == [1, -1, -1, 0]  # object text
    assert v.positions_in(s(3, None, 1, dtype="Int64"), s(1, 3, dtype="Int64")).tolist() == [1, -1, 0]  # numbers


def test_group_codes_are_equal_where_every_column_is():
    codes = v.group_codes([s("A", "A", "B", "A", None), s(1, 1, 1, 2, None, dtype="Int64")])
    assert codes[0] == codes[1] and len(set(codes.tolist())) == 4  # a null is a value of its own


@pytest.mark.parametrize(("nulls", "expected"), [("last", [1, 2, 0, 1]), ("first", [1, -1, 0, 1])])
def test_ranks_sort_as_the_values(nulls, expected):
    assert v.ranks(s(2.5, None, 1.0, 2.5, dtype="Float64"), nulls).tolist() == expected


@pytest.mark.parametrize(("mode", "expected"), [("first", [3, 1]), ("last", [2, 4])])
def test_extreme_rows_picks_the_first_or_last_record_of_each_group(mode, expected):
    groups = np.array([0, 1, 0, 0, 1])
    order = np.array([5, 1, 7, 2, 1])  # group 0: 3 (2) < 0 (5) < 2 (7); group 1: a tie, in record order
    keep = np.array([False, True, True, True, True])  # record 0 is not among them
    assert sorted(v.extreme_rows(groups, [order], mode, keep).tolist()) == sorted(expected)


def test_extreme_rows_of_no_record_is_none():  # raised an IndexError: no record kept (every record after a cut)
    assert v.extreme_rows(np.array([0, 1]), [np.array([1, 2])], "last", np.array([False, False])).tolist() == []
    assert v.extreme_rows(np.array([], int), [], "first").tolist() == []

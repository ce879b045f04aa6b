"""Rows held compact (flows/kernel/held.py): given back as the very frame they were, a tenth of the text's memory."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from flows.kernel.distinct import shared_codes, value_codes
from flows.kernel.held import Held, held_frame, held_like
from flows.kernel.pandas_arrow import arrow_data


def _frame(rows: int = 12) -> pd.DataFrame:
    visits = ["SCREENING", "DAY 1", None, "WEEK 4"]
    return pd.DataFrame(
        {
            "_file": pd.array(["qs.csv"] * rows, dtype="str"),
            "subject": pd.array([f"{i // 3:04d}" for i in range(rows)], dtype="str"),
            "visit": pd.array([visits[i % 4] for i in range(rows)], dtype="str"),
            "score": pd.array([i if i % 5 else None for i in range(rows)], dtype="Int64"),
            "weight": pd.array([70.5 + i for i in range(rows)], dtype="Float64"),
        },
        index=pd.RangeIndex(2, rows + 2, name="line"),
    )


def test_rows_come_back_as_the_frame_they_were():
    frame = _frame()
    held = Held.of(frame.copy())
    back = held.frame()
    pd.testing.assert_frame_equal(back, frame)
    assert list(back.dtypes) == list(frame.dtypes)
    assert back.index.equals(frame.index) and back.index.name == "line"
    assert back["visit"].isna().tolist() == [v is None for v in ["SCREENING", "DAY 1", None, "WEEK 4"] * 3]
    pd.testing.assert_series_equal(held["subject"], frame["subject"])
    pd.testing.assert_frame_equal(held[["visit", "score"]], frame[["visit", "score"]])
    assert len(held) == 12 and "visit" in held and "missing" not in held
    assert list(held.columns) == list(frame.columns)


def test_holding_takes_the_columns_from_the_frame_it_is_given():
    frame = _frame()
    Held.of(frame)
    assert frame.shape == (12, 0)


def test_rows_taken_keep_their_lines_and_only_the_values_they_use():
    frame, positions = _frame(), np.array([7, 1, 5])
    held = Held.of(frame.copy()).take(positions)
    pd.testing.assert_frame_equal(held.frame(), frame.iloc[positions])
    assert held.index.tolist() == [9, 3, 7]
    coded = held._columns["visit"]
    assert coded.uniques.to_pylist() == ["DAY 1", "WEEK 4"] and coded.codes.tolist() == [1, 0, 0]
    empty = Held.of(_frame()).take(np.array([], dtype=np.intp))
    pd.testing.assert_frame_equal(empty.frame(), frame.iloc[[]])


def test_text_is_held_in_about_a_tenth_of_its_memory():
    rows = 200_000
    frame = pd.DataFrame(
        {
            "visit": pd.array(np.array(["SCREENING", "DAY 1", "WEEK 4", "WEEK 12"])[np.arange(rows) % 4], dtype="str"),
            "date": pd.array([f"2025-{1 + i % 12:02d}-{1 + (i // 12) % 28:02d}" for i in range(rows)], dtype="str"),
        }
    )
    text = sum(arrow_data(frame[c]).nbytes for c in frame.columns)
    held = Held.of(frame.copy())
    assert held.nbytes < text / 8  # one or two bytes a row per column, against about 17
    assert held._columns["date"].codes.dtype == np.int16


def test_a_column_read_back_comes_with_its_codes_inside_shared_codes():
    held = Held.of(_frame())
    with shared_codes():
        visit = held["visit"]
        codes, n = value_codes(visit)
        assert codes is held._columns["visit"].codes and n == 3
        assert held["visit"] is visit  # while it lives, the same column is given again
    outside = held["subject"]
    assert value_codes(outside)[1] == 4


def test_one_value_on_every_row_comes_back_as_one_block():
    held = Held.of(_frame(200_000))
    data = arrow_data(held["_file"])
    assert data.num_chunks > 1 and len({c.buffers()[2].address for c in data.chunks}) == 1


def test_columns_can_be_dropped_and_set_like_a_frame_s():
    frame = _frame()
    held = Held.of(frame.copy()).drop(columns=["weight"])
    held["score"] = pd.to_numeric(held["score"]).astype("Float64")
    held["visit"] = held["visit"].str.lower()
    expected = frame.drop(columns=["weight"]).assign(
        score=frame["score"].astype("Float64"), visit=frame["visit"].str.lower()
    )
    pd.testing.assert_frame_equal(held.frame(), expected)
    with pytest.raises(ValueError, match="3 rows, not 12"):
        held["visit"] = pd.Series(["a", "b", "c"], dtype="str")


def test_held_frame_and_held_like_answer_for_frames_and_held_rows():
    frame = _frame()
    held = Held.of(frame.copy())
    assert held_frame(frame) is frame
    pd.testing.assert_frame_equal(held_frame(held), frame)
    assert held_like(frame, frame) is frame
    assert isinstance(held_like(held, frame.copy()), Held)


def test_held_rows_go_to_a_worker_process_whole():
    frame = _frame()
    held = Held.of(frame.copy())
    visit = held["visit"]  # a column handed out (held weakly) does not stop the rows from being pickled
    again = pickle.loads(pickle.dumps(held))
    pd.testing.assert_frame_equal(again.frame(), frame)
    assert visit is held["visit"]

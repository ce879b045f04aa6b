"""Tests of flows/transfer/trace.py: trace.csv names each record's source line, and the lines are counted per raw
file."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.run.pipeline import prepare, read_inputs, validate_raw
from flows.transfer.trace import TRACE_COLUMNS, LineCount, write_trace
from tests.conftest import RAW


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([(["a.csv", "a.csv", "b.csv"], [2, 2, 2])], {"a.csv": 1, "b.csv": 1}),  # one line, two records (SUPP--)
        ([(["a.csv", "a.csv", "a.csv"], [5, 3, 900])], {"a.csv": 3}),
        ([(["a.csv"], [900]), (["b.csv", "a.csv"], [7, 900]), (["a.csv"], [4])], {"a.csv": 2, "b.csv": 1}),  # union
        ([([], [])], {}),  # no record from a raw row
    ],
)
def test_line_count_counts_distinct_lines_per_file(parts, expected):
    count = LineCount()
    frames = [pd.DataFrame({"file": pd.Series(f, dtype="str"), "line": pd.Series(n, dtype="int64")}) for f, n in parts]
    assert all(count.add(frame) is frame for frame in frames)
    assert count.counts() == expected
    whole = pd.concat(frames)
    assert expected == whole.drop_duplicates(["file", "line"])["file"].value_counts().to_dict()


def test_trace_of_the_sample_names_every_record_and_its_line(tmp_path, specs):
    raw = read_inputs(RAW, specs)
    datasets = prepare(raw, validate_raw(raw, specs), specs).datasets
    rows, traced = write_trace(datasets, specs, tmp_path / "trace.csv")
    trace = pd.read_csv(tmp_path / "trace.csv", dtype={"seq": "Int64"}, keep_default_na=False)
    assert list(trace.columns) == list(TRACE_COLUMNS) and len(trace) == rows
    assert rows == sum(int(f["_line"].notna().sum()) for f in datasets.values() if "_line" in f)
    sv = datasets["SV"]  # the infusion visits come from EX, not from a raw row of SV's file: no line
    assert len(trace[trace["domain"] == "SV"]) == len(sv) - int((sv["VISIT"] == "DAY 1").sum()) == 171
    qs = trace[trace["domain"] == "QS"]
    assert len(qs) == len(datasets["QS"]) and qs["seq"].tolist() == datasets["QS"]["QSSEQ"].tolist()
    assert (qs["file"] == "assessments.csv").all() and qs["line"].tolist() == datasets["QS"]["_line"].tolist()
    assert trace[trace["domain"] == "SV"]["seq"].isna().all()  # SV has no --SEQ
    for file, group in trace.groupby("file"):
        assert traced[file] == group["line"].nunique()
        physical = (RAW / file).read_text().count("\n")
        assert group["line"].between(2, physical).all()

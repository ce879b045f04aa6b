"""flows.transfer.writers.csv: the column-at-a-time writer gives the bytes of pandas' to_csv, quoting and numbers
included; a dataset written a chunk of rows at a time is the same file."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.spec.model import DomainSpec, Variable
from flows.transfer.writers import lines
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.csv import CsvAppender, write_csv
from tests.conftest import (
    SPLITS,
    in_chunks,
    mixed_dataset,
    row_chunks,
    same_in_chunks,
    sample_in_chunks,
    write_in_chunks,
)

CTX = WriteContext("X", datetime(2026, 10, 31), {})


def spec_of(frame: pd.DataFrame) -> DomainSpec:
    variables = tuple(
        Variable(c, c, "Char" if frame[c].dtype == "str" or frame[c].dtype == object else "Num", 200, "Perm", "", "")
        for c in frame
    )
    return DomainSpec("XX", "Example", "", "", (), None, variables, Path("xx.yaml"))


TEXT = pd.Series(['say "hi"', "a,b", "line\nbreak", "cr\rhere", "", None, " pad ", "é"], dtype="str")
FRAMES = {
    "text needing quotes": pd.DataFrame({"USUBJID": TEXT, "XXN": np.arange(8.0)}),
    "plain text only": pd.DataFrame({"USUBJID": pd.Series([f"S-{i}" for i in range(8)], dtype="str")}),
    "one numeric column, empty text": pd.DataFrame({"A": pd.Series([""] * 8, dtype="str"), "N": [np.nan] * 8}),
    "numbers of every kind": pd.DataFrame(
        {
            "A": TEXT,
            "F": pd.array([-0.0, 0.0, 1e20, float("inf"), None, 1 / 3, 1e-7, 60.0], dtype="Float64"),
            "I": pd.array([1, None, -3, 0, 10**12, 7, None, 2], dtype="Int64"),
            "D": [1.5, np.nan, 2.0, -1e-300, 3.0, 4.25, 5.0, 6.0],
        }
    ),
    "object text (not Arrow)": pd.DataFrame({"A": TEXT.astype(object), "N": np.arange(8.0)}),
    "one text column with an empty value": pd.DataFrame({"A": TEXT}),
    "text in several Arrow chunks": pd.DataFrame({"A": in_chunks(TEXT), "B": in_chunks(TEXT), "N": np.arange(8.0)}),
    "integers rendered per row": pd.DataFrame(
        {"L": np.arange(8) * 10**11, "S": pd.array([None, 1, -2, 3, None, 5, 6, 7], dtype="Int64"), "A": TEXT}
    ),
}


@pytest.mark.parametrize("name", FRAMES)
@pytest.mark.parametrize("rows", [8, 1, 0])
def test_same_bytes_as_pandas(tmp_path, name, rows):
    """pandas' bytes, except that a field holding a carriage return is quoted: pandas leaves it bare, and every
    CSV reader then ends the record there (the frames pandas writes itself are then quoted whole)."""
    frame = FRAMES[name].iloc[:rows]
    ours = tmp_path / "ours.csv"
    write_csv(frame, spec_of(frame), ours, CTX)
    got, expected = ours.read_bytes(), frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if b"\r" not in expected:
        assert got == expected
        return
    quoted_all = frame.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_ALL).encode("utf-8")
    assert got.replace(b'"cr\rhere"', b"cr\rhere") == expected or got == quoted_all
    back = pd.read_csv(ours, dtype="str", keep_default_na=False)
    text = next(c for c in frame if frame[c].astype("str").eq("cr\rhere").any())
    assert back.shape == frame.shape and back[text].tolist() == frame[text].fillna("").tolist()


def test_table_same_bytes_as_pandas_with_text_neutralised(tmp_path):
    """write_table (trace.csv, rejects.csv): to_csv's bytes, formulas quoted out in the named text columns only."""
    from flows.transfer.writers.csv import neutralise, write_table

    formulas = pd.Series(["=1+2", "a,b", None, "-2.5", "@x", "ok", "", '"q"'], dtype="str")
    frame = pd.DataFrame(
        {"domain": formulas, "file": formulas, "seq": pd.array([1, None] * 4, dtype="Int64"), "line": range(8)}
    )
    write_table(frame, tmp_path / "t.csv", text=["domain"])
    expected = frame.assign(domain=neutralise(frame["domain"])).to_csv(index=False, lineterminator="\n")
    assert (tmp_path / "t.csv").read_bytes() == expected.encode("utf-8")
    assert "\n'=1+2,=1+2," in expected  # the text column neutralised, the other not


def test_formulas_neutralised_numbers_kept(tmp_path):
    """OWASP's advice for CSV injection: a text cell starting with = + - @ tab or CR gets a leading single quote; a
    plain number such as -2.5 (text or numeric column) is left as it is."""
    from flows.transfer.writers.csv import neutralise

    text = pd.Series(["=1+2", "+cmd|'/C calc'!A0", "-2-3", "@SUM(A1)", "\tx", "\rx", "-2.5", "+1e3", "a=b", "", None])
    text = text.astype("str")
    assert neutralise(text).tolist()[:-1] == [
        "'=1+2",
        "'+cmd|'/C calc'!A0",
        "'-2-3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "-2.5",
        "+1e3",
        "a=b",
        "",
    ]
    assert pd.isna(neutralise(text).iloc[-1])
    text = text[~text.str.contains("\r").fillna(False).astype(bool)]  # a bare CR splits a row for pandas' reader
    frame = pd.DataFrame({"USUBJID": text, "XXN": [-2.5] * len(text)})
    write_csv(frame, spec_of(frame), tmp_path / "x.csv", CTX)
    back = pd.read_csv(tmp_path / "x.csv", dtype={"USUBJID": str}, keep_default_na=False)
    assert back["USUBJID"].iloc[0] == "'=1+2" and (back["XXN"] == -2.5).all()  # numbers stay numbers


@pytest.mark.parametrize("name", ["numbers of every kind", "object text (not Arrow)", "integers rendered per row"])
def test_parts_written_one_after_another_are_the_whole_frame(tmp_path, name):
    """write_parts (trace.csv, dataset by dataset) writes the bytes write_frame writes of the parts put together."""
    from flows.transfer.writers.csv import write_frame, write_parts

    frame = FRAMES[name].iloc[[0, 1, 2, 4, 5, 6, 7]]  # row 3 holds a carriage return: not pandas' own bytes
    parts = [frame.iloc[:2], frame.iloc[2:2], frame.iloc[2:]]
    text = [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])]
    assert write_parts(iter(parts), tmp_path / "parts.csv", list(frame.columns), text) == len(frame)
    write_frame(frame.reset_index(drop=True), tmp_path / "whole.csv", text)
    assert (tmp_path / "parts.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    with pytest.raises(ValueError, match="columns"):
        write_parts(iter([frame[frame.columns[::-1]]]), tmp_path / "bad.csv", list(frame.columns), text)


def test_numeric_dates_written_as_iso_8601(tmp_path):
    """An ADaM numeric date (DATE9.) or date-time (DATETIME20.) is written as every CSV date is: ISO 8601."""
    spec = DomainSpec(
        "ADSL", "Subject-Level Analysis Dataset", "SUBJECT LEVEL ANALYSIS DATASET", "One record per subject",
        ("USUBJID",), None,
        (Variable("USUBJID", "Unique Subject Identifier", "Char", 8, "Req", "Identifier", "Predecessor"),
         Variable("TRTSDT", "Date of First Exposure", "Num", 8, "Cond", "Timing", "Derived", display_format="DATE9."),
         Variable("TRTSDTM", "Datetime of First Exposure", "Num", 8, "Cond", "Timing", "Derived",
                  display_format="DATETIME20."),
         Variable("AGE", "Age", "Num", 8, "Req", "Record Qualifier", "Predecessor")),
        Path("adsl.yaml"),
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series(["A", "B"], dtype="str"),
            "TRTSDT": pd.Series([23909, None], dtype="Int64"),
            "TRTSDTM": pd.Series([23909 * 86400 + 42120, None], dtype="Int64"),
            "AGE": pd.Series([40, 85], dtype="Int64"),
        }
    )
    write_csv(frame, spec, tmp_path / "adsl.csv", CTX)
    rows = list(csv.reader((tmp_path / "adsl.csv").open(encoding="utf-8")))
    assert rows == [["USUBJID", "TRTSDT", "TRTSDTM", "AGE"], ["A", "2025-06-17", "2025-06-17T11:42:00", "40"],
                    ["B", "", "", "85"]]  # fmt: skip


@pytest.mark.parametrize("split", SPLITS)
def test_sample_datasets_in_chunks_are_the_whole_file(sample_written, tmp_path, monkeypatch, split):
    monkeypatch.setattr(lines, "SMALL", 8)  # the whole frames rendered by distinct value, the small chunks by row
    sample_in_chunks(sample_written, split, write_csv, CsvAppender, tmp_path, "csv")


def test_chunks_read_back_by_the_csv_module(tmp_path):
    frame, spec, chunks = mixed_dataset()
    same_in_chunks(write_csv, CsvAppender, frame, chunks, spec, CTX, tmp_path, "csv")
    rows = list(csv.reader((tmp_path / "chunks.csv").open(encoding="utf-8", newline="")))
    assert rows[0] == spec.names and len(rows) == 7
    assert [r[1] for r in rows[1:]] == ['say "hi"', "", "a,b", "", "line\nbreak", "'=1+2"]  # the formula neutralised
    assert [r[4] for r in rows[1:]] == ["1.5", "", "", "2.25", "", "-0.0"]


@pytest.mark.parametrize("name", FRAMES)
@pytest.mark.parametrize("sizes", [(1,), (3,), (0, 2, 5)], ids=str)
def test_every_kind_of_frame_in_chunks_is_the_whole_file(tmp_path, monkeypatch, name, sizes):
    """Quoting (a carriage return in its field alone, in Arrow text as in object text), numbers of every kind and a
    lone column (an empty field: "") do not depend on where the chunks begin."""
    monkeypatch.setattr(lines, "SMALL", 4)
    frame = FRAMES[name]
    write_csv(frame, spec_of(frame), tmp_path / "whole.csv", CTX)
    got = write_in_chunks(CsvAppender, row_chunks(frame, sizes), spec_of(frame), tmp_path / "chunks.csv", CTX)
    assert got == (tmp_path / "whole.csv").read_bytes()

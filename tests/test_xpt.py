"""Tests of the SAS XPORT v5 writer: two independent readers, CDISC's example study as a golden corpus, limits;
a dataset written a chunk of rows at a time is the same file."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from flows.kernel.errors import OutputCheckError
from flows.spec.model import DomainSpec, Variable
from flows.transfer.writers import lines
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.xpt import XptAppender, display_format, ibm_doubles, write_xpt, xpt_lengths
from tests.conftest import (
    SPLITS,
    in_chunks,
    mixed_dataset,
    same_in_chunks,
    sample_in_chunks,
    write_in_chunks,
)

# ../shared/ sits beside the repository, here and in CI
GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "dataset-json" / "examples-sdtm"
DOMAINS = ["dm", "ex", "ie", "ti", "ts"]
WHEN = datetime(2026, 10, 31)


def both_readers(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    data, meta = pyreadstat.read_xport(str(path))
    other = pd.read_sas(path, format="xport", encoding="ascii")
    return data, other, meta


def as_text(col: pd.Series) -> pd.Series:
    return col.astype(object).where(col.notna(), "").astype(str)


@pytest.mark.parametrize("domain", DOMAINS)
def test_sample_xpt_read_back_by_two_readers(sample_export, specs, domain):
    _, transfer = sample_export
    spec = specs.sdtm[domain.upper()]
    expected = pd.read_parquet(transfer / "parquet" / f"{domain}.parquet")
    data, other, meta = both_readers(transfer / "xpt" / f"{domain}.xpt")
    assert meta.table_name == spec.domain and meta.file_label == spec.label
    assert list(data.columns) == list(other.columns) == spec.names
    assert meta.column_labels == [v.label for v in spec.variables]
    assert meta.variable_storage_width == xpt_lengths(expected, spec)
    for v in spec.variables:
        if v.type == "Char":
            assert as_text(data[v.name]).tolist() == as_text(expected[v.name]).tolist(), v.name
            assert as_text(other[v.name]).tolist() == as_text(expected[v.name]).tolist(), v.name
        else:
            want = expected[v.name].astype("float64")
            pd.testing.assert_series_equal(data[v.name].astype("float64"), want, check_names=False)
            pd.testing.assert_series_equal(other[v.name].astype("float64"), want, check_names=False)


def spec_from_xpt(meta, name: str) -> DomainSpec:
    variables = tuple(
        Variable(
            n, label, "Num" if meta.readstat_variable_types[n] == "double" else "Char", 200, "Perm", "", "Assigned"
        )
        for n, label in zip(meta.column_names, meta.column_labels, strict=True)
    )
    return DomainSpec(name.upper(), meta.file_label, "", "", (), None, variables, Path(name))


@pytest.mark.parametrize("name", ["dm", "ex", "ie", "ti", "ts", "ta", "te", "sv", "ds", "suppdm"])
def test_golden_corpus_round_trip(tmp_path, name):
    """CDISC's own example study: what we write from its data reads back identical, by both readers."""
    source = GOLDEN / f"{name}.xpt"
    if not source.exists():
        pytest.skip(f"golden corpus not found: {source}")
    data, meta = pyreadstat.read_xport(str(source))
    spec = spec_from_xpt(meta, name)
    frame = data.copy()
    for v in spec.variables:
        if v.type == "Char":
            frame[v.name] = frame[v.name].astype("str").where(frame[v.name] != "", None)
    out = tmp_path / f"{name}.xpt"
    write_xpt(frame, spec, out, WriteContext("X", WHEN, {}))
    again, other, meta2 = both_readers(out)
    # pandas' XPORT reader counts blank 8-byte words in the last 80-byte card as padding when a record is at
    # most 80 bytes long, and so drops real rows ending in blanks (here SUPPDM's last row): compare a prefix.
    short_record = sum(meta2.variable_storage_width.values()) <= 80
    data_for_pandas = data.iloc[: len(other)] if short_record else data
    assert meta2.column_labels == meta.column_labels and meta2.file_label == meta.file_label
    assert meta2.table_name == meta.table_name
    for v in spec.variables:
        if v.type == "Char":
            assert as_text(again[v.name]).tolist() == as_text(data[v.name]).tolist()
            assert as_text(other[v.name]).tolist() == as_text(data_for_pandas[v.name]).tolist()
            assert meta2.variable_storage_width[v.name] == max(1, int(data[v.name].str.len().max() or 0))
        else:
            pd.testing.assert_series_equal(again[v.name], data[v.name], check_names=False)


def tiny_spec(label: str = "Value") -> DomainSpec:
    variables = (
        Variable("USUBJID", "Unique Subject Identifier", "Char", 40, "Req", "Identifier", "Derived"),
        Variable("XXVAL", label, "Char", 200, "Perm", "Result Qualifier", "Collected"),
        Variable("XXN", "Number", "Num", 8, "Perm", "Result Qualifier", "Derived"),
    )
    return DomainSpec("XX", "Example", "", "", ("USUBJID",), None, variables, Path("xx.yaml"))


def tiny_frame(value: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": pd.Series(["S-1", "S-2"], dtype="str"),
            "XXVAL": pd.Series(["ok", value], dtype="str"),
            "XXN": [1.5, None],
        }
    )


@pytest.mark.parametrize(
    ("value", "label", "message"),
    [
        ("x" * 201, "Value", "XX.XXVAL: value over 200 bytes for S-2"),
        ("café", "Value", "XX.XXVAL: non-ASCII value 'café' for S-2"),
        ("ok", "A label that is far longer than forty characters", "XX.XXVAL: label over 40 characters"),
    ],
)
def test_unrepresentable_values_are_errors_not_truncations(tmp_path, value, label, message):
    with pytest.raises(OutputCheckError) as err:
        write_xpt(tiny_frame(value), tiny_spec(label), tmp_path / "xx.xpt", WriteContext("X", WHEN, {}))
    assert message in str(err.value)
    assert not (tmp_path / "xx.xpt").exists()


def test_same_data_same_bytes_and_header_date_from_context(tmp_path):
    paths = [tmp_path / "a.xpt", tmp_path / "b.xpt"]
    for path in paths:
        write_xpt(tiny_frame("x" * 200), tiny_spec(), path, WriteContext("X", WHEN, {}))
    a, b = (hashlib.sha256(p.read_bytes()).hexdigest() for p in paths)
    assert a == b
    assert paths[0].read_bytes().count(b"31OCT26:00:00:00") == 4
    data, _ = pyreadstat.read_xport(str(paths[0]))
    assert data["XXVAL"].tolist() == ["ok", "x" * 200]  # 200 bytes: the limit itself is fine


@pytest.mark.parametrize(
    ("value", "ibm"),
    [
        (1.0, "4110000000000000"),
        (-2.5, "c128000000000000"),
        (0.1, "401999999999999a"),
        (float("nan"), "2e00000000000000"),  # SAS missing '.'
        (0.0, "0000000000000000"),
        (-0.0, "0000000000000000"),  # ReadStat drops the sign of zero
        (2.0**-261, "0000000000000000"),  # below the IBM range: zero
        (2.0**249, "7fffffffffffffff"),  # above ReadStat's limit: the largest magnitude
        (float("-inf"), "ffffffffffffffff"),
    ],
)
def test_ibm_doubles(value, ibm):
    assert ibm_doubles(np.array([value])).tobytes().hex() == ibm


@pytest.mark.parametrize("chunks", [False, True], ids=["text in one chunk", "text in several Arrow chunks"])
def test_same_bytes_as_readstat(tmp_path, chunks):
    """Our writer against pyreadstat's, whose bytes it reproduces (the clock aside, which we fix)."""
    numbers = [1.5, None, -0.0, 1e-80, 7.2e75, 123456.789, 2.0**-260, float("inf"), 1 / 3]
    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series([f"S-{i}" for i in range(len(numbers))], dtype="str"),
            "XXVAL": pd.Series(["ok", None, "", " lead", "trail ", "x" * 200, "a", "b", "c"], dtype="str"),
            "XXN": pd.Series(numbers, dtype="float64"),
        }
    )
    spec = tiny_spec()
    ours = tmp_path / "ours.xpt"
    if chunks:
        frame = frame.assign(USUBJID=in_chunks(frame["USUBJID"]), XXVAL=in_chunks(frame["XXVAL"]))
    write_xpt(frame, spec, ours, WriteContext("X", WHEN, {}))
    theirs = tmp_path / "theirs.xpt"
    text = {v.name: frame[v.name].astype(object).where(frame[v.name].notna(), "") for v in spec.variables[:2]}
    pyreadstat.write_xport(
        pd.DataFrame({**text, "XXN": frame["XXN"]}),
        str(theirs),
        file_label=spec.label,
        column_labels=[v.label for v in spec.variables],
        table_name=spec.domain,
        file_format_version=5,
    )
    clock = re.compile(rb"\d{2}[A-Z]{3}\d{2}:\d{2}:\d{2}:\d{2}")
    assert clock.sub(b"31OCT26:00:00:00", theirs.read_bytes(), count=4) == ours.read_bytes()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("DATE9.", (b"DATE    ", 9, 0)), ("DATETIME20.", (b"DATETIME", 20, 0)), ("8.2", (b"        ", 8, 2)),
     (None, (b"        ", 0, 0))],
)  # fmt: skip
def test_display_format_in_the_namestr(text, expected):
    assert display_format(text) == expected


def test_numeric_dates_read_back_as_dates(tmp_path):
    """An ADaM numeric date with its display format: pyreadstat sees the format and reads a date."""
    spec = DomainSpec(
        "ADSL", "Subject-Level Analysis Dataset", "SUBJECT LEVEL ANALYSIS DATASET", "One record per subject",
        ("USUBJID",), None,
        (Variable("USUBJID", "Unique Subject Identifier", "Char", 8, "Req", "Identifier", "Predecessor"),
         Variable("TRTSDT", "Date of First Exposure to Treatment", "Num", 8, "Cond", "Timing", "Derived",
                  display_format="DATE9.")),
        Path("adsl.yaml"),
    )  # fmt: skip
    frame = pd.DataFrame({"USUBJID": pd.Series(["A"], dtype="str"), "TRTSDT": pd.Series([23909], dtype="Int64")})
    write_xpt(frame, spec, tmp_path / "adsl.xpt", WriteContext("X", WHEN, {}))
    data, meta = pyreadstat.read_xport(str(tmp_path / "adsl.xpt"))
    # the format as written, "DATE9." (pyreadstat 1.3.6 drops the period)
    assert meta.original_variable_types["TRTSDT"].rstrip(".") == "DATE9" and str(data["TRTSDT"][0]) == "2025-06-17"


@pytest.mark.parametrize("split", SPLITS)
def test_sample_datasets_in_chunks_are_the_whole_file(sample_written, tmp_path, monkeypatch, split):
    monkeypatch.setattr(lines, "SMALL", 8)  # the whole frames laid out by distinct value, the small chunks by row
    sample_in_chunks(sample_written, split, write_xpt, XptAppender, tmp_path, "xpt")


def test_chunks_read_back_by_pyreadstat(tmp_path):
    """Six rows in four chunks (one of missing numbers only, one empty): 6 records of 45 bytes and the padding of
    the last 80-byte record, read back as the frame."""
    frame, spec, chunks = mixed_dataset()
    ctx = WriteContext("X", WHEN, {"XX": xpt_lengths(frame, spec)})
    got = same_in_chunks(write_xpt, XptAppender, frame, chunks, spec, ctx, tmp_path, "xpt")
    assert len(got) % 80 == 0
    data, meta = pyreadstat.read_xport(str(tmp_path / "chunks.xpt"))
    assert meta.number_rows == 6 and sum(meta.variable_storage_width.values()) == 45
    assert as_text(data["XXTEXT"]).tolist() == as_text(frame["XXTEXT"]).tolist()
    for name in ("XXSEQ", "XXVAL"):  # missing values as NaN; -0.0 is 0 (ReadStat drops the sign of zero)
        pd.testing.assert_series_equal(data[name], frame[name].astype("float64"), check_names=False)


def test_a_value_refused_in_a_later_chunk_names_its_subject(tmp_path):
    frame = tiny_frame("caf\u00e9")
    ctx = WriteContext("X", WHEN, {"XX": xpt_lengths(frame, tiny_spec())})
    with pytest.raises(OutputCheckError, match="non-ASCII value 'caf\u00e9' for S-2"):
        write_in_chunks(XptAppender, [frame.iloc[:1], frame.iloc[1:]], tiny_spec(), tmp_path / "xx.xpt", ctx)

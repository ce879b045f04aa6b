"""Tests of flows/transfer/writers/parquet.py (and the writers' registry and context): a small VS-like dataset
written and read back with pyarrow: types from the spec, labels, dataset metadata, spec order, no pandas metadata;
a dataset written a chunk of rows at a time is the same file, row groups included."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.spec.model import DomainSpec, Variable
from flows.transfer.writers import WRITERS, parquet
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.parquet import ROW_GROUP, ParquetAppender, arrow_table, write_parquet
from flows.transfer.writers.xpt import xpt_lengths
from tests.conftest import (
    SPLITS,
    mixed_dataset,
    row_chunks,
    same_in_chunks,
    sample_in_chunks,
    write_in_chunks,
)

CTX = WriteContext("CART-20250321", datetime(2025, 7, 1), {})


def var(name: str, label: str, type_: str) -> Variable:
    return Variable(name, label, type_, 8 if type_ == "Num" else 20, "Req", "Identifier", "Collected")


SPEC = DomainSpec(
    domain="VS",
    label="Vital Signs",
    klass="FINDINGS",
    structure="One record per vital sign measurement per visit per subject",
    keys=("STUDYID", "USUBJID", "VSTESTCD", "VISITNUM"),
    seq="VSSEQ",
    variables=(
        var("STUDYID", "Study Identifier", "Char"),
        var("USUBJID", "Unique Subject Identifier", "Char"),
        var("VSSEQ", "Sequence Number", "Num"),
        var("VSTESTCD", "Vital Signs Test Short Name", "Char"),
        var("VSSTRESN", "Numeric Result/Finding in Standard Units", "Num"),
        var("VISITNUM", "Visit Number", "Num"),
    ),
    path=Path("vs.yaml"),
)


def frame() -> pd.DataFrame:
    """01-0001's weight and height at screening, the weight missing at DAY 28; columns not in spec order."""
    return pd.DataFrame(
        {
            "VISITNUM": [1.0, 1.0, 5.0],
            "VSSTRESN": [65.9, 171.5, None],
            "VSTESTCD": ["WEIGHT", "HEIGHT", "WEIGHT"],
            "VSSEQ": pd.array([1, 2, 3], dtype="Int64"),
            "USUBJID": ["CART-20250321-01-0001"] * 3,
            "STUDYID": ["CART-20250321"] * 3,
            "EXTRA": ["not in the spec"] * 3,
        }
    ).astype({"VSTESTCD": "str", "USUBJID": "str", "STUDYID": "str"})


@pytest.fixture
def written(tmp_path) -> pa.Table:
    path = tmp_path / "vs.parquet"
    write_parquet(frame(), SPEC, path, CTX)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    return pq.read_table(path)


def test_columns_in_spec_order_typed_from_the_spec(written):
    assert written.column_names == ["STUDYID", "USUBJID", "VSSEQ", "VSTESTCD", "VSSTRESN", "VISITNUM"]  # no EXTRA
    types = {f.name: f.type for f in written.schema}
    assert types == {
        "STUDYID": pa.string(),
        "USUBJID": pa.string(),
        "VSSEQ": pa.int64(),  # Num holding whole numbers: an integer
        "VSTESTCD": pa.string(),
        "VSSTRESN": pa.float64(),
        "VISITNUM": pa.float64(),  # Num in a float column: a double, even when every value is whole
    }


def test_values_and_nulls_read_back(written):
    assert written.column("VSSTRESN").to_pylist() == [65.9, 171.5, None]
    assert written.column("VSSEQ").to_pylist() == [1, 2, 3]
    assert written.column("VSTESTCD").to_pylist() == ["WEIGHT", "HEIGHT", "WEIGHT"]


def test_labels_on_the_fields_and_the_dataset_in_the_schema(written):
    assert [f.metadata[b"label"].decode() for f in written.schema] == [v.label for v in SPEC.variables]
    meta = {k.decode(): v.decode() for k, v in written.schema.metadata.items()}
    assert meta == {
        "label": "Vital Signs",
        "domain": "VS",
        "structure": "One record per vital sign measurement per visit per subject",
        "keys": "STUDYID,USUBJID,VSTESTCD,VISITNUM",
    }  # and no b"pandas": nothing of the writer's pandas version in the file


def test_an_empty_dataset_keeps_its_columns_and_types():
    table = arrow_table(frame().iloc[:0], SPEC)
    assert table.num_rows == 0 and table.schema.field("VSSTRESN").type == pa.float64()


def test_the_same_frame_gives_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_parquet(frame(), SPEC, a, CTX)
    write_parquet(frame(), SPEC, b, dataclasses.replace(CTX, created=datetime(2030, 1, 1)))  # no clock in the file
    assert a.read_bytes() == b.read_bytes()


def test_the_writers_registry_names_each_format_once():
    assert {fmt: (folder, ext) for fmt, (folder, ext, _) in WRITERS.items()} == {
        "xpt": ("xpt", "xpt"),
        "parquet": ("parquet", "parquet"),
        "csv": ("csv", "csv"),
        "json": ("json", "json"),
    }
    assert WRITERS["parquet"][2] is ParquetAppender


def test_the_write_context_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CTX.studyid = "OTHER"  # type: ignore[misc]
    assert CTX.ig_version == ""


def test_numeric_dates_are_arrow_dates_and_times(tmp_path):
    """An ADaM numeric date (days since 1960, DATE9.) is a date32, a date-time (seconds, DATETIME20.) a timestamp."""
    spec = DomainSpec(
        "ADSL",
        "Subject-Level Analysis Dataset",
        "SUBJECT LEVEL ANALYSIS DATASET",
        "One record per subject",
        ("USUBJID",),
        None,
        (
            var("USUBJID", "Unique Subject Identifier", "Char"),
            dataclasses.replace(var("TRTSDT", "Date of First Exposure", "Num"), display_format="DATE9."),
            dataclasses.replace(var("TRTSDTM", "Datetime of First Exposure", "Num"), display_format="DATETIME20."),
        ),
        Path("adsl.yaml"),
    )
    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series(["A", "B"], dtype="str"),
            "TRTSDT": pd.Series([23909, None], dtype="Int64"),  # 2025-06-17; never treated
            "TRTSDTM": pd.Series([23909 * 86400 + 42120, None], dtype="Int64"),  # 11:42
        }
    )
    write_parquet(frame, spec, tmp_path / "adsl.parquet", CTX)
    table = pq.read_table(tmp_path / "adsl.parquet")
    assert table.schema.field("TRTSDT").type == pa.date32()
    assert table.column("TRTSDT").to_pylist() == [datetime(2025, 6, 17).date(), None]
    assert table.column("TRTSDTM").to_pylist() == [datetime(2025, 6, 17, 11, 42), None]
    assert table.schema.field("TRTSDT").metadata[b"format"] == b"DATE9."


@pytest.mark.parametrize("split", SPLITS)
def test_sample_datasets_in_chunks_are_the_whole_file(sample_written, tmp_path, split):
    sample_in_chunks(sample_written, split, write_parquet, ParquetAppender, tmp_path, "parquet")


def test_a_chunk_of_missing_doubles_and_an_empty_chunk_change_nothing(tmp_path):
    frame, spec, chunks = mixed_dataset()
    same_in_chunks(write_parquet, ParquetAppender, frame, chunks, spec, CTX, tmp_path, "parquet")
    table = pq.read_table(tmp_path / "chunks.parquet")
    assert table.schema.field("XXVAL").type == pa.float64() and table.schema.field("XXSEQ").type == pa.int64()
    assert table.column("XXVAL").to_pylist() == [1.5, None, None, 2.25, None, -0.0]


@pytest.mark.parametrize("sizes", [(23,), (1,), (5,), (0, 4, 6, 0, 2, 11)], ids=str)
def test_more_rows_than_a_row_group_cut_alike_whatever_the_chunks(tmp_path, monkeypatch, sizes):
    """23 rows in row groups of 5: 5, 5, 5, 5, 3, whether the rows come at once, one by one, a row group at a time or
    in chunks across the groups' bounds; read back by pyarrow, row group by row group."""
    monkeypatch.setattr(parquet, "ROW_GROUP", 5)
    frame, spec, _ = mixed_dataset()
    frame = pd.concat([frame] * 4).iloc[:23].reset_index(drop=True)
    frame["XXSEQ"] = pd.array(range(1, 24), dtype="Int64")
    write_parquet(frame, spec, tmp_path / "whole.parquet", CTX)
    got = write_in_chunks(ParquetAppender, row_chunks(frame, sizes), spec, tmp_path / "chunks.parquet", CTX)
    assert got == (tmp_path / "whole.parquet").read_bytes()
    meta = pq.ParquetFile(tmp_path / "chunks.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [5, 5, 5, 5, 3]
    assert meta.row_group(4).column(3).statistics.min == 21  # XXSEQ of the last group: its own rows'
    assert pq.read_table(tmp_path / "chunks.parquet").column("XXSEQ").to_pylist() == list(range(1, 24))


def test_no_rows_one_empty_row_group_as_write_table_writes(tmp_path):
    frame, spec, _ = mixed_dataset()
    write_parquet(frame.iloc[:0], spec, tmp_path / "whole.parquet", CTX)
    got = write_in_chunks(ParquetAppender, [frame.iloc[:0]] * 3, spec, tmp_path / "chunks.parquet", CTX)
    assert got == (tmp_path / "whole.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "chunks.parquet").metadata.num_row_groups == 1


def test_row_group_is_pyarrows_default(tmp_path):
    """write_table cuts a table into row groups of ROW_GROUP rows when not told: the appender cuts the same."""
    pq.write_table(pa.table({"a": pa.array([0] * (ROW_GROUP + 1), pa.int8())}), tmp_path / "t.parquet")
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [ROW_GROUP, 1], pa.__version__


@pytest.mark.parametrize("fmt", WRITERS)
def test_an_appender_writes_the_rows_declared_from_at_least_one_chunk(tmp_path, fmt):
    frame, spec, _ = mixed_dataset()
    ctx = dataclasses.replace(CTX, lengths={"XX": xpt_lengths(frame, spec)})
    writer = WRITERS[fmt][2]
    with pytest.raises(ValueError, match="more than the 5 rows declared"), writer(tmp_path / "a", spec, ctx, 5) as out:
        out.write(frame)  # one row too many
    with pytest.raises(ValueError, match="3 rows in 1 chunks, 6 declared"), writer(tmp_path / "b", spec, ctx, 6) as out:
        out.write(frame.iloc[:3])  # rows missing at close
    with pytest.raises(ValueError, match="0 rows in 0 chunks, 0 declared"):  # the types come from a chunk
        writer(tmp_path / "c", spec, ctx, 0).close()


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_a_chunk_of_other_types_than_the_first_is_an_error(tmp_path, fmt):
    frame, spec, _ = mixed_dataset()
    ctx = dataclasses.replace(CTX, lengths={"XX": xpt_lengths(frame, spec)})
    with pytest.raises(ValueError, match="differ"), WRITERS[fmt][2](tmp_path / f"x.{fmt}", spec, ctx, 6) as out:
        out.write(frame.iloc[:3])
        out.write(frame.iloc[3:].astype({"XXSEQ": "float64"}))  # a whole-number column made double in one chunk

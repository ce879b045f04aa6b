"""Tests of flows/transfer/writers/parquet.py (and the writers' registry and context): a small VS-like dataset
written and read back with pyarrow: types from the spec, labels, dataset metadata, spec order, no pandas metadata."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.spec.model import DomainSpec, Variable
from flows.transfer.writers import WRITERS
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.parquet import ParquetAppender, arrow_table, write_parquet

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

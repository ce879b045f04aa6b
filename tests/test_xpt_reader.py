"""flows.raw.xpt: SAS transport files (v5 and v8) read as text, by the contract, indexed by record number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from flows.kernel.errors import StructuralError
from flows.raw.xpt import read_xpt, sas_pattern
from flows.spec.model import RawColumn, RawContract, RawFormat


def contract(*columns: RawColumn) -> RawContract:
    return RawContract(
        name="qs", file="QS.xpt", description="", key=(), allow_empty=False, parent=None, columns=columns,
        row_rules=(), cut=None, not_tabulated="", path=Path("specs/raw/qs.yaml"), format=RawFormat(type="xpt"),
    )  # fmt: skip


def column(name: str, type_: str = "string", source: str | None = None, format_: str | None = None) -> RawColumn:
    return RawColumn(name, type_, False, "", source=source, format=format_)


DATE = column("date", "date", "VISDT")
# variable, SAS format, values written (SAS numbers), contract column, text read
CASES = [
    ("SUBJ", None, ["0001", "", " x"], column("subject", source="SUBJ"), ["0001", None, " x"]),  # empty: missing
    ("AVAL", None, [12.0, 0.0, np.nan], column("result", source="AVAL"), ["12", "0", None]),  # exact zero; SAS .
    ("AVAL", "BEST12.", [72.3, 0.5, -0.0], column("result", source="aval"), ["72.3", "0.5", "0"]),  # any case
    ("WT", "8.1", [61.0, 65.94, np.nan], column("weight", "float", "WT"), ["61.0", "65.9", None]),  # w.d decimals
    ("DOSE", "12.2", [1.0, 0.98, 4.1], column("dose", "float", "DOSE"), ["1.00", "0.98", "4.10"]),
    ("BIG", None, [123456789012.0, 1e17, 1.5], column("big", "float", "BIG"), ["123456789012", "1e+17", "1.5"]),
    ("VISDT", "DATE9.", [23882.0, 0.0, np.nan], DATE, ["2025-05-21", "1960-01-01", None]),
    ("VISDT", "YYMMDD10.", [-1.0, 23882.0, 0.0], DATE, ["1959-12-31", "2025-05-21", "1960-01-01"]),
    ("VISDT", "E8601DA.", [23882.0, np.nan, 1.0], DATE, ["2025-05-21", None, "1960-01-02"]),
    ("VISDT", "MMDDYY10.", [23882.0, 0.0, 0.0], DATE, ["2025-05-21", "1960-01-01", "1960-01-01"]),
    ("VISDT", None, [23882.0, np.nan, 0.0], column("date", "date", "VISDT", "SAS date"),
     ["2025-05-21", None, "1960-01-01"]),  # a number declared a SAS date by the contract
    ("DTM", "DATETIME20.", [2065779720.0, 0.0, 59.0], column("start", "datetime", "DTM"),
     ["2025-06-17T11:42:00", "1960-01-01T00:00:00", "1960-01-01T00:00:59"]),
    ("DTM", "E8601DT16.", [2065779720.0, np.nan, 0.0], column("start", "datetime", "DTM"),
     ["2025-06-17T11:42", None, "1960-01-01T00:00"]),  # width 16: minutes, as the file shows them
    ("DTM", None, [2065779720.0, np.nan, 0.0], column("start", "datetime", "DTM", "SAS date"),
     ["2025-06-17T11:42:00", None, "1960-01-01T00:00:00"]),  # a datetime column: SAS seconds
    ("TM", "TIME8.", [42120.0, 0.0, np.nan], column("time", "string", "TM"), ["11:42:00", "00:00:00", None]),
]  # fmt: skip


@pytest.mark.parametrize("version", [5, 8])
@pytest.mark.parametrize(("variable", "fmt", "values", "col", "expected"), CASES)
def test_values_read_as_text(tmp_path, version, variable, fmt, values, col, expected):
    path = tmp_path / "QS.xpt"
    formats = {variable: fmt} if fmt else None
    pyreadstat.write_xport(pd.DataFrame({variable: values}), path, file_format_version=version, variable_format=formats)
    frame = read_xpt(path, contract(col))
    assert list(frame.columns) == [col.name]
    assert str(frame[col.name].dtype) == "str"
    assert [None if pd.isna(v) else v for v in frame[col.name]] == expected


@pytest.fixture
def qs(tmp_path) -> Path:
    path = tmp_path / "QS.xpt"
    frame = pd.DataFrame({"USUBJID": ["A", "B", "C", "D"], "QSDT": [23882.0, np.nan, 0.0, 1.0]})
    pyreadstat.write_xport(frame, path, file_format_version=5, variable_format={"QSDT": "DATE9."})
    return path


def test_index_is_the_record_number(qs):
    frame = read_xpt(qs, contract(column("subject", source="USUBJID"), column("date", "date", "QSDT")))
    assert frame.index.name == "line"
    assert frame.index.tolist() == [1, 2, 3, 4]
    assert [None if pd.isna(v) else v for v in frame["date"]] == ["2025-05-21", None, "1960-01-01", "1960-01-02"]


def test_columns_in_contract_order_named_by_the_contract(qs):
    frame = read_xpt(qs, contract(column("date", "date", "qsdt"), column("subject", source="usubjid")))
    assert list(frame.columns) == ["date", "subject"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([column("subject", source="USUBJID")], "QS.xpt: not in the contract ['QSDT'] (contract qs.yaml)"),
        (
            [column("subject", source="USUBJID"), column("date", "date", "QSDT"), column("visit", source="VISIT")],
            "QS.xpt: variable(s) missing ['VISIT'] (contract qs.yaml)",
        ),
        (
            [column("subject", source="SUBJID"), column("date", "date", "QSDT")],
            "QS.xpt: variable(s) missing ['SUBJID']; not in the contract ['USUBJID'] (contract qs.yaml)",
        ),
    ],
)
def test_variables_must_be_the_contracts_both_ways(qs, columns, message):
    with pytest.raises(StructuralError) as err:
        read_xpt(qs, contract(*columns))
    assert str(err.value) == message


@pytest.mark.parametrize(
    "content",
    [b"site,subject\n01,0001\n", b"", b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30],
)
def test_not_a_transport_file(tmp_path, content):
    path = tmp_path / "QS.xpt"
    path.write_bytes(content)
    with pytest.raises(StructuralError, match=r"^QS\.xpt: not a SAS transport file \(") as err:
        read_xpt(path, contract(column("subject")))
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(StructuralError, match=r"^QS\.xpt: missing file"):
        read_xpt(tmp_path / "QS.xpt", contract(column("subject")))


def test_empty_dataset_reads_as_no_rows(tmp_path):
    path = tmp_path / "QS.xpt"
    pyreadstat.write_xport(pd.DataFrame({"USUBJID": pd.Series([], dtype=object)}), path, file_format_version=5)
    frame = read_xpt(path, contract(column("subject", source="USUBJID")))
    assert frame.empty and list(frame.columns) == ["subject"] and frame.index.name == "line"


@pytest.mark.parametrize(
    ("fmt", "col", "expected"),
    [
        ("DATE9.", column("d"), (86400, "%Y-%m-%d")),
        ("DDMMYYS10.", column("d"), (86400, "%Y-%m-%d")),
        ("IS8601DA.", column("d"), (86400, "%Y-%m-%d")),
        ("E8601DT19.", column("d"), (1, "%Y-%m-%dT%H:%M:%S")),
        ("E8601DT16.", column("d"), (1, "%Y-%m-%dT%H:%M")),  # minutes
        ("TIME5.", column("d"), (1, "%H:%M")),
        ("E8601TM8.", column("d"), (1, "%H:%M:%S")),
        ("BEST12.", column("d"), None),
        ("8.2", column("d"), None),
        ("$CHAR20.", column("d"), None),
        (None, column("d", "date", format_="SAS date"), (86400, "%Y-%m-%d")),
        ("8.", column("d", "date", format_="SAS date"), (86400, "%Y-%m-%d")),  # a plain number declared a date
        ("BEST12.", column("d", "date", format_="SAS date"), (86400, "%Y-%m-%d")),  # not a date format: the contract
        ("BEST12.", column("d", "datetime", format_="SAS date"), (1, "%Y-%m-%dT%H:%M:%S")),  # SAS seconds
        ("TIME8.", column("d", "date", format_="SAS date"), (1, "%H:%M:%S")),  # the file's own format wins
    ],
)
def test_sas_pattern(fmt, col, expected):
    assert sas_pattern(fmt, col) == expected

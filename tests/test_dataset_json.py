"""Tests of the Dataset-JSON 1.1 writer: CDISC's JSON schema, values equal to Parquet, CDISC's example as golden;
a dataset written a chunk of rows at a time is the same file, its dataTypes from the dtypes."""

from __future__ import annotations

import json
from datetime import datetime

import jsonschema
import pandas as pd
import pyreadstat
import pytest

from flows.transfer.writers import lines
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.dataset_json import DatasetJsonAppender, dataset_json, json_type, write_dataset_json
from flows.transfer.writers.xpt import xpt_lengths
from tests.conftest import (
    SPLITS,
    in_chunks,
    mixed_dataset,
    same_in_chunks,
    sample_in_chunks,
)
from tests.test_xpt import GOLDEN, spec_from_xpt

SCHEMA = GOLDEN.parent / "dataset.schema.json"


@pytest.mark.parametrize("domain", ["dm", "ex", "ie", "ti", "ts"])
def test_sample_json_valid_and_equal_to_parquet(sample_export, specs, domain):
    _, transfer = sample_export
    doc = json.loads((transfer / "json" / f"{domain}.json").read_text(encoding="utf-8"))
    if SCHEMA.is_file():  # CDISC's schema ships in ../shared/reference, beside the repository
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    spec = specs.sdtm[domain.upper()]
    expected = pd.read_parquet(transfer / "parquet" / f"{domain}.parquet")
    assert [c["name"] for c in doc["columns"]] == spec.names
    assert [c["label"] for c in doc["columns"]] == [v.label for v in spec.variables]
    assert doc["records"] == len(expected) == len(doc["rows"])
    assert doc["datasetJSONCreationDateTime"] == json.loads((transfer / "manifest.json").read_text())["data_as_of"]
    define = (transfer / "define.xml").read_text(encoding="utf-8")  # the JSON points at the define's OIDs
    for oid in (
        doc["studyOID"],
        doc["metaDataVersionOID"],
        doc["itemGroupOID"],
        *(c["itemOID"] for c in doc["columns"]),
    ):
        assert f'OID="{oid}"' in define, oid
    lengths = xpt_lengths(expected, spec)
    assert all(c.get("length", lengths[c["name"]]) == lengths[c["name"]] for c in doc["columns"])
    got = dict(zip(spec.names, (list(c) for c in zip(*doc["rows"], strict=True)), strict=True))
    for v in spec.variables:
        want = expected[v.name].astype(object).where(expected[v.name].notna(), None).tolist()
        assert got[v.name] == want, v.name


@pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"CDISC's example study not found at {GOLDEN}")
@pytest.mark.parametrize("name", ["dm", "ex", "ie", "ti", "ts"])
def test_golden_rows_match_cdisc_example(name):
    """Writing the XPT half of CDISC's example pair gives the rows of its Dataset-JSON half."""
    data, meta = pyreadstat.read_xport(str(GOLDEN / f"{name}.xpt"))
    example = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    spec = spec_from_xpt(meta, name)
    frame = data.copy()
    for v in spec.variables:
        if v.type == "Char":
            frame[v.name] = frame[v.name].astype("str").where(frame[v.name] != "", None)
    doc = dataset_json(frame, spec, "CDISCPILOT01", xpt_lengths(frame, spec), datetime(2024, 11, 11), "3.3")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    blank = lambda row: ["" if v is None else v for v in row]  # noqa: E731  (the example writes blanks as "")
    assert [blank(r) for r in doc["rows"]] == [blank(r) for r in example["rows"]]
    assert [c["name"] for c in doc["columns"]] == [c["name"] for c in example["columns"]]
    assert [c["label"] for c in doc["columns"]] == [c["label"] for c in example["columns"]]


@pytest.mark.parametrize("rows", [6, 1, 0])
@pytest.mark.parametrize("chunks", [False, True], ids=["text in one chunk", "text in several Arrow chunks"])
def test_written_text_is_json_dumps_of_the_document(tmp_path, rows, chunks):
    """The column-at-a-time rows are what json.dumps writes: escapes, nulls, integers and doubles alike."""
    from flows.spec.model import DomainSpec, Variable
    from flows.transfer.writers.context import WriteContext
    from flows.transfer.writers.dataset_json import write_dataset_json

    texts = ['say "hi"', "back\\slash", "line\nbreak\ttab", "bell\x07", None, "é ok"]
    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series([f"S-{i}" for i in range(6)], dtype="str"),
            "XXTEXT": pd.Series(texts, dtype="str"),
            "XXDTC": pd.Series(["2025-01-01", None, "2025-02", "2025", "2025-01-01T10:00", ""], dtype="str"),
            "XXSEQ": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
            "XXVAL": pd.array([-0.0, 1 / 3, None, 1e20, 2.5, float("inf")], dtype="Float64"),
        }
    ).iloc[:rows]
    if chunks:
        frame = frame.assign(**{c: in_chunks(frame[c]) for c in ("USUBJID", "XXTEXT", "XXDTC")})
    variables = tuple(Variable(c, c, "Num" if c in ("XXSEQ", "XXVAL") else "Char", 200, "Perm", "", "") for c in frame)
    spec = DomainSpec("XX", "Example", "", "", ("USUBJID",), None, variables, tmp_path / "xx.yaml")
    lengths = xpt_lengths(frame, spec)
    path = tmp_path / "xx.json"
    write_dataset_json(frame, spec, path, WriteContext("X", datetime(2026, 10, 31), {"XX": lengths}, "3.4"))
    doc = dataset_json(frame, spec, "X", lengths, datetime(2026, 10, 31), "3.4")
    assert path.read_text(encoding="utf-8") == json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def test_analysis_json_points_at_define_adam(sample_export):
    """ADSL's Dataset-JSON: schema-valid, its OIDs those of adam/define.xml, its dates SAS dates with their format."""
    _, transfer = sample_export
    doc = json.loads((transfer / "adam" / "json" / "adsl.json").read_text(encoding="utf-8"))
    if SCHEMA.is_file():
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["metaDataRef"] == "define.xml"  # beside it, in adam/
    define = (transfer / "adam" / "define.xml").read_text(encoding="utf-8")
    for oid in (doc["metaDataVersionOID"], doc["itemGroupOID"], *(c["itemOID"] for c in doc["columns"])):
        assert f'OID="{oid}"' in define, oid
    column = next(c for c in doc["columns"] if c["name"] == "TRTSDT")
    assert (column["dataType"], column["displayFormat"]) == ("integer", "DATE9.")
    row = next(r for r in doc["rows"] if r[1] == "CART-20250321-01-0001")
    assert row[[c["name"] for c in doc["columns"]].index("TRTSDT")] == 23909  # 2025-06-17


@pytest.mark.parametrize("split", SPLITS)
def test_sample_datasets_in_chunks_are_the_whole_file(sample_written, tmp_path, monkeypatch, split):
    monkeypatch.setattr(lines, "SMALL", 8)  # the whole frames rendered by distinct value, the small chunks by row
    sample_in_chunks(sample_written, split, write_dataset_json, DatasetJsonAppender, tmp_path, "json")


@pytest.mark.parametrize("rows", [6, 0])
def test_chunks_read_back_by_json(tmp_path, rows):
    """A chunk of missing values only in a column of doubles is still double (its values alone would say integer);
    the records of the head are the rows declared."""
    frame, spec, chunks = mixed_dataset()
    frame, chunks = (frame, chunks) if rows else (frame.iloc[:0], [frame.iloc[:0]] * 2)
    ctx = WriteContext("X", datetime(2026, 10, 31), {"XX": xpt_lengths(frame, spec)}, "3.4")
    got = same_in_chunks(write_dataset_json, DatasetJsonAppender, frame, chunks, spec, ctx, tmp_path, "json")
    doc = json.loads(got)
    assert doc["records"] == len(doc["rows"]) == rows
    assert [c["dataType"] for c in doc["columns"]] == ["string", "string", "datetime", "integer", "double"]
    assert [r[4] for r in doc["rows"]] == [1.5, None, None, 2.25, None, -0.0][:rows]
    assert doc == dataset_json(frame, spec, "X", ctx.lengths["XX"], ctx.created, "3.4")


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.array([1, None], dtype="Int64"), "integer"),
        (pd.Series([1.0, 2.0]), "double"),  # whole numbers in a float column: the dataset as written says double
        (pd.Series([None, None], dtype="float64"), "double"),  # a chunk of missing values only
        (pd.array([0.5, None], dtype="Float64"), "double"),
    ],
)
def test_json_type_of_numbers_from_the_dtype(values, kind):
    assert json_type("XXVAL", pd.Series(values), "Num") == kind

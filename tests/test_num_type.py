"""Tests of flows/transfer/num_type.py: a numeric variable is integer or double alike in Parquet, Dataset-JSON
and define.xml (QSSTRESN was integer in define.xml and Dataset-JSON but double in Parquet)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from flows.spec.model import DomainSpec
from flows.transfer.num_type import AsWritten, holds_integers, retyped

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def test_whole_floats_and_no_values_hold_integers():
    assert holds_integers(pd.Series([1.0, None, 3.0]))
    assert holds_integers(pd.Series([], dtype="float64"))
    assert holds_integers(pd.Series([1, 2], dtype="Int64"))
    assert not holds_integers(pd.Series([1.0, 2.5]))


def test_whole_numbers_become_integers_and_the_rest_stay(specs):
    qs: DomainSpec = specs.sdtm["QS"]
    frame = pd.DataFrame({v.name: pd.Series([None, None], dtype="str") for v in qs.variables})
    frame = frame.assign(QSSTRESN=[1.0, None], QSSEQ=[1, 2], VISITNUM=[1.5, 2.0], QSDY=[None, None])
    out = AsWritten({"QS": frame.astype({"QSDY": "float64"})}, {"QS": qs})["QS"]
    assert str(out["QSSTRESN"].dtype) == "Int64" and out["QSSTRESN"].tolist() == [1, pd.NA]
    assert str(out["QSDY"].dtype) == "Int64"  # no value at all: integer, as define.xml says
    assert out["VISITNUM"].dtype == "float64" and out["QSSEQ"].dtype == "int64"


def test_every_numeric_variable_has_one_type_in_every_format(sample_export):
    _, transfer = sample_export
    define = etree.parse(str(transfer / "define.xml"))
    declared = {i.get("OID"): i.get("DataType") for i in define.iterfind(".//odm:ItemDef", NS)}
    seen = set()
    for path in sorted((transfer / "parquet").glob("*.parquet")):
        domain = path.stem.upper()
        schema = pq.read_schema(path)
        columns = json.loads((transfer / "json" / f"{path.stem}.json").read_text(encoding="utf-8"))["columns"]
        for field in schema:
            if field.type == pa.string():
                continue
            kind = {c["name"]: c["dataType"] for c in columns}[field.name]
            oid = next(o for o in (f"IT.{domain}.{field.name}", f"IT.{field.name}") if o in declared)
            expected = "integer" if field.type == pa.int64() else "float"
            assert (declared[oid], kind) == (expected, expected.replace("float", "double")), (domain, field.name)
            seen.add(f"{domain}.{field.name}")
    assert {"QS.QSSTRESN", "QS.QSSEQ", "DM.AGE"} <= seen


def test_datasets_as_written_are_made_when_read_sharing_the_columns_that_do_not_change(specs):
    qs: DomainSpec = specs.sdtm["QS"]
    frame = pd.DataFrame({v.name: pd.Series(["a", None], dtype="str") for v in qs.variables})
    frame = frame.assign(QSSTRESN=[1.0, None], VISITNUM=[1.5, 2.0], _file=["qs.csv"] * 2, _line=[2, 3])
    written = AsWritten({"QS": frame}, {"QS": qs}, without=["_file", "_line"])
    out = written["QS"]
    expected = frame.drop(columns=["_file", "_line"]).astype({"QSSTRESN": "Int64"})
    pd.testing.assert_frame_equal(out, expected)  # the same as converting a copy of the whole dataset
    assert str(out["QSSTRESN"].dtype) == "Int64" and "_line" not in out
    assert np.shares_memory(out["VISITNUM"].to_numpy(), frame["VISITNUM"].to_numpy())  # unchanged: not copied
    assert out is not written["QS"]  # made anew at each read, held by no one
    assert "QS" in written and "DM" not in written and list(written) == ["QS"]


def test_a_dataset_with_nothing_to_change_is_written_as_it_is(specs):
    frame = pd.DataFrame({"STUDYID": pd.Series(["S"], dtype="str")})
    assert retyped(frame, whole=[], without=["_file", "_line"]) is frame


class _Blocks(dict):
    """Datasets kept in blocks of rows, with the whole-number columns their blocks agree on (as run/spill.Spilled)."""

    def __init__(self, blocks: list[pd.DataFrame], whole: list[str] | None) -> None:
        super().__init__(QS=pd.concat(blocks, ignore_index=True))
        self.blocks, self.decided = blocks, whole

    def chunks(self, domain: str):
        yield from self.blocks

    def whole(self, domain: str) -> list[str] | None:
        return self.decided

    def columns(self, domain: str) -> list[str]:
        return list(self.blocks[0].columns)

    def counts(self, domain: str) -> tuple[int, int | None]:
        return sum(len(b) for b in self.blocks), None


def test_a_dataset_in_blocks_is_written_a_block_at_a_time_converted_alike(specs):
    """Every block is converted as the whole dataset: QSSTRESN is whole in both blocks, so even the block that holds
    none of its values gives integers; what the blocks cannot decide (None) is decided on the dataset, whole."""
    qs: DomainSpec = specs.sdtm["QS"]
    empty = {v.name: pd.Series([None], dtype="str") for v in qs.variables}
    first = pd.DataFrame(empty).assign(QSSTRESN=[2.0], VISITNUM=[1.5], QSSEQ=[1])
    second = pd.DataFrame(empty).assign(QSSTRESN=[float("nan")], VISITNUM=[2.0], QSSEQ=[2])
    written = AsWritten(_Blocks([first, second], ["QSSTRESN"]), {"QS": qs})
    chunks = list(written.chunks("QS"))
    assert [str(c["QSSTRESN"].dtype) for c in chunks] == ["Int64", "Int64"]
    assert [c["VISITNUM"].dtype for c in chunks] == ["float64", "float64"]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), written["QS"])
    assert written.counts("QS") == (2, None) and written.rows("QS") == 2
    without = AsWritten(_Blocks([first.assign(_line=[1]), second.assign(_line=[2])], None), {"QS": qs}, ["_line"])
    assert without.columns("QS") == list(first.columns)  # as written: no trace column
    assert AsWritten({"QS": first}, {"QS": qs}).columns("QS") is None  # whole: the dataset says
    undecided = AsWritten(_Blocks([first, second], None), {"QS": qs})
    (whole,) = undecided.chunks("QS")
    assert len(whole) == 2 and str(whole["QSSTRESN"].dtype) == "Int64"

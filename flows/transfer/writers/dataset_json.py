"""CDISC Dataset-JSON 1.1 writer: same frames and metadata as the XPT, creation time from the data, not the clock."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows import __version__
from flows.spec.model import ANALYSIS_CLASSES, DomainSpec
from flows.transfer.define import ADAMIG_VERSION, metadata_version_oid, study_oid
from flows.transfer.writers.context import Appender, WriteContext
from flows.transfer.writers.lines import column_tokens, write_rows

VERSION = "1.1.0"


def json_type(name: str, col: pd.Series, spec_type: str) -> str:
    """Dataset-JSON dataType: datetime for ISO 8601 --DTC text, string for other text; for numbers, from the column's
    dtype, never its values (a chunk's values are not the dataset's): integer for an integer column, else double.
    A dataset as written (flows/transfer/num_type.py) holds a Num variable of whole numbers in an integer column."""
    if spec_type == "Char":
        return "datetime" if name.endswith("DTC") else "string"
    return "integer" if pd.api.types.is_integer_dtype(col) else "double"


def _json_values(col: pd.Series, kind: str) -> pd.Series:
    """The column as the Python values JSON writes: int for integer columns, None where missing."""
    values = col.astype("Int64") if kind == "integer" else col
    return values.astype(object).where(col.notna(), None)


def _document(
    frame: pd.DataFrame,
    spec: DomainSpec,
    studyid: str,
    lengths: dict[str, int],
    created: datetime,
    ig_version: str,
    rows: int,
) -> tuple[dict, list[str]]:
    """Everything of the document but its rows (`rows` of them; the dataTypes from the frame's dtypes), and the
    dataType of each variable."""
    columns, kinds = [], []
    keys = {k: i for i, k in enumerate(spec.keys, start=1)}
    for v in spec.variables:
        kind = json_type(v.name, frame[v.name], v.type)
        column = {"itemOID": f"IT.{spec.domain}.{v.name}", "name": v.name, "label": v.label, "dataType": kind}
        if v.type == "Char":
            column["length"] = lengths[v.name]
        if v.display_format:  # an ADaM numeric date: the SAS date (days since 1960) with its display format
            column["displayFormat"] = v.display_format
        if v.name in keys:
            column["keySequence"] = keys[v.name]
        columns.append(column)
        kinds.append(kind)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S")
    analysis = spec.klass in ANALYSIS_CLASSES  # an ADaM dataset: described by adam/define.xml
    doc = {
        "datasetJSONCreationDateTime": stamp,
        "datasetJSONVersion": VERSION,
        "fileOID": f"{studyid}/{spec.domain}",
        "dbLastModifiedDateTime": stamp,
        "originator": studyid,
        "sourceSystem": {"name": "s103-sdtm", "version": __version__},
        "studyOID": study_oid(studyid),
        "metaDataVersionOID": metadata_version_oid(studyid, "ADaMIG", ADAMIG_VERSION)
        if analysis
        else metadata_version_oid(studyid, "SDTMIG", ig_version),
        "metaDataRef": "define.xml",  # beside the dataset's folder: the transfer's, or adam/'s for ADaM
        "itemGroupOID": f"IG.{spec.domain}",
        "records": rows,
        "name": spec.domain,
        "label": spec.label,
        "columns": columns,
    }
    return doc, kinds


def dataset_json(
    frame: pd.DataFrame,
    spec: DomainSpec,
    studyid: str,
    lengths: dict[str, int],
    created: datetime,
    ig_version: str = "",
) -> dict:
    doc, kinds = _document(frame, spec, studyid, lengths, created, ig_version, len(frame))
    data = [_json_values(frame[v.name], k).to_numpy() for v, k in zip(spec.variables, kinds, strict=True)]
    doc["rows"] = np.column_stack(data).tolist() if len(frame) else []
    return doc


# What json.dumps(ensure_ascii=False) escapes in a string, backslash first; other control characters as \u00XX
ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f"))
NEEDS_ESCAPE, CONTROL = '[\\\\"\\x00-\\x1f]', "[\\x00-\\x1f]"


def _by_json(col: pd.Series, kind: str) -> pa.ChunkedArray:
    values = [json.dumps(v, ensure_ascii=False) for v in _json_values(col, kind)]
    return pa.chunked_array([pa.array(values, pa.large_string())])


def _json_text(col: pd.Series, kind: str) -> pa.Array:
    """Each value of the column as json.dumps writes it, worked out a column at a time."""
    if kind in ("integer", "double"):  # no comma in a number: one json.dumps of the column, split at the commas
        text = json.dumps(_json_values(col, kind).tolist(), separators=(",", ":"))[1:-1].split(",")
        return pa.array(text, pa.large_string())
    if not isinstance(col.array, pd.arrays.ArrowStringArray):  # not Arrow text: let json write every value
        return _by_json(col, kind).combine_chunks()
    text = pa.array(col.array)
    if pc.any(pc.match_substring_regex(text, NEEDS_ESCAPE)).as_py():
        for plain, escaped in ESCAPES:
            text = pc.replace_substring(text, plain, escaped)
        if pc.any(pc.match_substring_regex(text, CONTROL)).as_py():  # rare
            return _by_json(col, kind).combine_chunks()
    quote = pa.scalar('"', pa.large_string())
    return pc.fill_null(pc.binary_join_element_wise(quote, text, quote, pa.scalar("", pa.large_string())), "null")


def write_rows_json(fh: BinaryIO, frame: pd.DataFrame, spec: DomainSpec, kinds: list[str]) -> None:
    """The frame's rows as JSON arrays joined by commas (none before the first, none after the last), the same as
    json.dumps writes them, each value rendered once per distinct value of its column and the rows joined a block
    at a time; nothing for no rows."""
    if not len(frame):
        return
    tokens = [
        column_tokens(frame[v.name], lambda values, k=kind: _json_text(values, k))
        for v, kind in zip(spec.variables, kinds, strict=True)
    ]
    write_rows(fh, tokens, len(frame), ",", before="[", after="],", trim=1)  # no comma after the last row


class DatasetJsonAppender(Appender):
    """A Dataset-JSON file from chunks of rows: the document's head ("records": the rows declared; each dataType
    from the first chunk's dtypes, `json_type`) at the first chunk, then "rows" a chunk at a time, a comma between
    two chunks' rows, and the closing brackets at `close`. A later chunk of other dataTypes is an error."""

    def __init__(self, path: Path, spec: DomainSpec, ctx: WriteContext, rows: int) -> None:
        super().__init__(path, spec, ctx, rows)
        self.lengths = ctx.lengths[spec.domain]
        self.kinds: list[str] | None = None
        self.fh = path.open("wb")

    def _append(self, chunk: pd.DataFrame) -> None:
        if self.kinds is None:
            ctx = self.ctx
            doc, self.kinds = _document(
                chunk, self.spec, ctx.studyid, self.lengths, ctx.created, ctx.ig_version, self.rows
            )
            head = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            self.fh.write((head[:-1] + ',"rows":[').encode("utf-8"))
        else:
            kinds = [json_type(v.name, chunk[v.name], v.type) for v in self.spec.variables]
            if kinds != self.kinds:
                raise ValueError(f"{self.path.name}: a chunk's dataTypes {kinds} differ from the first's {self.kinds}")
        if len(chunk):
            if self.written:  # after the rows of the chunks before
                self.fh.write(b",")
            write_rows_json(self.fh, chunk, self.spec, self.kinds)

    def _finish(self) -> None:
        self.fh.write(b"]}\n")
        self.fh.close()

    def _abandon(self) -> None:
        self.fh.close()


def write_dataset_json(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    """The whole frame as one chunk."""
    with DatasetJsonAppender(path, spec, ctx, len(frame)) as out:
        out.write(frame)

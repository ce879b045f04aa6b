"""CDISC Dataset-JSON 1.1 writer: same frames and metadata as the XPT, creation time from the data, not the clock."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from flows import __version__
from flows.define import metadata_version_oid, study_oid
from flows.specs import DomainSpec
from flows.writers.context import WriteContext

VERSION = "1.1.0"


def json_type(name: str, col: pd.Series, spec_type: str) -> str:
    """Dataset-JSON dataType: datetime for ISO 8601 --DTC text, integer for whole numbers, else string/double."""
    if spec_type == "Char":
        return "datetime" if name.endswith("DTC") else "string"
    if pd.api.types.is_integer_dtype(col):
        return "integer"
    values = col.dropna().astype("float64")
    return "integer" if len(values) and np.all(values == np.round(values)) else "double"


def dataset_json(
    frame: pd.DataFrame,
    spec: DomainSpec,
    studyid: str,
    lengths: dict[str, int],
    created: datetime,
    ig_version: str = "",
) -> dict:
    columns, data = [], {}
    keys = {k: i for i, k in enumerate(spec.keys, start=1)}
    for v in spec.variables:
        col = frame[v.name]
        kind = json_type(v.name, col, v.type)
        column = {"itemOID": f"IT.{spec.domain}.{v.name}", "name": v.name, "label": v.label, "dataType": kind}
        if v.type == "Char":
            column["length"] = lengths[v.name]
        if v.name in keys:
            column["keySequence"] = keys[v.name]
        columns.append(column)
        if kind == "integer":
            data[v.name] = col.astype("Int64").astype(object).where(col.notna(), None).tolist()
        else:
            data[v.name] = col.astype(object).where(col.notna(), None).tolist()
    rows = [list(r) for r in zip(*data.values(), strict=True)] if len(frame) else []
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "datasetJSONCreationDateTime": stamp,
        "datasetJSONVersion": VERSION,
        "fileOID": f"{studyid}/{spec.domain}",
        "dbLastModifiedDateTime": stamp,
        "originator": studyid,
        "sourceSystem": {"name": "s103-sdtm", "version": __version__},
        "studyOID": study_oid(studyid),
        "metaDataVersionOID": metadata_version_oid(studyid, "SDTMIG", ig_version),
        "metaDataRef": "define.xml",
        "itemGroupOID": f"IG.{spec.domain}",
        "records": len(frame),
        "name": spec.domain,
        "label": spec.label,
        "columns": columns,
        "rows": rows,
    }


def write_dataset_json(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    doc = dataset_json(frame, spec, ctx.studyid, ctx.lengths[spec.domain], ctx.created, ctx.ig_version)
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

"""Parquet writer: variable labels in field metadata (key `label`), dataset label in schema metadata."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.spec.model import DomainSpec
from flows.transfer.writers.context import WriteContext


def arrow_table(frame: pd.DataFrame, spec: DomainSpec) -> pa.Table:
    """The frame as an Arrow table typed and labelled from the spec, without pandas metadata."""
    fields, arrays = [], []
    for v in spec.variables:
        col = frame[v.name]
        if v.type == "Char":
            typ = pa.string()
        elif pd.api.types.is_integer_dtype(col):
            typ = pa.int64()
        else:
            typ = pa.float64()
        arrays.append(pa.array(col, type=typ, from_pandas=True))
        fields.append(pa.field(v.name, typ, metadata={"label": v.label}))
    meta = {"label": spec.label, "domain": spec.domain, "structure": spec.structure, "keys": ",".join(spec.keys)}
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))


def write_parquet(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    pq.write_table(arrow_table(frame, spec), path, compression="zstd")

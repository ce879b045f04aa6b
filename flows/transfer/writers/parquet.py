"""Parquet writer: variable labels in field metadata (key `label`), dataset label in schema metadata; an ADaM numeric
date (a SAS date with a date display format) as date32, a numeric date-time as a timestamp in seconds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.spec.model import DomainSpec, time_kind
from flows.transfer.writers.context import WriteContext

SAS_TO_UNIX_DAYS = 3653  # 1960-01-01 to 1970-01-01


def arrow_table(frame: pd.DataFrame, spec: DomainSpec) -> pa.Table:
    """The frame as an Arrow table typed and labelled from the spec, without pandas metadata."""
    fields, arrays = [], []
    for v in spec.variables:
        col = frame[v.name]
        kind = time_kind(v.display_format)
        if kind is not None:  # days (seconds) since 1960 to Arrow's date32 (timestamp) since 1970
            unit = SAS_TO_UNIX_DAYS * (86400 if kind == "datetime" else 1)
            typ = pa.timestamp("s") if kind == "datetime" else pa.date32()
            count = pa.array(col.astype("Int64") - unit, type=pa.int64(), from_pandas=True)
            arrays.append(count.cast(pa.int32()).cast(typ) if kind == "date" else count.cast(typ))
            meta = {"label": v.label, "format": v.display_format}
            fields.append(pa.field(v.name, typ, metadata=meta))
            continue
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

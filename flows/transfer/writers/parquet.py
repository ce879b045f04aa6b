"""Parquet writer: variable labels in field metadata (key `label`), dataset label in schema metadata; an ADaM numeric
date (a SAS date with a date display format) as date32, a numeric date-time as a timestamp in seconds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.spec.model import DomainSpec, time_kind
from flows.transfer.writers.context import Appender, WriteContext

SAS_TO_UNIX_DAYS = 3653  # 1960-01-01 to 1970-01-01
ROW_GROUP = 1024 * 1024  # rows per row group: pq.write_table's default (min(rows, 1024 * 1024)), cut alike in chunks
COMPRESSION = "zstd"


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


class ParquetAppender(Appender):
    """A Parquet file from chunks of rows, cut into the row groups pq.write_table cuts the whole table into: the
    chunks are held until ROW_GROUP rows are there, each row group then written from one table (the writer's pages,
    dictionary and statistics are those of the whole table's slice), and the last one as soon as the declared rows
    are all there (none held while the other formats write the last chunk). The schema is the first chunk's (types
    from the spec and the columns' dtypes); a later chunk of other types is an error."""

    def __init__(self, path: Path, spec: DomainSpec, ctx: WriteContext, rows: int) -> None:
        super().__init__(path, spec, ctx, rows)
        self.held: list[pa.Table] = []
        self.held_rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.complete = False  # the last row group written

    def _append(self, chunk: pd.DataFrame) -> None:
        table = arrow_table(chunk, self.spec)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression=COMPRESSION)
        elif not table.schema.equals(self.writer.schema, check_metadata=True):
            raise ValueError(f"{self.path.name}: a chunk's types differ from the first chunk's: {table.schema}")
        if table.num_rows:
            self.held.append(table)
            self.held_rows += table.num_rows
        last = self.written + table.num_rows == self.rows
        if (self.held_rows >= ROW_GROUP or last) and not self.complete:
            self._write_groups(self.writer, last)

    def _write_groups(self, writer: pq.ParquetWriter, last: bool) -> None:
        """The held rows as whole row groups (and, when `last`, the rest as the last one), the rest held."""
        if len(self.held) == 1:
            table = self.held[0]
        else:
            table = pa.concat_tables(self.held).combine_chunks() if self.held else writer.schema.empty_table()
        whole = table.num_rows if last else table.num_rows - table.num_rows % ROW_GROUP
        if whole or (last and not self.rows):  # no rows at all: pq.write_table's one empty row group
            writer.write_table(table.slice(0, whole), row_group_size=ROW_GROUP)
        rest = table.slice(whole)
        self.held, self.held_rows = ([rest] if rest.num_rows else []), rest.num_rows
        self.complete = last

    def _finish(self) -> None:
        if self.writer is not None:  # close checks that a chunk came, and every row: the last row group is written
            self.writer.close()

    def _abandon(self) -> None:
        self.held = []
        if self.writer is not None:
            self.writer.close()


def write_parquet(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    """The whole frame as one chunk."""
    with ParquetAppender(path, spec, ctx, len(frame)) as out:
        out.write(frame)

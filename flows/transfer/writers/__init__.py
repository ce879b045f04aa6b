"""One small module per output format: a dataset written from consecutive chunks of its rows (an `Appender`:
opened with the path, its spec, the transfer context and the number of rows, each chunk appended, then closed), and
`write_<format>(frame, spec, path, ctx)`, the whole frame as one chunk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flows.spec.model import DomainSpec
from flows.transfer.writers.context import Appender, WriteContext
from flows.transfer.writers.csv import CsvAppender
from flows.transfer.writers.dataset_json import DatasetJsonAppender
from flows.transfer.writers.parquet import ParquetAppender
from flows.transfer.writers.xpt import XptAppender

Writer = Callable[[Path, DomainSpec, WriteContext, int], Appender]  # (path, spec, ctx, rows): an open appender

# format -> (folder in the transfer, file extension, writer)
WRITERS: dict[str, tuple[str, str, Writer]] = {
    "xpt": ("xpt", "xpt", XptAppender),
    "parquet": ("parquet", "parquet", ParquetAppender),
    "csv": ("csv", "csv", CsvAppender),
    "json": ("json", "json", DatasetJsonAppender),
}

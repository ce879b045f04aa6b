"""One small module per output format: a conformed frame, its spec and the transfer context in, one file out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from flows.spec.model import DomainSpec
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.csv import write_csv
from flows.transfer.writers.dataset_json import write_dataset_json
from flows.transfer.writers.parquet import write_parquet
from flows.transfer.writers.xpt import write_xpt

Writer = Callable[[pd.DataFrame, DomainSpec, Path, WriteContext], None]

# format -> (folder in the transfer, file extension, writer)
WRITERS: dict[str, tuple[str, str, Writer]] = {
    "xpt": ("xpt", "xpt", write_xpt),
    "parquet": ("parquet", "parquet", write_parquet),
    "csv": ("csv", "csv", write_csv),
    "json": ("json", "json", write_dataset_json),
}

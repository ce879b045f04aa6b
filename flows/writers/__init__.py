"""One small module per output format: a conformed frame and its spec in, one file out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from flows.specs import DomainSpec
from flows.writers.csv import write_csv
from flows.writers.parquet import write_parquet

Writer = Callable[[pd.DataFrame, DomainSpec, Path], None]

# format -> (folder in the transfer, file extension, writer)
WRITERS: dict[str, tuple[str, str, Writer]] = {
    "parquet": ("parquet", "parquet", write_parquet),
    "csv": ("csv", "csv", write_csv),
}

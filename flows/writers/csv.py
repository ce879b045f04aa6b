"""CSV writer, XPT-style: upper-case names of at most 8 characters in spec order, UTF-8, ISO 8601 dates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flows.specs import DomainSpec
from flows.writers.context import WriteContext


def write_csv(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    frame[spec.names].to_csv(path, index=False, encoding="utf-8", lineterminator="\n")

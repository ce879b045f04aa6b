"""trace.csv: for every SDTM record that came from a raw row, its domain, key, source file and line; and how many
lines of each raw file the transfer's records trace back to (the manifest's `tabulated`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from flows.kernel.chunks import chunks_of
from flows.kernel.distinct import constant_text, distinct_rows
from flows.spec.model import Specs
from flows.transfer.writers.csv import write_parts

TRACE_COLUMNS = ("domain", "USUBJID", "seq", "file", "line")


def trace_parts(datasets: Mapping[str, pd.DataFrame], specs: Specs) -> Iterator[pd.DataFrame]:
    """The trace table, one part per dataset that came from raw rows: per record its domain, key, source file and
    line. In parts: at 100,000 subjects the whole table would be 22 million rows held at once."""
    for domain in datasets:
        for frame in chunks_of(datasets, domain):
            if "_line" not in frame:
                break
            yield _part(frame, domain, specs.sdtm[domain].seq)


def _part(frame: pd.DataFrame, domain: str, seq: str | None) -> pd.DataFrame:
    """The trace rows of a dataset's frame (whole, or a block of its rows)."""
    if frame["_line"].isna().any():  # records a source added to the raw ones (a missed visit) have no line
        frame = frame[frame["_line"].notna().to_numpy(bool)]
    n = len(frame)
    return pd.DataFrame(
        {
            "domain": constant_text(domain, n),
            "USUBJID": frame["USUBJID"].array,
            "seq": frame[seq].astype("Int64").array if seq else pd.array([pd.NA] * n, dtype="Int64"),
            "file": frame["_file"].array,
            "line": frame["_line"].to_numpy(dtype="int64"),
        },
        copy=False,
    )


class LineCount:
    """Distinct source lines per raw file over parts of a trace: a bitmap over each file's line numbers, not a hash
    of millions of (file, line) pairs."""

    def __init__(self) -> None:
        self.present: dict[str, np.ndarray] = {}

    def add(self, part: pd.DataFrame) -> pd.DataFrame:
        """Count the lines of a part (file and line columns); the part is returned, to be written on."""
        if not len(part):
            return part
        files = distinct_rows(part, ["file"])  # a dataset's records mostly come from one file
        lines = part["line"].to_numpy()
        for i, name in enumerate(files.rows["file"]):
            these = lines[files.codes == i] if len(files.rows) > 1 else lines
            if these.min() < 0:
                raise ValueError(f"{name}: a traced line number below 0")
            seen = self.present.setdefault(name, np.zeros(0, bool))
            if len(seen) <= these.max():
                seen = self.present[name] = np.concatenate([seen, np.zeros(int(these.max()) + 1 - len(seen), bool)])
            seen[these] = True
        return part

    def counts(self) -> dict[str, int]:
        return {name: int(np.count_nonzero(seen)) for name, seen in self.present.items()}


def write_trace(datasets: Mapping[str, pd.DataFrame], specs: Specs, path: Path) -> tuple[int, dict[str, int]]:
    """Write trace.csv dataset by dataset; return its rows and the distinct lines it names per raw file."""
    count = LineCount()
    parts = (count.add(part) for part in trace_parts(datasets, specs))
    rows = write_parts(parts, path, TRACE_COLUMNS, text=["domain", "USUBJID", "file"])
    return rows, count.counts()

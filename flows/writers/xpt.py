"""SAS XPORT version 5 writer: every limit checked first (never a silent truncation), header dates fixed."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyreadstat

from flows.errors import OutputCheckError
from flows.specs import DomainSpec
from flows.writers.context import WriteContext

MAX_NAME, MAX_LABEL, MAX_CHAR = 8, 40, 200
HEADER_STAMP = re.compile(rb"\d{2}[A-Z]{3}\d{2}:\d{2}:\d{2}:\d{2}")
HEADER_BYTES = 80 * 8  # the library and member header records, where ReadStat writes the clock 4 times


def byte_lengths(col: pd.Series) -> pd.Series:
    """UTF-8 byte length of each text value; NaN where missing."""
    present = col.dropna()
    if not len(present):
        return pd.Series(float("nan"), col.index)
    if isinstance(col.array, pd.arrays.ArrowStringArray):  # Arrow holds the UTF-8 bytes: no encoding needed
        lengths = pc.binary_length(pa.chunked_array(pa.array(col.array))).to_pandas()
        return pd.Series(lengths.to_numpy(), index=col.index, name=col.name)
    return present.str.encode("utf-8").str.len().reindex(col.index)


def xpt_lengths(frame: pd.DataFrame, spec: DomainSpec) -> dict[str, int]:
    """Length of each variable as written: longest value in bytes (at least 1) for text, 8 for numbers."""
    out = {}
    for v in spec.variables:
        if v.type == "Num":
            out[v.name] = 8
        else:
            lengths = byte_lengths(frame[v.name])
            out[v.name] = max(1, int(lengths.max())) if lengths.notna().any() else 1
    return out


def xpt_problems(frame: pd.DataFrame, spec: DomainSpec) -> list[str]:
    """Everything XPORT v5 cannot represent, each naming domain, variable and (for values) the first subject."""
    problems = []
    if len(spec.domain) > MAX_NAME or len(spec.label) > MAX_LABEL:
        problems.append(f"{spec.domain}: dataset name over {MAX_NAME} or label over {MAX_LABEL} characters")
    for v in spec.variables:
        where = f"{spec.domain}.{v.name}"
        if len(v.name) > MAX_NAME or not v.name.isascii() or v.name != v.name.upper():
            problems.append(f"{where}: name must be upper-case ASCII of at most {MAX_NAME} characters")
        if len(v.label) > MAX_LABEL or not v.label.isascii():
            problems.append(f"{where}: label over {MAX_LABEL} characters or not ASCII: {v.label!r}")
        if v.type == "Char":
            col = frame[v.name]
            subject = frame["USUBJID"] if "USUBJID" in frame else pd.Series("(no subject)", index=frame.index)
            too_long = byte_lengths(col) > MAX_CHAR
            if too_long.any():
                problems.append(f"{where}: value over {MAX_CHAR} bytes for {subject[too_long].iloc[0]}")
            non_ascii = col.notna() & ~col.str.isascii().fillna(True).astype(bool)
            if non_ascii.any():
                problems.append(f"{where}: non-ASCII value {col[non_ascii].iloc[0]!r} for {subject[non_ascii].iloc[0]}")
    return problems


def xport_frame(frame: pd.DataFrame, spec: DomainSpec) -> pd.DataFrame:
    """Text with blanks for nulls (XPORT has no null text) and numbers as float64 with NaN for missing."""
    out = pd.DataFrame(index=frame.index)
    for v in spec.variables:
        col = frame[v.name]
        out[v.name] = col.astype("float64") if v.type == "Num" else col.astype(object).where(col.notna(), "")
    return out


def fix_header_dates(path: Path, when: datetime) -> None:
    """Replace the write time ReadStat stamps in the headers with `when`, so equal data gives equal bytes."""
    data = bytearray(path.read_bytes())
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")
    head = bytes(data[:HEADER_BYTES])
    found = [m.start() for m in HEADER_STAMP.finditer(head)]
    if len(found) != 4:
        raise OutputCheckError(f"{path.name}: expected 4 header date fields, found {len(found)}")
    for start in found:
        data[start : start + len(stamp)] = stamp
    path.write_bytes(bytes(data))


def write_xpt(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    problems = xpt_problems(frame, spec)
    if problems:
        raise OutputCheckError("cannot write SAS XPORT v5: " + "; ".join(problems))
    pyreadstat.write_xport(
        xport_frame(frame, spec),
        str(path),
        file_label=spec.label,
        column_labels=[v.label for v in spec.variables],
        table_name=spec.domain,
        file_format_version=5,
    )
    fix_header_dates(path, ctx.created)

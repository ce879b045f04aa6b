"""Read raw EDC exports as text, indexed by their line number in the file; stop on structural problems."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from flows.errors import StructuralError
from flows.specs import RawContract

SOURCE = "_file"  # column carrying the raw file name through the core; the index carries the line


@dataclass(frozen=True)
class RawFile:
    """One raw file as read: its rows (index = line number, header is line 1) and its fingerprint."""

    name: str
    file: str
    frame: pd.DataFrame
    sha256: str
    size: int


def _undecodable(file: str, data: bytes) -> StructuralError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return StructuralError(f"{file}: line {line}: undecodable text (byte 0x{data[exc.start]:02x} is not UTF-8)")
    return StructuralError(f"{file}: undecodable text")


def _line_numbers(data: bytes, records: int) -> pd.Index:
    """Line of each record; the fast path holds unless a quoted value spans lines."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines == records + 1:
        return pd.RangeIndex(2, records + 2)
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    next(reader)
    starts, line = [], reader.line_num
    for _ in reader:
        starts.append(line + 1)
        line = reader.line_num
    return pd.Index(starts)


def _parse_problem(message: str, data: bytes) -> str:
    """pyarrow's parse error as 'line N: expected A fields, got B' when the row can be found."""
    found = re.search(r"Expected (\d+) columns, got (\d+): (.*)", message)
    if not found:
        return f"not a well-formed CSV: {message.splitlines()[0]}"
    text = found.group(3).encode("utf-8", "replace")[:40]
    lines = data.split(b"\n")
    where = next((i + 1 for i, line in enumerate(lines) if line.startswith(text)), None)
    return f"line {where or '?'}: expected {found.group(1)} fields, got {found.group(2)}"


def read_raw(raw_dir: Path, contract: RawContract) -> RawFile:
    """Read one raw file as all-text columns; raise StructuralError for what no row-level reject can express."""
    path = raw_dir / contract.file
    if not path.is_file():
        raise StructuralError(f"{contract.file}: missing file (expected in {raw_dir})")
    raw = path.read_bytes()
    data = raw.removeprefix(codecs.BOM_UTF8)
    if not data.strip():
        raise StructuralError(f"{contract.file}: empty file (no header line)")
    try:
        header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")]))
    except UnicodeDecodeError:
        raise _undecodable(contract.file, data) from None
    missing = [c for c in contract.column_names if c not in header]
    extra = [c for c in header if c not in contract.column_names]
    if missing or extra:
        parts = [
            f"missing required column(s) {missing}" if missing else "",
            f"column(s) not in the contract {extra}" if extra else "",
        ]
        raise StructuralError(
            f"{contract.file}: line 1: " + "; ".join(p for p in parts if p) + f" (contract {contract.path.name})"
        )
    if len(set(header)) != len(header):
        raise StructuralError(f"{contract.file}: line 1: duplicate column names")
    try:
        table = pv.read_csv(
            io.BytesIO(data),
            read_options=pv.ReadOptions(use_threads=True),
            parse_options=pv.ParseOptions(newlines_in_values=True),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc):
            raise _undecodable(contract.file, data) from None
        raise StructuralError(f"{contract.file}: {_parse_problem(str(exc), data)}") from None
    frame = table.to_pandas()
    if frame.empty and not contract.allow_empty:
        raise StructuralError(f"{contract.file}: empty file (header only, no data rows)")
    frame.index = _line_numbers(data, len(frame))
    frame.index.name = "line"
    frame = frame[contract.column_names]
    frame.insert(0, SOURCE, contract.file)
    return RawFile(contract.name, contract.file, frame, hashlib.sha256(raw).hexdigest(), len(raw))

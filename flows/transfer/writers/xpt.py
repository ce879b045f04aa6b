"""SAS XPORT version 5 writer: every limit checked first (never a silent truncation), header dates from the data.

The bytes are those ReadStat (pyreadstat) writes, laid out once per distinct value of a column rather than a cell at
a time (writers/lines.py): the record layout of SAS technical note TS-140, IBM floating point for numbers,
blanks for text.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.errors import OutputCheckError
from flows.spec.model import DomainSpec
from flows.transfer.writers.context import Appender, WriteContext
from flows.transfer.writers.lines import column_tokens, write_records

MAX_NAME, MAX_LABEL, MAX_CHAR = 8, 40, 200
CARD = 80  # every part of the file is padded with blanks to whole 80-byte records
SAS_VERSION, SAS_OS = "6.06", "bsd4.2"  # what ReadStat declares
NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")  # one variable: type, length, number, name, label, ..., position
MISSING = np.uint64(0x2E << 56)  # SAS missing value '.'
HUGE = np.uint64(0x7FFFFFFFFFFFFFFF)  # ReadStat's number for magnitudes beyond the IBM exponent (the sign is kept)


def byte_lengths(col: pd.Series) -> pd.Series:
    """UTF-8 byte length of each text value; NaN where missing."""
    present = col.dropna()
    if not len(present):
        return pd.Series(float("nan"), col.index)
    if isinstance(col.array, pd.arrays.ArrowStringArray):  # Arrow holds the UTF-8 bytes: no encoding needed
        lengths = pc.binary_length(pa.chunked_array(pa.array(col.array))).to_pandas()
        return pd.Series(lengths.to_numpy(), index=col.index, name=col.name)
    return present.str.encode("utf-8").str.len().reindex(col.index)


def _longest(col: pd.Series) -> int | None:
    """Arrow text: the longest value in UTF-8 bytes (0 when all missing), in one kernel; None for other data."""
    if not isinstance(col.array, pd.arrays.ArrowStringArray):
        return None
    return pc.max(pc.binary_length(pa.array(col.array))).as_py() or 0


def _all_ascii(col: pd.Series) -> bool:
    """Arrow text that is all ASCII, in one kernel (False for other data: those are looked at value by value)."""
    if not isinstance(col.array, pd.arrays.ArrowStringArray):
        return False
    return bool(pc.all(pc.string_is_ascii(pa.array(col.array)), min_count=0).as_py())


def xpt_lengths(frame: pd.DataFrame, spec: DomainSpec) -> dict[str, int]:
    """Length of each variable as written: longest value in bytes (at least 1) for text, 8 for numbers."""
    out = {}
    for v in spec.variables:
        if v.type == "Num":
            out[v.name] = 8
        elif (longest := _longest(frame[v.name])) is not None:
            out[v.name] = max(1, longest)
        else:
            lengths = byte_lengths(frame[v.name])
            out[v.name] = max(1, int(lengths.max())) if lengths.notna().any() else 1
    return out


def xpt_problems(frame: pd.DataFrame, spec: DomainSpec, lengths: Mapping[str, int]) -> list[str]:
    """Everything XPORT v5 cannot represent, each naming domain, variable and (for values) the first subject;
    `lengths` are the variables' lengths as written (xpt_lengths)."""
    return spec_problems(spec) + value_problems(frame, spec, lengths)


def spec_problems(spec: DomainSpec) -> list[str]:
    """The names and labels XPORT v5 cannot hold."""
    problems = []
    if len(spec.domain) > MAX_NAME or len(spec.label) > MAX_LABEL:
        problems.append(f"{spec.domain}: dataset name over {MAX_NAME} or label over {MAX_LABEL} characters")
    for v in spec.variables:
        where = f"{spec.domain}.{v.name}"
        if len(v.name) > MAX_NAME or not v.name.isascii() or v.name != v.name.upper():
            problems.append(f"{where}: name must be upper-case ASCII of at most {MAX_NAME} characters")
        if len(v.label) > MAX_LABEL or not v.label.isascii():
            problems.append(f"{where}: label over {MAX_LABEL} characters or not ASCII: {v.label!r}")
    return problems


def value_problems(frame: pd.DataFrame, spec: DomainSpec, lengths: Mapping[str, int]) -> list[str]:
    """The text values XPORT v5 cannot hold (over 200 bytes, not ASCII), each naming the first subject."""
    problems = []
    for v in spec.variables:
        if v.type != "Char":
            continue
        col = frame[v.name]
        if lengths[v.name] <= MAX_CHAR and _all_ascii(col):  # the usual case: nothing to look for
            continue
        where = f"{spec.domain}.{v.name}"
        subject = frame["USUBJID"] if "USUBJID" in frame else pd.Series("(no subject)", index=frame.index)
        too_long = byte_lengths(col) > MAX_CHAR
        if too_long.any():
            problems.append(f"{where}: value over {MAX_CHAR} bytes for {subject[too_long].iloc[0]}")
        non_ascii = col.notna() & ~col.str.isascii().fillna(True).astype(bool)
        if non_ascii.any():
            problems.append(f"{where}: non-ASCII value {col[non_ascii].iloc[0]!r} for {subject[non_ascii].iloc[0]}")
    return problems


def _card(text: str) -> bytes:
    return text.encode("ascii").ljust(CARD)


def _header(name: str, numbers: str = "0" * 30) -> bytes:
    return _card(f"HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!{numbers}")


def _padded(data: bytes) -> bytes:
    return data + b" " * (-len(data) % CARD)


def ibm_doubles(values: np.ndarray) -> np.ndarray:
    """IEEE doubles as big-endian IBM (S/370) doubles, as ReadStat converts them (SAS TS-140's ieee2xpt).

    The 56-bit IBM fraction holds the 53-bit IEEE one with room for the shift to a hex exponent, so every number in
    range converts exactly; NaN is SAS missing, beyond 2**248 the largest magnitude, below 2**-260 zero.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    sign = (bits >> np.uint64(63)) << np.uint64(63)
    exponent = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    fraction = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    ibm = sign | (np.clip((exponent >> 2) + 65, 0, 127).astype(np.uint64) << np.uint64(56))
    ibm |= fraction << (exponent & 3).astype(np.uint64)
    ibm = np.where(exponent < -260, np.uint64(0), ibm)  # zero, subnormal or too small
    ibm = np.where(exponent > 248, HUGE | sign, ibm)  # infinite or too large
    return np.where(np.isnan(values), MISSING, ibm).astype(">u8")


def _text_tokens(values: pd.Series, width: int) -> pa.Array:
    """Each value as `width` ASCII bytes padded with blanks (missing: all blanks)."""
    if isinstance(values.array, pd.arrays.ArrowExtensionArray):
        text = pa.array(values.array)
    else:
        text = pa.array(values.astype(object).where(values.notna(), None), type=pa.large_string())
    padded = pc.utf8_rpad(pc.fill_null(text.cast(pa.large_string()), ""), width=width, padding=" ")
    return padded.cast(pa.large_binary())


def _number_tokens(values: pd.Series) -> pa.Array:
    """Each value as its 8 bytes of IBM double."""
    data = ibm_doubles(values.astype("float64").to_numpy())
    offsets = np.arange(0, 8 * len(data) + 1, 8, dtype=np.int64)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
    )


def display_format(text: str | None) -> tuple[bytes, int, int]:
    """A SAS display format (DATE9., DATETIME20., 8.2) as the namestr's name, width and decimals (blank: none)."""
    match = re.fullmatch(r"([A-Z$][A-Z0-9]*?)?(\d*)\.(\d*)", text or "")
    if match is None:
        return b" " * 8, 0, 0
    name, width, decimals = match.groups()
    return (name or "").encode("ascii").ljust(8), int(width or 0), int(decimals or 0)


def xport_head(spec: DomainSpec, lengths: Mapping[str, int], when: datetime) -> bytes:
    """Library and member headers, one namestr per variable and the header of the observations."""
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper()
    head = [
        _header("LIBRARY"),
        _card(f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{SAS_VERSION:<8}{SAS_OS:<8}{'':<24}{stamp:>16}"),
        _card(stamp),
        _header("MEMBER", "0" * 15 + "00160" + "0" * 5 + "00140"),
        _header("DSCRPTR"),
        _card(f"{'SAS':<8}{spec.domain:<8}{'SASDATA':<8}{SAS_VERSION:<8}{SAS_OS:<8}{'':<24}{stamp:>16}"),
        _card(f"{stamp:>16}{'':>16}{spec.label:<40}{'':<8}"),
        _header("NAMESTR", f"00000{len(spec.variables):05d}" + "0" * 20),
    ]
    namestrs, position = [], 0
    for number, v in enumerate(spec.variables, start=1):
        numeric, width, blank = v.type == "Num", lengths[v.name], b" " * 8
        name, label = v.name.encode("ascii").ljust(8), v.label.encode("ascii").ljust(40)
        form, form_width, form_decimals = display_format(v.display_format)
        namestrs.append(
            NAMESTR.pack(1 if numeric else 2, 0, width, number, name, label, form, form_width, form_decimals,
                         int(numeric), b"\0\0", blank, 0, 0, position, b"\0" * 52)
        )  # fmt: skip
        position += width
    return b"".join(head) + _padded(b"".join(namestrs)) + _header("OBS")


def write_observations(fh: BinaryIO, frame: pd.DataFrame, spec: DomainSpec, lengths: Mapping[str, int]) -> None:
    """The frame's records, each value laid out once per distinct value of its column and the records joined a block
    at a time; nothing between two frames' records, so a dataset's chunks one after another are its records."""
    if not len(frame):
        return
    renders = [
        _number_tokens if v.type == "Num" else partial(_text_tokens, width=lengths[v.name]) for v in spec.variables
    ]
    tokens = [column_tokens(frame[v.name], render) for v, render in zip(spec.variables, renders, strict=True)]
    write_records(fh, tokens, len(frame))


class XptAppender(Appender):
    """A SAS XPORT v5 file from chunks of rows: the headers (lengths from ctx.lengths: the whole dataset's), each
    chunk's records as they come, the blanks padding the last 80-byte record at `close`. Names and labels are
    checked when opened, each chunk's values before its records are written; the file is made at the first chunk
    that passes, so a dataset refused in its only chunk leaves no file."""

    def __init__(self, path: Path, spec: DomainSpec, ctx: WriteContext, rows: int) -> None:
        super().__init__(path, spec, ctx, rows)
        if problems := spec_problems(spec):
            raise OutputCheckError("cannot write SAS XPORT v5: " + "; ".join(problems))
        self.lengths = ctx.lengths[spec.domain]
        self.record = sum(self.lengths[v.name] for v in spec.variables)  # bytes per row
        self.fh: BinaryIO | None = None

    def _file(self) -> BinaryIO:
        if self.fh is None:
            self.fh = self.path.open("wb")
            self.fh.write(xport_head(self.spec, self.lengths, self.ctx.created))
        return self.fh

    def _append(self, chunk: pd.DataFrame) -> None:
        if problems := value_problems(chunk, self.spec, self.lengths):
            raise OutputCheckError("cannot write SAS XPORT v5: " + "; ".join(problems))
        write_observations(self._file(), chunk, self.spec, self.lengths)

    def _finish(self) -> None:
        fh = self._file()
        fh.write(b" " * (-self.rows * self.record % CARD))
        fh.close()

    def _abandon(self) -> None:
        if self.fh is not None:
            self.fh.close()


def write_xpt(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    """The whole frame as one chunk; its lengths from ctx.lengths, else worked out from the frame."""
    if spec.domain not in ctx.lengths or not ctx.lengths[spec.domain]:
        ctx = replace(ctx, lengths={**ctx.lengths, spec.domain: xpt_lengths(frame, spec)})
    with XptAppender(path, spec, ctx, len(frame)) as out:
        out.write(frame)

"""Read raw EDC exports as text, indexed by their line number in the file; stop on structural problems."""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from flows.kernel.distinct import constant_text
from flows.kernel.errors import StructuralError
from flows.spec.model import RawContract

SOURCE = "_file"  # column carrying the raw file name through the core; the index carries the line


def use_returning_pool() -> None:
    """Arrow's jemalloc pool hands freed pages back to the system sooner than its default, mimalloc: the CSV
    parser's buffers and the validation's temporaries do not stay in the process (about 150 MB less peak memory
    at 100,000 subjects). ARROW_DEFAULT_MEMORY_POOL, when set, decides instead. Set by the export's entry
    (pipeline.run_export), not by importing the package: a program that imports flows keeps its own pool."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc keeps its default
            pa.set_memory_pool(pa.jemalloc_memory_pool())


@dataclass(frozen=True)
class RawFile:
    """One raw file as read: its rows (index = line number, header is line 1) and its fingerprint."""

    name: str
    file: str
    frame: pd.DataFrame
    sha256: str
    size: int
    ragged: pd.DataFrame  # records with the wrong number of fields: line, last (its last line), fields (rejects),
    # records (the record's fields, then, for a record over several lines, those of each of its lines alone)
    lines: int = -1  # physical data lines: every line after the header that is not blank (-1: not counted)
    spans: pd.DataFrame | None = None  # records over more than one line: line (first), last
    header: tuple[str, ...] = ()  # the columns in the file's order: where a ragged record's fields are
    read: int = -1  # records read, kept when the rows go (without_rows); -1: those of frame and ragged

    @property
    def rows(self) -> int:
        return self.read if self.read >= 0 else len(self.frame) + len(self.ragged)

    def without_rows(self) -> RawFile:
        """The file's facts without its rows (their memory goes back once validation has taken the valid ones)."""
        empty = {c: pd.array([], dtype=t) for c, t in self.frame.dtypes.items()}  # not iloc[:0]: a slice keeps the data
        index = pd.Index([], dtype=self.frame.index.dtype, name=self.frame.index.name)
        return replace(self, frame=pd.DataFrame(empty, index=index), read=self.rows)

    def lines_of(self, starts: pd.Index | pd.Series) -> int:
        """Physical lines taken by the records starting on `starts` (a quoted line break makes a record longer)."""
        if self.spans is None or self.spans.empty:
            return len(starts)
        longer = self.spans[self.spans["line"].isin(starts)]
        return len(starts) + int((longer["last"] - longer["line"]).sum())


def _undecodable(file: str, data: bytes) -> StructuralError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return StructuralError(f"{file}: line {line}: undecodable text (byte 0x{data[exc.start]:02x} is not UTF-8)")
    return StructuralError(f"{file}: undecodable text")


def _line_numbers(scan: Scan, records: int) -> pd.Index | None:
    """Line of each record when every line is one record (the fast path); None otherwise."""
    lines = scan.newlines + (0 if scan.ends_with_newline else 1)
    return pd.RangeIndex(2, records + 2) if lines == records + 1 else None


@dataclass(frozen=True)
class _Lines:
    """What the slow path finds: the first line of each good record, the records without the header's width
    (line, last, fields), the records over several lines (line, last) and the physical data lines."""

    good: pd.Index
    ragged: pd.DataFrame
    spans: pd.DataFrame
    data_lines: int


RAGGED_COLUMNS = ("line", "last", "fields")


def _ragged_frame(rows: list[tuple[int, int, int]], records: list[list[list[str]]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(RAGGED_COLUMNS), dtype="int64")
    frame["records"] = pd.Series(records, dtype="object")
    return frame


def _swallowed(physical: list[str], first: int, end: int) -> list[list[str]]:
    """What the lines of a record over lines first-end would have said on their own (e.g. which subject they were):
    the first line with its quote characters taken as text (its unbalanced quote started the record), then each
    further physical line parsed alone."""
    loose = next(csv.reader([physical[first - 1].rstrip("\r")], quoting=csv.QUOTE_NONE), [])
    rest = [next(csv.reader([physical[n - 1].rstrip("\r")]), []) for n in range(first + 1, end + 1)]
    return [[f.strip('"') for f in loose], *rest]


def _lone_cr(file: str, text: str, header: list[str], line: int) -> StructuralError:
    """The one-line error for a carriage return alone in an unquoted field of physical line `line` (no CSV reader
    agrees where such a record ends), naming the column it is in."""
    physical = text.split("\n")[line - 1]
    before = next(csv.reader([physical.split("\r", 1)[0]]), [""])
    column = f"column {header[len(before) - 1]}: " if "\r" in physical and 0 < len(before) <= len(header) else ""
    return StructuralError(
        f"{file}: line {line}: {column}a carriage return (CR) inside an unquoted field; quote the field, or end "
        "lines with LF or CRLF only"
    )


def _scan_lines(data: bytes, header: list[str], file: str) -> _Lines:
    """Slow path, for files with quoted line breaks, blank lines or ragged rows. An unbalanced quote makes one
    record of every line up to the next quote: it is ragged, and its `end` says how far it reached."""
    text, width = data.decode("utf-8"), len(header)
    reader = csv.reader(io.StringIO(text))

    def checked() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error:
            raise _lone_cr(file, text, header, reader.line_num) from None

    records_in = checked()
    next(records_in)
    good, ragged, records, spans, line, data_lines = [], [], [], [], reader.line_num, 0
    physical: list[str] | None = None
    for record in records_in:
        first, end = line + 1, reader.line_num
        if record:
            data_lines += end - first + 1
            if len(record) == width:
                good.append(first)
            else:
                ragged.append((first, end, len(record)))
                if end > first and physical is None:
                    physical = text.split("\n")
                records.append([record, *(_swallowed(physical, first, end) if end > first else [])])
            if end > first:
                spans.append((first, end))
        line = end
    return _Lines(
        pd.Index(good),
        _ragged_frame(ragged, records),
        pd.DataFrame(spans, columns=["line", "last"], dtype="int64"),
        data_lines,
    )


@dataclass(frozen=True)
class Scan:
    """What one streaming pass over a raw file tells, so the file is never held in memory whole."""

    sha256: str
    size: int
    first_line: bytes  # after any byte-order mark, without the line end
    blank: bool  # empty or only white space (after any byte-order mark): not even a header
    newlines: int
    ends_with_newline: bool
    modified_ns: int = 0  # the file's modification time when the scan began (0: not known)


def scan_file(path: Path, block: int = 1 << 24, also: Callable[[bytes], object] | None = None) -> Scan:
    """Fingerprint, size, header and line count of a raw file, read block by block. `also` is handed every block
    too (e.g. another hash), in a thread of its own: hashing releases the GIL, so the two hashes run side by side."""
    digest, size, newlines, blank, last = hashlib.sha256(), 0, 0, True, b""
    pending: Future | None = None
    with path.open("rb") as fh, ThreadPoolExecutor(1) as pool:
        modified = os.fstat(fh.fileno()).st_mtime_ns
        first_line = fh.readline().removeprefix(codecs.BOM_UTF8).rstrip(b"\n")
        fh.seek(0)
        for chunk in iter(lambda: fh.read(block), b""):
            if also is not None:
                if pending is not None:
                    pending.result()  # blocks are handed over in order, one at a time
                pending = pool.submit(also, chunk)
            digest.update(chunk)
            text = chunk.removeprefix(codecs.BOM_UTF8) if size == 0 else chunk
            blank = blank and (not text or text.isspace())
            newlines += chunk.count(b"\n")
            size, last = size + len(chunk), chunk
        if pending is not None:
            pending.result()
    return Scan(digest.hexdigest(), size, first_line, blank, newlines, last.endswith(b"\n"), modified)


def _as_scanned(path: Path, scan: Scan) -> bool:
    """Whether the file still has the size and modification time it had when `scan` was made."""
    now = path.stat()
    return now.st_size == scan.size and (not scan.modified_ns or now.st_mtime_ns == scan.modified_ns)


def _text(path: Path) -> bytes:
    """The whole file without its byte-order mark: only for the slow path and for error messages."""
    return path.read_bytes().removeprefix(codecs.BOM_UTF8)


def read_raw(raw_dir: Path, contract: RawContract, scan: Scan | None = None) -> RawFile:
    """Read one raw file as all-text columns; raise StructuralError for what no row-level reject can express.

    `scan` is the file's scan when it was made already (by the fingerprint, which reads every byte anyway)."""
    path = raw_dir / contract.file
    if not path.is_file():
        raise StructuralError(f"{contract.file}: missing file (expected in {raw_dir})")
    scan = scan or scan_file(path)
    if scan.blank:
        raise StructuralError(f"{contract.file}: empty file (no header line)")
    try:
        header = next(csv.reader([scan.first_line.decode("utf-8").rstrip("\r")]))
    except UnicodeDecodeError:
        raise _undecodable(contract.file, _text(path)) from None
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
    skipped: list[object] = []
    try:
        table = pv.read_csv(
            path,  # Arrow reads the file itself (and skips a byte-order mark): faster, and no copy of it in memory
            read_options=pv.ReadOptions(use_threads=True),
            parse_options=pv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=lambda row: skipped.append(row) or "skip"
            ),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.large_string()),  # what pandas' str holds: no copy
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc):
            raise _undecodable(contract.file, _text(path)) from None
        raise StructuralError(f"{contract.file}: not a well-formed CSV: {str(exc).splitlines()[0]}") from None
    if not _as_scanned(path, scan):  # the fingerprint and the counts would not describe the rows read
        raise StructuralError(
            f"{contract.file}: changed while the export read it (size or modification time differs from its "
            "fingerprint's); run again once the file is complete"
        )
    frame = table.to_pandas()
    lines = None if skipped else _line_numbers(scan, len(frame))
    ragged = _ragged_frame([], [])
    spans, data_lines = None, len(frame)
    if lines is None:
        found = _scan_lines(_text(path), header, contract.file)
        lines, ragged, spans, data_lines = found.good, found.ragged, found.spans, found.data_lines
    if len(lines) != len(frame):
        raise StructuralError(f"{contract.file}: records could not be matched to lines (malformed quoting?)")
    if frame.empty and ragged.empty and not contract.allow_empty:
        raise StructuralError(f"{contract.file}: empty file (header only, no data rows)")
    frame.index = lines
    frame.index.name = "line"
    frame = frame[contract.column_names]
    frame.insert(0, SOURCE, constant_text(contract.file, len(frame)))
    return RawFile(
        contract.name, contract.file, frame, scan.sha256, scan.size, ragged, data_lines, spans, tuple(header)
    )

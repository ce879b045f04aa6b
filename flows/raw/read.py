"""Read raw EDC exports as text, indexed by their line number in the file; stop on structural problems."""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from flows.kernel.distinct import as_constant_text, constant_text
from flows.kernel.errors import StructuralError, check_both_ways
from flows.kernel.held import Held
from flows.raw.odm import read_odm, read_odm_forms
from flows.raw.values import normalise_values
from flows.raw.xpt import read_xpt
from flows.spec.model import RawContract, RawFormat

SOURCE = "_file"  # column carrying the raw file name through the core; the index carries the line
Dialect = dict[str, str]  # the csv module's delimiter and quotechar
DELIMITERS = (",", ";", "\t", "|")  # what a header of one column may hold when the contract declares another


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
    held: Held | None = None  # the rows held compact (see held_compact), `frame` then their columns without rows

    @property
    def rows(self) -> int:
        return self.read if self.read >= 0 else len(self.frame if self.held is None else self.held) + len(self.ragged)

    def text(self) -> pd.DataFrame:
        """The rows as read, whether held compact or not."""
        return self.frame if self.held is None else self.held.frame()

    def _no_rows(self) -> pd.DataFrame:
        empty = {c: pd.array([], dtype=t) for c, t in self.frame.dtypes.items()}  # not iloc[:0]: a slice keeps the data
        index = pd.Index([], dtype=self.frame.index.dtype, name=self.frame.index.name)
        return pd.DataFrame(empty, index=index)

    def without_rows(self) -> RawFile:
        """The file's facts without its rows (their memory goes back once validation has taken the valid ones)."""
        return replace(self, frame=self._no_rows(), held=None, read=self.rows)

    def held_compact(self) -> RawFile:
        """The file with its rows held compact (flows.kernel.held) until validation reads them: `frame` keeps its
        columns and dtypes, without rows."""
        if self.held is not None:
            return self
        return replace(self, frame=self._no_rows(), held=Held.of(self.frame.copy(deep=False)))

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
    if scan.lone_cr:  # Arrow ends a record at a CR alone, a line does not: the counts could agree by chance
        return None
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


def _swallowed(physical: list[str], first: int, end: int, dialect: Dialect) -> list[list[str]]:
    """What the lines of a record over lines first-end would have said on their own (e.g. which subject they were):
    the first line with its quote characters taken as text (its unbalanced quote started the record), then each
    further physical line parsed alone."""
    loose = next(csv.reader([physical[first - 1].rstrip("\r")], quoting=csv.QUOTE_NONE, **dialect), [])
    rest = [next(csv.reader([physical[n - 1].rstrip("\r")], **dialect), []) for n in range(first + 1, end + 1)]
    return [[f.strip(dialect["quotechar"]) for f in loose], *rest]


def _lone_cr(file: str, text: str, header: list[str], line: int, dialect: Dialect) -> StructuralError:
    """The one-line error for a carriage return alone in an unquoted field of physical line `line` (no CSV reader
    agrees where such a record ends), naming the column it is in."""
    physical = text.split("\n")[line - 1]
    before = next(csv.reader([physical.split("\r", 1)[0]], **dialect), [""])
    column = f"column {header[len(before) - 1]}: " if "\r" in physical and 0 < len(before) <= len(header) else ""
    return StructuralError(
        f"{file}: line {line}: {column}a carriage return (CR) inside an unquoted field; quote the field, or end "
        "lines with LF or CRLF only"
    )


def _scan_lines(data: bytes, header: list[str], file: str, dialect: Dialect) -> _Lines:
    """Slow path, for files with quoted line breaks, blank lines or ragged rows. An unbalanced quote makes one
    record of every line up to the next quote: it is ragged, and its `end` says how far it reached."""
    text, width = data.decode("utf-8"), len(header)
    reader = csv.reader(io.StringIO(text), **dialect)

    def checked() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error:
            raise _lone_cr(file, text, header, reader.line_num, dialect) from None

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
                records.append([record, *(_swallowed(physical, first, end, dialect) if end > first else [])])
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
    lone_cr: bool = False  # a carriage return not followed by a line feed somewhere in the file


def scan_file(path: Path, block: int = 1 << 24, also: Callable[[bytes], object] | None = None) -> Scan:
    """Fingerprint, size, header and line count of a raw file, read block by block. `also` is handed every block
    too (e.g. another hash), in a thread of its own: hashing releases the GIL, so the two hashes run side by side."""
    digest, size, newlines, blank, last, lone_cr = hashlib.sha256(), 0, 0, True, b"", False
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
            if not lone_cr and (b"\r" in chunk or last.endswith(b"\r")):  # a CR ending a block is judged with the next
                joined = last[-1:] + chunk
                lone_cr = joined.count(b"\r") - joined.count(b"\r\n") > chunk.endswith(b"\r")
            size, last = size + len(chunk), chunk
        if pending is not None:
            pending.result()
    lone_cr = lone_cr or last.endswith(b"\r")
    return Scan(digest.hexdigest(), size, first_line, blank, newlines, last.endswith(b"\n"), modified, lone_cr)


def _as_scanned(path: Path, scan: Scan) -> bool:
    """Whether the file still has the size and modification time it had when `scan` was made."""
    now = path.stat()
    return now.st_size == scan.size and (not scan.modified_ns or now.st_mtime_ns == scan.modified_ns)


def _text(path: Path) -> bytes:
    """The whole file without its byte-order mark: only for the slow path and for error messages."""
    return path.read_bytes().removeprefix(codecs.BOM_UTF8)


@dataclass(frozen=True)
class _Csv:
    """A CSV file as read: its records (columns as the file names them), the line of each, the ragged records, the
    records over several lines, the physical data lines and the header."""

    frame: pd.DataFrame
    lines: pd.Index
    ragged: pd.DataFrame
    spans: pd.DataFrame | None
    data_lines: int
    header: list[str]


def _utf8(path: Path, contract: RawContract) -> bytes | None:
    """The file as UTF-8 bytes without a byte-order mark when its contract declares another encoding (read whole:
    such files are small); None for UTF-8, which Arrow reads from disk itself."""
    encoding = contract.format.encoding
    if encoding == "utf-8":
        return None
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StructuralError(
            f"{contract.file}: line {line}: not {encoding} text (its contract's format.encoding)"
        ) from None
    return text.removeprefix("\ufeff").encode("utf-8")


def _scan_of(data: bytes) -> Scan:
    """The line facts of text held in memory (its fingerprint stays that of the file on disk)."""
    first = data.split(b"\n", 1)[0]
    lone_cr = data.count(b"\r") != data.count(b"\r\n")
    blank, ends = not data.strip(), data.endswith(b"\n")
    return Scan("", len(data), first.rstrip(b"\r"), blank, data.count(b"\n"), ends, lone_cr=lone_cr)


def _header(line: bytes, contract: RawContract, dialect: Dialect, text: Callable[[], bytes]) -> list[str]:
    try:
        header = next(csv.reader([line.decode("utf-8").rstrip("\r")], **dialect), [])
    except UnicodeDecodeError:
        raise _undecodable(contract.file, text()) from None
    wanted = [c.in_file for c in contract.columns]
    if len(header) == 1 and len(wanted) > 1:
        other = next((d for d in DELIMITERS if d != dialect["delimiter"] and d in header[0]), None)
        if other is not None:
            raise StructuralError(
                f"{contract.file}: line 1 is one column holding {other!r}: declare delimiter {other!r}? "
                f"(contract {contract.path.name} format.delimiter is {dialect['delimiter']!r})"
            )
    missing = ("missing required column(s)", [c for c in wanted if c not in header])
    extra = ("column(s) not in the contract", [c for c in header if c not in wanted])
    check_both_ways(f"{contract.file}: line 1", missing, extra, contract.path.name)
    if len(set(header)) != len(header):
        raise StructuralError(f"{contract.file}: line 1: duplicate column names")
    return header


def _arrow_csv(
    source: Path | bytes, header: list[str], fmt: RawFormat, skipped: list[object], block: int = 1 << 20
) -> pa.Table:
    """Arrow's CSV reader in the contract's dialect, every column text; a record of the wrong width goes to
    `skipped`. Arrow reads a UTF-8 file itself (and skips a byte-order mark): faster, and no copy in memory."""
    return pv.read_csv(
        source if isinstance(source, Path) else pa.BufferReader(source),
        read_options=pv.ReadOptions(use_threads=True, block_size=min(block, (1 << 31) - 1)),
        parse_options=pv.ParseOptions(
            delimiter=fmt.delimiter,
            quote_char=fmt.quote,
            newlines_in_values=True,
            invalid_row_handler=lambda row: skipped.append(row) or "skip",
        ),
        convert_options=pv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.large_string()),  # what pandas' str holds: no copy
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )


def _read_csv(path: Path, contract: RawContract, scan: Scan) -> _Csv:
    """A CSV file in its contract's dialect (delimiter, quote, encoding), every column as text."""
    fmt = contract.format
    dialect: Dialect = {"delimiter": fmt.delimiter, "quotechar": fmt.quote}
    data = _utf8(path, contract)
    lines_of = scan if data is None else _scan_of(data)
    if lines_of.blank:
        raise StructuralError(f"{contract.file}: empty file (no header line)")
    text = (lambda: _text(path)) if data is None else (lambda: data)
    header = _header(lines_of.first_line, contract, dialect, text)
    skipped: list[object] = []
    try:
        table = _arrow_csv(path if data is None else data, header, fmt, skipped)
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc):
            if "UTF8" in str(exc):
                raise _undecodable(contract.file, text()) from None
            raise StructuralError(f"{contract.file}: not a well-formed CSV: {str(exc).splitlines()[0]}") from None
        skipped.clear()  # a record longer than Arrow's block: read again in blocks as long as the file
        table = _arrow_csv(path if data is None else data, header, fmt, skipped, block=lines_of.size + 1)
    frame = table.to_pandas()
    lines = None if skipped else _line_numbers(lines_of, len(frame))
    if lines is not None:
        return _Csv(frame, lines, _ragged_frame([], []), None, len(frame), header)
    found = _scan_lines(text(), header, contract.file, dialect)
    return _Csv(frame, found.good, found.ragged, found.spans, found.data_lines, header)


def check_raw_dir(raw_dir: Path) -> None:
    """Refuse, before any work, a --raw that is no folder: one line saying where it looked."""
    if not raw_dir.is_dir():
        what = "not a folder" if raw_dir.exists() else "no such folder"
        raise StructuralError(
            f"{raw_dir}: {what} (--raw, the folder of the raw exports; looked at {raw_dir.absolute()})"
        )


def raw_path(raw_dir: Path, file: str) -> Path:
    """Where a raw file is: inside the raw folder, a link resolved and kept inside it (a file elsewhere is never
    read, nor a line of it echoed)."""
    path = raw_dir / file
    if path.is_symlink() or path.exists():
        target, folder = path.resolve(), raw_dir.resolve()
        if not target.is_relative_to(folder):
            raise StructuralError(f"{file}: is a link to {target}, outside the raw folder {raw_dir}: not read")
    return path


def read_raw(raw_dir: Path, contract: RawContract, scan: Scan | None = None) -> RawFile:
    """Read one raw file as all-text columns named as the contract names them, each value in the pipeline's one
    representation (flows.raw.values); raise StructuralError for what no row-level reject can express.

    `scan` is the file's scan when it was made already (by the fingerprint, which reads every byte anyway)."""
    path = raw_path(raw_dir, contract.file)
    if not path.is_file():
        raise StructuralError(f"{contract.file}: missing file (expected in {raw_dir})")
    scan = scan or scan_file(path)
    if contract.format.type != "csv":
        return _read_records(path, contract, scan)
    found = _read_csv(path, contract, scan)
    frame, lines = found.frame, found.lines
    if len(lines) != len(frame):
        raise StructuralError(f"{contract.file}: records could not be matched to lines (malformed quoting?)")
    if frame.empty and found.ragged.empty and not contract.allow_empty:
        raise StructuralError(f"{contract.file}: empty file (header only, no data rows)")
    names = {c.in_file: c.name for c in contract.columns}
    frame.index = lines
    frame.index.name = "line"
    header = tuple(names[h] for h in found.header)
    frame = frame[list(names)].rename(columns=names)
    return _raw_file(path, contract, scan, frame, found.ragged, found.data_lines, found.spans, header)


def _raw_file(
    path: Path,
    contract: RawContract,
    scan: Scan,
    frame: pd.DataFrame,
    ragged: pd.DataFrame,
    data_lines: int,
    spans: pd.DataFrame | None,
    header: tuple[str, ...],
) -> RawFile:
    """The rows as read, in the contract's order and names, made a RawFile: the file unchanged since its scan, each
    value in the pipeline's one representation, each row with its file and a column of one value one block."""
    if not _as_scanned(path, scan):  # the fingerprint and the counts would not describe the rows read
        raise StructuralError(
            f"{contract.file}: changed while the export read it (size or modification time differs from its "
            "fingerprint's); run again once the file is complete"
        )
    frame = normalise_values(frame, contract)
    for name in frame.columns:  # a column of one value (the site of a one-site study) is held as one block
        if (constant := as_constant_text(values := frame[name])) is not values:
            frame[name] = constant
    frame.insert(0, SOURCE, constant_text(contract.file, len(frame)))
    return RawFile(contract.name, contract.file, frame, scan.sha256, scan.size, ragged, data_lines, spans, header)


def _read_records(path: Path, contract: RawContract, scan: Scan | None, frame: pd.DataFrame | None = None) -> RawFile:
    """A SAS transport or ODM file: one record per row, numbered by record (XPT) or the line of its item group
    (ODM); every record has every column, so none is ragged. `frame`: its records, when read already."""
    scan = scan or scan_file(path)
    frame = RECORD_READERS[contract.format.type](path, contract) if frame is None else frame
    if frame.empty and not contract.allow_empty:
        raise StructuralError(f"{contract.file}: no records for contract {contract.path.name}")
    names = tuple(contract.column_names)
    return _raw_file(path, contract, scan, frame[list(names)], _ragged_frame([], []), len(frame), None, names)


RECORD_READERS: dict[str, Callable[[Path, RawContract], pd.DataFrame]] = {"xpt": read_xpt, "odm": read_odm}


def read_raws(
    raw_dir: Path, contracts: Mapping[str, RawContract], scans: Mapping[str, Scan] | None = None, hold: bool = False
) -> tuple[dict[str, RawFile], list[str]]:
    """Every contract's file read, with the structural problems of all of them (not only the first): an ODM file
    that several contracts read is parsed once for all of them. With `hold`, each file's rows are held compact as
    soon as it is read (RawFile.held_compact): the files wait for validation in about a tenth of their text."""
    files, problems, scans = {}, [], scans or {}
    forms: dict[str, pd.DataFrame] = {}
    failed: set[str] = set()  # ODM files that could not be parsed: said once, not once per contract
    odm = sorted({c.file for c in contracts.values() if c.format.type == "odm" and (raw_dir / c.file).is_file()})
    for file in odm:
        try:
            forms |= read_odm_forms(raw_path(raw_dir, file), [c for c in contracts.values() if c.file == file])
        except StructuralError as exc:
            problems.append(str(exc))
            failed.add(file)
    for name, contract in contracts.items():
        if contract.file in failed:
            continue
        try:
            if name in forms:
                path, scan = raw_dir / contract.file, scans.get(contract.file)
                files[name] = _read_records(path, contract, scan, forms.pop(name))
            else:
                files[name] = read_raw(raw_dir, contract, scans.get(contract.file))
            if hold:
                files[name] = files[name].held_compact()
        except StructuralError as exc:
            problems.append(str(exc))
    return files, problems

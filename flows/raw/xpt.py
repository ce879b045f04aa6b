"""Read a SAS transport file (XPORT v5 or v8, with pyreadstat) as text columns named by the contract, indexed by record
number: numbers as a CSV export writes them (under a w.d format with its decimals), SAS dates, date-times and times as
ISO 8601."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyreadstat

from flows.kernel.errors import StructuralError, check_both_ways
from flows.spec.model import RawColumn, RawContract

MAGIC = b"HEADER RECORD*******LIB"  # the first record of v5 (LIBRARY) and v8 (LIBV8) files
ICONV = {"utf-8": "UTF-8", "latin-1": "LATIN1", "cp1252": "CP1252", "utf-16": "UTF-16"}
SAS_EPOCH = 315_619_200  # seconds from 1960-01-01 (SAS) to 1970-01-01 (Unix)
EXACT = 2.0**53  # beyond it a float no longer tells integers apart: written by the shortest form instead

DATES = re.compile(
    r"DATE|DAY|WEEKDATE|WORDDAT[EX]|NLDATE|[BE]8601DA|IS8601DA|(DDMMYY|MMDDYY|YYMMDD|MMYY|YYMM|YYQ|MONYY|YYMON)[BCDNPS]?"
)
DATETIMES = re.compile(r"DATETIME|DATEAMPM|[BE]8601D[TZN]|IS8601DT|MDYAMPM")
TIMES = re.compile(r"TIME|TOD|HHMM|HOUR|[BE]8601TM|IS8601TM")


def sas_pattern(fmt: str | None, column: RawColumn) -> tuple[int, str] | None:
    """How a numeric variable's values read as ISO 8601, from its SAS format, else from the contract's `format: SAS
    date` (date-times for a datetime column): seconds per unit (86400 for a date) and the strftime pattern; None for a
    plain number. A width of 16 on an ISO date-time (E8601DT16.) or 5 on a time (TIME5.) shows minutes, and so does
    the text."""
    name, width = re.fullmatch(r"\$?(.*?)(\d*)\.?\d*", fmt or "").groups()
    minutes = (name.endswith("8601DT") and width == "16") or (TIMES.fullmatch(name) and width == "5") or name == "HHMM"
    clock = "%H:%M" if minutes else "%H:%M:%S"
    if DATETIMES.fullmatch(name):
        return 1, f"%Y-%m-%dT{clock}"
    if DATES.fullmatch(name):
        return 86400, "%Y-%m-%d"
    if TIMES.fullmatch(name):
        return 1, clock
    if column.format == "SAS date":
        return (1, "%Y-%m-%dT%H:%M:%S") if column.type == "datetime" else (86400, "%Y-%m-%d")
    return None


def number_text(values: np.ndarray) -> pa.Array:
    """Numbers as a CSV export writes them: an integer-valued one as "12", others in their shortest form ("72.3")."""
    numbers = pa.array(values, pa.float64(), from_pandas=True)  # NaN (SAS missing, . and .A-.Z) is null
    whole = np.isfinite(values) & (np.trunc(values) == values) & (np.abs(values) < EXACT)
    as_int = pa.array(np.where(whole, values, 0).astype(np.int64)).cast(pa.large_string())
    return pc.if_else(pa.array(whole), as_int, numbers.cast(pa.large_string()))


def fixed_text(values: np.ndarray, decimals: int) -> pa.Array:
    """Numbers as their SAS format w.d shows them: `decimals` digits after the point ("1.00" under 8.2)."""
    numbers = pa.array(values, pa.float64(), from_pandas=True)
    fixed = pc.round(numbers, decimals).cast(pa.decimal128(38, decimals), safe=False).cast(pa.large_string())
    return pc.if_else(pa.array(np.abs(np.nan_to_num(values)) < 1e15), fixed, number_text(values))


def date_text(values: np.ndarray, unit: int, pattern: str) -> pa.Array:
    """SAS dates (days) or date-times and times (seconds) as ISO 8601 text. Each distinct value is formatted once: a
    date column of a million rows holds a few thousand days."""
    seconds = np.round(np.nan_to_num(values) * unit).astype(np.int64) - (0 if pattern[:2] == "%H" else SAS_EPOCH)
    distinct, positions = np.unique(seconds, return_inverse=True)
    text = pc.strftime(pa.array(distinct, pa.timestamp("s")), pattern).cast(pa.large_string())
    return pc.if_else(pa.array(np.isnan(values)), pa.scalar(None, pa.large_string()), text.take(positions))


def column_text(values: list, fmt: str | None, column: RawColumn) -> pa.Array:
    data = pa.array(values)  # pyreadstat's lists: str or float, None where missing
    if not pa.types.is_floating(data.type) and not pa.types.is_null(data.type):
        text = data.cast(pa.large_string())  # character: pyreadstat strips the trailing blanks; empty is missing
        return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)
    numbers = data.cast(pa.float64()).to_numpy(zero_copy_only=False)
    pattern = sas_pattern(fmt, column)
    if pattern is not None:
        return date_text(numbers, *pattern)
    decimals = re.fullmatch(r"F?\d*\.(\d+)", fmt or "")  # w.d: as many decimals as SAS shows (8.2: "1.00")
    return fixed_text(numbers, int(decimals[1])) if decimals and int(decimals[1]) else number_text(numbers)


def read_xpt(path: Path, contract: RawContract) -> pd.DataFrame:
    """The file's records as text, one "str" column per contract column (taken from the variable named by its
    `source`, in any case), null for a missing value; the index, "line", is the record number (1-based).
    Anything but a SAS transport file holding exactly the contract's variables is a StructuralError."""
    if not path.is_file():
        raise StructuralError(f"{contract.file}: missing file (expected in {path.parent})")
    with path.open("rb") as fh:
        start = fh.read(80)
    if not start.startswith(MAGIC):
        raise StructuralError(f"{contract.file}: not a SAS transport file (it begins {start[:24]!r})")
    try:
        data, meta = pyreadstat.read_xport(
            path, disable_datetime_conversion=True, encoding=ICONV.get(contract.format.encoding), output_format="dict"
        )
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise StructuralError(f"{contract.file}: not a SAS transport file ({exc})") from None
    variables = {v.upper(): v for v in meta.column_names}
    missing = [c.in_file for c in contract.columns if c.in_file.upper() not in variables]
    expected = {c.in_file.upper() for c in contract.columns}
    extra = [v for v in meta.column_names if v.upper() not in expected]
    check_both_ways(contract.file, ("variable(s) missing", missing), ("not in the contract", extra), contract.path.name)
    formats = meta.original_variable_types
    table = pa.table(
        {
            c.name: column_text(data[variables[c.in_file.upper()]], formats.get(variables[c.in_file.upper()]), c)
            for c in contract.columns
        }
    )
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="line")
    return frame

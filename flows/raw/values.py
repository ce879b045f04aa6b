"""Values as the contract says the file writes them, read once into the one representation every later stage sees:
dates into ISO 8601 (UN/UNK for an unknown day or month make a partial date), numbers with a decimal comma into a
point, coded values decoded by the column's table. A value not in its declared format is left as written, and the
column's type check rejects it naming the format expected (flows.spec.raw_schema); a value already in ISO 8601 is
taken as it is."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd

from flows.kernel.distinct import per_value
from flows.spec.model import RawColumn, RawContract

MONTHS = {
    m: f"{i:02d}"
    for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)
}
UNKNOWN = {"UN", "UK", "UNK", "UNKN", "--"}
TIME = r"(?:[ T:](\d{2}:\d{2}(?::\d{2})?))?"
SAS_EPOCH = date(1960, 1, 1)
# (day, month, year, time) groups of each written form
PATTERNS = {
    "DDMONYYYY": (re.compile(r"(\d{2}|[A-Z]{2})([A-Z]{3})(\d{4})" + TIME, re.I), (1, 2, 3, 4)),
    "DD/MM/YYYY": (re.compile(r"(\d{2}|[A-Z]{2})/(\d{2}|[A-Z]{2,3})/(\d{4})" + TIME, re.I), (1, 2, 3, 4)),
    "MM/DD/YYYY": (re.compile(r"(\d{2}|[A-Z]{2,3})/(\d{2}|[A-Z]{2})/(\d{4})" + TIME, re.I), (2, 1, 3, 4)),
}


def _month(text: str) -> str | None:
    """'05' or 'MAY' -> '05'; an unknown month -> ''; anything else -> None."""
    text = text.upper()
    if text in UNKNOWN:
        return ""
    if text.isdigit():
        return text if 1 <= int(text) <= 12 else None
    return MONTHS.get(text)


def iso_of(value: str, written: str) -> str:
    """One value written `written` as ISO 8601 (a partial date where the day or month is unknown); the value as it
    is when it is not written that way (the type check then rejects it)."""
    text = value.strip()
    if written == "SAS date":
        if re.fullmatch(r"-?\d+(\.0*)?", text):
            return (SAS_EPOCH + timedelta(days=int(float(text)))).isoformat()
        return value
    pattern, (d, m, y, t) = PATTERNS[written]
    found = pattern.fullmatch(text)
    if not found:
        return value
    day, month, year, time = found.group(d).upper(), _month(found.group(m)), found.group(y), found.group(t)
    if month is None or (not day.isdigit() and day not in UNKNOWN):
        return value
    if month == "":
        return year if not time and not day.isdigit() else value  # a known day of an unknown month says nothing
    if not day.isdigit():
        return f"{year}-{month}" if not time else value
    return f"{year}-{month}-{day}" + (f"T{time}" if time else "")


def _decoder(table: dict[str, str]) -> Callable[[pd.Series], pd.Series]:
    def decode(values: pd.Series) -> pd.Series:
        return values.where(~values.isin(list(table)), values.map(table))

    return decode


def _normaliser(col: RawColumn, contract: RawContract) -> Callable[[pd.Series], pd.Series] | None:
    steps: list[Callable[[pd.Series], pd.Series]] = []
    if col.format and col.format != "ISO 8601" and not (col.format == "SAS date" and contract.format.type == "xpt"):
        steps.append(lambda s, w=col.format: s.map(lambda v: iso_of(v, w), na_action="ignore"))
    if contract.format.decimal != "." and col.type in ("integer", "float"):
        steps.append(lambda s, mark=contract.format.decimal: s.str.replace(mark, ".", regex=False))
    if col.decode:
        steps.append(_decoder(dict(col.decode)))
    if not steps:
        return None

    def normalise(values: pd.Series) -> pd.Series:
        for step in steps:
            values = step(values)
        return values

    return normalise


def normalise_values(frame: pd.DataFrame, contract: RawContract) -> pd.DataFrame:
    """The frame with every column that declares a date format, a decimal comma or a decode table read into the
    pipeline's representation, once per distinct value; other columns untouched (the same data, not a copy)."""
    for col in contract.columns:
        if col.name in frame and (normalise := _normaliser(col, contract)) is not None:
            frame[col.name] = per_value(normalise)(frame[col.name]).astype(frame[col.name].dtype)
    return frame

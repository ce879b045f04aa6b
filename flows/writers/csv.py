"""CSV writer, XPT-style: upper-case names of at most 8 characters in spec order, UTF-8, ISO 8601 dates. Text a
spreadsheet would execute as a formula is neutralised with a leading single quote (`neutralise`).

The bytes are those of pandas' to_csv, put together a column at a time: text straight from Arrow (the csv module's
minimal quoting, only where a value needs it), numbers as pandas formats them, in one call for all of them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.distinct import distinct_rows, per_value
from flows.specs import DomainSpec
from flows.writers.context import WriteContext

NEEDS_QUOTES = '[,"\\n]'  # what makes the csv module quote a field (delimiter, quote character, line end)
END = "_end"  # a last, empty column: pandas writes a lone empty field as "", never so beside another field


def _field(value: str | None) -> str:
    """One value as the csv module writes it in a row of several fields."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([value, ""])
    return out.getvalue()[:-2]


def _text_fields(col: pd.Series) -> pa.ChunkedArray:
    text = pa.chunked_array(pa.array(col.array))
    if pc.any(pc.match_substring_regex(text, NEEDS_QUOTES)).as_py():  # quote as the csv module does, once a value
        values = distinct_rows(col.to_frame(), [col.name])
        fields = [_field(v) for v in pa.chunked_array(pa.array(values.rows[col.name].array)).to_pylist()]
        return pa.chunked_array([pa.array(fields, pa.large_string()).take(pa.array(values.codes))])
    return pc.fill_null(text, "")


def _number_fields(frame: pd.DataFrame) -> list[pa.ChunkedArray]:
    """The numeric columns as pandas writes them to CSV (no number holds a comma, so the lines split apart)."""
    lines = frame.assign(**{END: ""}).to_csv(index=False, header=False, lineterminator="\n").split("\n")[:-1]
    cells = pc.split_pattern(pa.array(lines, pa.large_string()), ",")
    return [pa.chunked_array([pc.list_element(cells, i)]) for i in range(frame.shape[1])]


def write_csv(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    text = [v.name for v in spec.variables if v.type == "Char"]
    data = frame[spec.names].assign(**{c: neutralise(frame[c]) for c in text})
    numbers = [v.name for v in spec.variables if v.type != "Char"]
    if not len(data) or END in data or not all(isinstance(data[c].array, pd.arrays.ArrowStringArray) for c in text):
        data.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        return
    fields = {c: _text_fields(data[c]) for c in text}
    if numbers:
        fields.update(zip(numbers, _number_fields(data[numbers]), strict=True))
    comma = pa.scalar(",", pa.large_string())
    rows = pc.binary_join_element_wise(*(fields[c] for c in spec.names), comma)
    header = ",".join(_field(c) for c in spec.names)
    path.write_bytes((header + "\n" + "\n".join(rows.to_pylist()) + "\n").encode("utf-8"))


FORMULA = r"^[=+\-@\t\r]"  # what a spreadsheet program may run as a formula when it starts a cell (OWASP)
NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"  # a plain number (-2.5, +1e3) runs nothing: left as it is


def neutralise(col: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would execute, with a single quote put before them (OWASP's CSV injection advice):
    `=HYPERLINK(...)` becomes `'=HYPERLINK(...)`. Text columns only, and a plain number such as -2.5 stays as it is."""
    text = col.astype("str").where(col.notna(), None) if col.dtype == object else col

    def check(values: pd.Series) -> pd.Series:  # once per distinct value
        hit = values.str.contains(FORMULA, regex=True) & ~values.str.contains(NUMBER, regex=True)
        return hit.fillna(False).astype(bool)

    risky = per_value(check)(text).astype(bool)
    if not risky.any():
        return col
    return text.where(~risky, "'" + text)


def write_table(frame: pd.DataFrame, path: Path, text: list[str]) -> None:
    """A table a person opens in a spreadsheet (rejects, trace), with its `text` columns neutralised."""
    safe = frame.assign(**{c: neutralise(frame[c]) for c in text if c in frame})
    safe.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")

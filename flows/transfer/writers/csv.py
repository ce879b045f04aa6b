"""CSV writer, XPT-style: upper-case names of at most 8 characters in spec order, UTF-8, ISO 8601 dates. Text a
spreadsheet would execute as a formula is neutralised with a leading single quote (`neutralise`).

The bytes are those of pandas' to_csv, put together from each column's distinct values (writers/lines.py):
text as the csv module quotes it (only where a value needs it; a carriage return too, which pandas leaves bare and
every CSV reader then takes for a line end), numbers as pandas formats them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.dates import iso_of_sas
from flows.kernel.distinct import per_value
from flows.spec.model import DomainSpec, time_kind
from flows.transfer.writers.context import Appender, WriteContext
from flows.transfer.writers.lines import RowTokens, Tokens, column_tokens, write_rows

NEEDS_QUOTES = '[,"\\r\\n]'  # what makes a field quoted: delimiter, quote character, a line-end character
END = "_end"  # a last, empty column: pandas writes a lone empty field as "", never so beside another field


def _field(value: str | None) -> str:
    """One value as the csv module writes it in a row of several fields, quoted where it holds a line-end character:
    a carriage return too (RFC 4180), which the csv module leaves bare under a LF line terminator."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([value, ""])
    return out.getvalue()[:-3]


def _quoted(text: pa.Array) -> pa.Array:
    """Text values (no nulls) as the csv module writes them in a row of several fields."""
    if not pc.any(pc.match_substring_regex(text, NEEDS_QUOTES)).as_py():
        return text
    return pa.array([_field(v) for v in text.to_pylist()], pa.large_string())


def _text_tokens(values: pd.Series, neutralised: bool) -> pa.Array:
    return _quoted(pc.fill_null(pa.array((neutralise(values) if neutralised else values).array), ""))


def _number_tokens(values: pd.Series) -> list[str]:
    """Distinct numbers as pandas writes them to CSV (no number holds a comma, so the lines split apart)."""
    lines = values.to_frame().assign(**{END: ""}).to_csv(index=False, header=False, lineterminator="\n")
    return [line[:-1] for line in lines.split("\n")[:-1]]  # each without the comma before the empty END field


def _integers(block: pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(block, pa.large_string()), "")  # str(int), as pandas writes an integer


def _tokens(col: pd.Series, neutralised: bool) -> Tokens | RowTokens | None:
    """How the column's fields are made, or None for a column of another kind (left to pandas)."""
    if isinstance(col.array, pd.arrays.ArrowStringArray):
        return column_tokens(col, partial(_text_tokens, neutralised=neutralised))
    if pd.api.types.is_integer_dtype(col):
        return RowTokens(pa.chunked_array([pa.array(col, type=pa.int64(), from_pandas=True)]), _integers)
    if pd.api.types.is_float_dtype(col):
        return column_tokens(col, _number_tokens)
    return None


def write_frame(frame: pd.DataFrame, path: Path, text: Collection[str]) -> None:
    """frame.to_csv(path, index=False) with the `text` columns neutralised, in the same bytes, built from the
    columns' distinct values rather than row by row where every column is Arrow text or a number."""
    tokens = _all_tokens(frame, text)
    if tokens is None:
        path.write_bytes(_by_pandas(frame, text, header=True))
        return
    with path.open("wb") as fh:
        fh.write(_header(frame.columns))
        write_rows(fh, tokens, len(frame), ",", after="\n")


def _all_tokens(frame: pd.DataFrame, text: Collection[str]) -> list[Tokens | RowTokens] | None:
    """Every column's tokens, or None when pandas writes the frame: a column of another kind, or a lone column
    (pandas quotes a lone empty field: "")."""
    if not len(frame) or frame.shape[1] < 2 or END in frame:
        return None
    tokens = [_tokens(frame[c], c in text) for c in frame]
    return tokens if all(t is not None for t in tokens) else None  # type: ignore[return-value]


def _lone_tokens(frame: pd.DataFrame, text: Collection[str]) -> list[Tokens | RowTokens] | None:
    """A lone column's tokens, an empty field written "" (as pandas and the csv module write a row of one empty
    field), or None for a column of another kind."""
    name = frame.columns[0]
    tokens = _tokens(frame[name], name in text)
    if tokens is None:
        return None
    if isinstance(tokens, Tokens):
        return [Tokens(_empty_quoted(tokens.values), tokens.codes)]
    render = tokens.render
    return [RowTokens(tokens.column, lambda block: _empty_quoted(render(block).cast(pa.large_string())))]


def _empty_quoted(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(text, ""), pa.scalar('""', text.type), text)


def _header(columns: Collection[str]) -> bytes:
    return (",".join(_field(str(c)) for c in columns) + "\n").encode("utf-8")


def _by_pandas(frame: pd.DataFrame, text: Collection[str], header: bool) -> bytes:
    """What pandas' to_csv writes of the frame with its `text` columns neutralised: every field quoted when a value
    holds a carriage return (pandas would leave it bare, and a reader would end the record there)."""
    safe = frame.assign(**{c: neutralise(frame[c]) for c in text if c in frame})
    bare_cr = any(safe[c].astype("str").str.contains("\r", regex=False).any() for c in text if c in safe)
    quoting = csv.QUOTE_ALL if bare_cr else csv.QUOTE_MINIMAL
    return safe.to_csv(index=False, header=header, lineterminator="\n", quoting=quoting).encode("utf-8")


def write_parts(parts: Iterable[pd.DataFrame], path: Path, columns: Sequence[str], text: Collection[str]) -> int:
    """write_frame of the parts (each with `columns`) one after another, without putting them together: the trace
    of ten million records is written dataset by dataset. Returns the rows written."""
    rows = 0
    with path.open("wb") as fh:
        fh.write(_header(columns))
        for part in parts:
            if list(part.columns) != list(columns):
                raise ValueError(f"write_parts: columns {list(part.columns)}, expected {list(columns)}")
            if not len(part):
                continue
            if (tokens := _all_tokens(part, text)) is None:
                fh.write(_by_pandas(part, text, header=False))
            else:
                write_rows(fh, tokens, len(part), ",", after="\n")
            rows += len(part)
    return rows


class CsvAppender(Appender):
    """A dataset's CSV from chunks of rows: the header when opened, each chunk's lines as they come. Every field is
    rendered from its own value (text quoted where it needs it, numbers as pandas writes them), so the lines do not
    depend on the chunks; text not held as Arrow text is made so first, for a carriage return to be quoted in its
    field alone as in Arrow text (pandas, which would leave it bare, quotes a whole frame then), and a lone column's
    empty field is "" as pandas writes it. Only a chunk pandas writes itself (a Num column of another kind than
    integer or float, e.g. bool) decides that quoting by itself: every field quoted when a text value holds one."""

    def __init__(self, path: Path, spec: DomainSpec, ctx: WriteContext, rows: int) -> None:
        super().__init__(path, spec, ctx, rows)
        self.dated = {v.name: kind for v in spec.variables if (kind := time_kind(v.display_format))}
        self.text = [v.name for v in spec.variables if v.type == "Char" or v.name in self.dated]
        self.fh = path.open("wb")
        self.fh.write(_header(spec.names))

    def _append(self, chunk: pd.DataFrame) -> None:
        if not len(chunk):
            return
        out = chunk[self.spec.names]
        if self.dated:  # an ADaM numeric date or date-time (a display format) as its ISO 8601 text
            out = out.assign(**{name: iso_of_sas(out[name], kind) for name, kind in self.dated.items()})
        plain = [c for c in self.text if not isinstance(out[c].array, pd.arrays.ArrowStringArray)]
        if plain:
            out = out.assign(**{c: out[c].astype("str") for c in plain})
        tokens = _all_tokens(out, self.text) if out.shape[1] > 1 else _lone_tokens(out, self.text)
        if tokens is None:
            self.fh.write(_by_pandas(out, self.text, header=False))
        else:
            write_rows(self.fh, tokens, len(out), ",", after="\n")

    def _finish(self) -> None:
        self.fh.close()

    def _abandon(self) -> None:
        self.fh.close()


def write_csv(frame: pd.DataFrame, spec: DomainSpec, path: Path, ctx: WriteContext) -> None:
    """The dataset as CSV, the whole frame as one chunk; an ADaM numeric date or date-time (a display format) as its
    ISO 8601 text, as every date of the CSV files is written."""
    with CsvAppender(path, spec, ctx, len(frame)) as out:
        out.write(frame)


FORMULA = r"^[=+\-@\t\r]"  # what a spreadsheet program may run as a formula when it starts a cell (OWASP)
NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"  # a plain number (-2.5, +1e3) runs nothing: left as it is


def neutralise(col: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would execute, with a single quote put before them (OWASP's CSV injection advice):
    `=HYPERLINK(...)` becomes `'=HYPERLINK(...)`. Text columns only, and a plain number such as -2.5 stays as it is."""
    text = col.astype("str").where(col.notna(), None) if col.dtype == object else col
    if isinstance(text.array, pd.arrays.ArrowStringArray):  # no cell starts like a formula: nothing to look at
        starts = pc.match_substring_regex(pa.array(text.array), FORMULA)
        if not pc.any(starts).as_py():
            return col

    def check(values: pd.Series) -> pd.Series:  # once per distinct value
        hit = values.str.contains(FORMULA, regex=True) & ~values.str.contains(NUMBER, regex=True)
        return hit.fillna(False).astype(bool)

    risky = per_value(check)(text).astype(bool)
    if not risky.any():
        return col
    return text.where(~risky, "'" + text)


def write_table(frame: pd.DataFrame, path: Path, text: list[str]) -> None:
    """A table a person opens in a spreadsheet (rejects, trace), with its `text` columns neutralised."""
    write_frame(frame, path, text)

"""flows.transfer.writers.lines: rows joined a block at a time from each column's distinct values, as a plain join
would."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flows.transfer.writers import lines
from flows.transfer.writers.lines import RowTokens, column_tokens, shared_distinct, write_records, write_rows

RNG = np.random.default_rng(7)
ROWS = 1000
FRAME = pd.DataFrame(
    {
        "STUDYID": pd.Series(["S1"] * ROWS, dtype="str"),  # one value
        "SITE": pd.Series(RNG.choice(["A", "B", None], ROWS), dtype="str"),  # a few, with nulls
        "SEQ": pd.array(RNG.integers(0, 50, ROWS), dtype="Int64"),
        "ID": pd.Series([f"id-{i}" for i in RNG.integers(0, 400, ROWS)], dtype="str"),  # many
        "X": RNG.choice([-0.0, 0.0, 1.5, np.nan], ROWS),
    }
)


@pytest.fixture(autouse=True)
def by_distinct_value(monkeypatch):
    """These columns are small: without this, they would be rendered row by row (lines.SMALL)."""
    monkeypatch.setattr(lines, "SMALL", 0)


def render(values: pd.Series) -> list[str]:
    return ["<null>" if pd.isna(v) else repr(v) for v in values.astype(object)]


def expected(frame: pd.DataFrame, sep: str, before: str, after: str, trim: int) -> bytes:
    rows = zip(*(render(frame[c]) for c in frame), strict=True)
    text = "".join(before + sep.join(r) + after for r in rows).encode("utf-8")
    return text[: len(text) - trim]


@pytest.mark.parametrize("group", [1, lines.GROUP], ids=["no columns grouped", "adjacent columns grouped"])
@pytest.mark.parametrize("block", [64, lines.BLOCK], ids=["many blocks", "one block"])
@pytest.mark.parametrize(("sep", "before", "after", "trim"), [(",", "", "\n", 0), (",", "[", "],", 1), ("", "", "", 0)])
def test_same_text_as_a_plain_join(monkeypatch, group, block, sep, before, after, trim):
    monkeypatch.setattr(lines, "GROUP", group)
    monkeypatch.setattr(lines, "BLOCK", block)
    out = io.BytesIO()
    write_rows(out, [column_tokens(FRAME[c], render) for c in FRAME], ROWS, sep, before, after, trim)
    assert out.getvalue() == expected(FRAME, sep, before, after, trim)


def test_row_tokens_beside_distinct_ones():
    line = pa.chunked_array([pa.array(np.arange(ROWS))])
    columns = [column_tokens(FRAME["ID"], render), RowTokens(line, lambda b: b.cast(pa.large_string()))]
    out = io.BytesIO()
    write_rows(out, columns, ROWS, ",", after="\n")
    assert out.getvalue().decode().splitlines() == [f"{i!r},{n}" for n, i in enumerate(FRAME["ID"])]


def test_minus_zero_and_zero_stay_apart():
    tokens = column_tokens(pd.Series([0.0, -0.0, 0.0, np.nan]), render)
    assert tokens.values.take(pa.array(tokens.codes)).to_pylist() == ["0.0", "-0.0", "0.0", "<null>"]


def test_distinct_values_worked_out_once_per_column_inside_shared_distinct(monkeypatch):
    calls = []
    original = lines.distinct_rows
    monkeypatch.setattr(lines, "distinct_rows", lambda *a: calls.append(1) or original(*a))
    with shared_distinct():
        for _ in range(3):  # three writers of one dataset
            column_tokens(FRAME["ID"], render)
    assert len(calls) == 1
    column_tokens(FRAME["ID"], render)  # outside: no cache
    assert len(calls) == 2


def test_a_small_column_is_rendered_row_by_row_with_the_same_tokens(monkeypatch):
    for name in FRAME:
        by_value = column_tokens(FRAME[name], render)
        monkeypatch.setattr(lines, "SMALL", ROWS)
        by_row = column_tokens(FRAME[name], render)
        monkeypatch.setattr(lines, "SMALL", 0)
        assert len(by_row.values) == ROWS and by_row.block(0, ROWS).equals(by_value.block(0, ROWS)), name


@pytest.mark.parametrize(
    ("rows", "distinct", "paired"),
    [
        (100, 100, False),  # a small column's tokens are one per row: 100 x 100 combinations would cost more
        (100, 5, True),  # 5 x 5 combinations for 100 rows: joined once each
        (10_000, 300, False),  # 90,000 combinations: more than GROUP
    ],
)
def test_adjacent_columns_are_paired_only_when_their_combinations_are_few(rows, distinct, paired):
    codes = np.arange(rows) % distinct
    tokens = lines.Tokens(pa.array([str(i) for i in range(distinct)], pa.large_string()), codes)
    grouped = lines._grouped([tokens, tokens], pa.scalar(",", pa.large_string()))
    assert len(grouped) == (1 if paired else 2)
    out = io.BytesIO()
    write_rows(out, [tokens, tokens], rows, ",", after="\n")
    assert out.getvalue().decode().splitlines()[:3] == ["0,0", "1,1", "2,2"]


def fixed(width: int):
    """Each value as `width` bytes (a record's field): its repr, padded with blanks or cut."""
    return lambda values: pa.array([r.encode().ljust(width)[:width] for r in render(values)], pa.large_binary())


@pytest.mark.parametrize("group", [1, lines.GROUP], ids=["no columns grouped", "adjacent columns grouped"])
@pytest.mark.parametrize("block", [64, 333, lines.BLOCK], ids=["many blocks", "a last short block", "one block"])
def test_records_of_fixed_width_fields_as_write_rows_joins_them(monkeypatch, group, block):
    monkeypatch.setattr(lines, "GROUP", group)
    monkeypatch.setattr(lines, "BLOCK", block)
    columns = [column_tokens(FRAME[c], fixed(w)) for c, w in zip(FRAME, [2, 7, 8, 1, 5], strict=True)]
    joined, laid_out = io.BytesIO(), io.BytesIO()
    write_rows(joined, columns, ROWS, "")
    write_records(laid_out, columns, ROWS)
    assert laid_out.getvalue() == joined.getvalue() and len(joined.getvalue()) == ROWS * 23


def test_records_with_fields_of_several_widths_are_joined_by_write_rows():
    columns = [column_tokens(FRAME["ID"], lambda v: pa.array([r.encode() for r in render(v)], pa.large_binary()))]
    out = io.BytesIO()
    write_records(out, columns, ROWS)  # "'id-7'" beside "'id-123'": no one width
    assert out.getvalue() == "".join(render(FRAME["ID"])).encode()

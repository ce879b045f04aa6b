"""flows.kernel.distinct: codes, distinct rows, duplicates and per-value checks agree with plain pandas."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest

from flows.kernel import distinct
from flows.kernel.distinct import (
    as_constant_text,
    constant_text,
    distinct_rows,
    duplicated,
    per_value,
    per_value_check,
    rows_where,
    shared_codes,
    take_rows,
    value_codes,
)
from flows.kernel.pandas_arrow import arrow_data


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": ["01", "01", None, "01", "02", "01"],  # a null is a value of its own
            "subject": ["0001", "0001", "0002", "0003", "0001", None],
            "result": ["1", "1", "IIa", None, "1", "3"],
            "score": [1.0, 1.0, np.nan, 2.0, 1.0, np.nan],
            "dose": pd.array([1, 1, None, 2, 1, None], dtype="Int64"),
        },
        index=pd.Index([2, 3, 5, 6, 7, 9], name="line"),  # line numbers, with a gap
    )


@pytest.mark.parametrize(
    "columns",
    [
        ["site"],  # one text column with a null
        ["score"],  # numpy floats with NaN
        ["dose"],  # nullable integers
        ["site", "subject"],
        ["site", "subject", "result", "score", "dose"],
    ],
)
def test_distinct_rows_expand_back_to_the_frame(columns):
    f = frame()
    d = distinct_rows(f, columns)
    assert len(d.rows) == len(f[columns].drop_duplicates())
    back = d.rows.reset_index(drop=True).take(d.codes).set_axis(f.index)
    pd.testing.assert_frame_equal(back, f[columns])
    assert list(d.rows.dtypes) == list(f[columns].dtypes)


def test_distinct_rows_of_an_empty_frame():
    d = distinct_rows(frame().iloc[:0], ["site", "subject"])
    assert d.rows.empty and len(d.codes) == 0


@pytest.mark.parametrize("lookup", [True, False])  # a table over the code space, or hashing the codes
def test_combined_codes_compact_either_way(monkeypatch, lookup):
    monkeypatch.setattr(distinct, "_by_lookup", lambda space, rows: lookup)
    rng = np.random.default_rng(7)
    f = pd.DataFrame({c: rng.integers(0, 50, 2000).astype(str) for c in "abcde"}).astype("str")
    d = distinct_rows(f, list("abcde"))
    back = d.rows.reset_index(drop=True).take(d.codes).set_axis(f.index)
    pd.testing.assert_frame_equal(back, f)
    assert len(d.rows) == len(f.drop_duplicates())


def test_value_codes_use_every_code_and_minus_one_for_null():
    codes, n = value_codes(pd.Series(["b", None, "a", "b"]))
    assert n == 2 and sorted(set(codes.tolist())) == [-1, 0, 1]
    assert codes[0] == codes[3] and codes[1] == -1


@pytest.mark.parametrize(
    "columns",
    [["site", "subject"], ["site", "subject", "result"], ["score"], ["result", "dose"]],
)
def test_duplicated_is_pandas_keep_false(columns):
    f = frame()
    assert duplicated(f, columns).tolist() == f.duplicated(subset=columns, keep=False).tolist()


def test_duplicated_without_any_duplicate():
    f = pd.DataFrame({"a": ["x", "y", "z"], "b": ["1", "1", "1"]})
    assert not duplicated(f, ["a", "b"]).any()


@pytest.mark.parametrize(
    "check",
    [
        lambda s: s.str.fullmatch(r"\d+").fillna(False).astype(bool) | s.isna(),
        lambda s: s.isin({"1", "3"}) | s.isna(),
        lambda s: s.isna(),
        lambda s: s.str.len(),  # not a boolean: the dtype of the answer is kept
    ],
)
@pytest.mark.parametrize("small", [0, distinct.SMALL])  # once per distinct value, and on the rows of a small column
def test_per_value_gives_the_answers_of_the_check(check, small, monkeypatch):
    monkeypatch.setattr(distinct, "SMALL", small)
    values = frame()["result"]
    pd.testing.assert_series_equal(per_value(check)(values), check(values), check_names=False)


@pytest.mark.parametrize("mask", [[True, False, True, False, True, False], [False] * 6, [True] * 6])
def test_rows_where_is_loc_with_a_mask(mask):
    f = frame()
    keep = np.array(mask)
    pd.testing.assert_frame_equal(rows_where(f, keep), f.loc[keep])
    pd.testing.assert_frame_equal(rows_where(f, pd.Series(keep, index=f.index)), f.loc[keep])


def test_shared_codes_encode_a_column_once_and_only_inside_the_block():
    f = frame()
    with shared_codes():
        first, _ = value_codes(f["site"])
        again, _ = value_codes(f[["site", "subject"]]["site"])  # the same data, reached another way
        assert again is first
    assert value_codes(f["site"])[0] is not first


def test_codes_are_forgotten_with_their_data():
    with shared_codes():
        values = pd.Series(["a", "b", "a"], dtype="str")
        value_codes(values)
        assert len(distinct._SHARED.get()) == 1
        del values
        assert not distinct._SHARED.get()  # the entry went with the column, so its id can be reused safely


def test_a_block_inside_another_shares_its_codes():
    f = frame()
    with shared_codes():
        first, _ = value_codes(f["site"])
        with shared_codes():
            assert value_codes(f["site"])[0] is first


def test_a_column_of_one_repeated_block_is_encoded_once():
    import pyarrow as pa

    block = pa.array(["x", None, "y"], pa.large_string())
    column = pd.Series(pa.chunked_array([block, block, block.slice(0, 2)]).to_pandas().array)
    codes, n = value_codes(column)
    assert n == 2 and codes.tolist() == value_codes(pd.Series(column.tolist(), dtype="str"))[0].tolist()


@pytest.mark.parametrize("shared", [True, False])
def test_take_rows_is_iloc_and_carries_the_codes(shared):
    f = frame().assign(study="S103")
    order = np.array([5, 3, 1, 0, 2, 4])
    with shared_codes() if shared else nullcontext():
        before = {c: value_codes(f[c]) for c in ("site", "study")}
        taken = take_rows(f, order)
        pd.testing.assert_frame_equal(taken, f.iloc[order].reset_index(drop=True))
        if shared:
            codes, n = value_codes(taken["site"])
            assert n == before["site"][1] and codes.tolist() == before["site"][0][order].tolist()


def test_take_rows_consuming_empties_the_frame_column_by_column():
    import weakref

    f = frame().assign(study="S103", n=range(6))
    expected = f.iloc[[5, 3, 1, 0, 2, 4]].reset_index(drop=True)
    data = weakref.ref(arrow_data(f["site"]))
    with shared_codes():
        taken = take_rows(f, np.array([5, 3, 1, 0, 2, 4]), consume=True)
    pd.testing.assert_frame_equal(taken, expected)
    assert f.columns.empty and data() is None  # the source's text went as its copy came
    with pytest.raises(ValueError, match="duplicate columns"):
        take_rows(pd.DataFrame([[1, 2]], columns=["a", "a"]), np.array([0]), consume=True)


def test_expanded_text_knows_its_codes():
    f = frame()
    with shared_codes():
        d = distinct_rows(f, ["site", "subject"])
        out = d.expand(d.rows["site"].str.lower(), f.index)
        known = value_codes(out)
    assert known[0].tolist() == value_codes(out)[0].tolist() and known[1] == value_codes(out)[1]


def test_values_at_positions_across_chunks():
    import pyarrow as pa

    data = pa.chunked_array([pa.array(["a", "b"]), pa.array(["c"]), pa.array(["d", None, "f"])])
    positions = np.array([5, 0, 4, 2, 3])  # any order, from any chunk
    assert distinct._values_at(data, positions).to_pylist() == ["f", "a", None, "c", "d"]
    assert distinct._values_at(data, np.array([], np.intp)).to_pylist() == []


@pytest.mark.parametrize("values", [["01", "01", "02"], ["01", "x", None]])
@pytest.mark.parametrize("small", [0, distinct.SMALL])
def test_per_value_check_passes_whole_or_answers_each_row(values, small, monkeypatch):
    monkeypatch.setattr(distinct, "SMALL", small)
    check = lambda s: s.str.fullmatch(r"\d{2}").fillna(False).astype(bool)  # noqa: E731
    column = pd.Series(values, dtype="str", index=[4, 5, 9])
    out = per_value_check(check)(column)
    if check(column).all():
        assert out is True  # nothing to report: no answer per row is built
    else:
        pd.testing.assert_series_equal(out, check(column), check_names=False)


def test_a_block_resumed_from_its_memo_knows_what_it_worked_out():
    f, memo = frame(), {}
    with shared_codes(memo):
        first, _ = value_codes(f["site"])
    with shared_codes():
        assert value_codes(f["site"])[0] is not first  # a new block knows nothing
    with shared_codes(memo):
        assert value_codes(f["site"])[0] is first


@pytest.mark.parametrize(
    "mask", [[True] * 6, [True, True, False, True, True, True], [False, False, True, True, False, True]]
)
def test_rows_where_carries_the_codes_renumbered_to_the_rows_kept(mask):
    f, keep = frame(), np.array(mask)
    with shared_codes():
        for c in ("site", "subject", "result"):
            value_codes(f[c])
        kept = rows_where(f, keep)
        known = {c: value_codes(kept[c]) for c in ("site", "subject", "result")}
    for c, (codes, n) in known.items():  # every code used, in order of first appearance, as if encoded anew
        fresh, m = value_codes(kept[c])
        assert (codes.tolist(), n) == (fresh.tolist(), m)


@pytest.mark.parametrize("n", [0, 1, 5, 65536, 65537, 200_000])  # empty, shorter than a block, on and past a block
def test_constant_column(n):
    column = pd.Series(constant_text("dosing.csv", n))
    assert len(column) == n and (column == "dosing.csv").all()
    assert column.dtype == pd.Series(["text"]).dtype  # the same str dtype as every column read


def test_rows_where_keeps_a_constant_column_one_block():
    """The raw file name of ten million rows is one block repeated: filtering the rows keeps it so, not a copy."""
    from flows.kernel.distinct import constant_text, rows_where

    n = 3 * (1 << 16) + 5
    f = pd.DataFrame(
        {"_file": constant_text("a.csv", n), "text": pd.Series(list("ab") * (n // 2) + ["a"], dtype="str")}
    )
    keep = np.arange(n) % 3 != 0
    out = rows_where(f, keep)
    pd.testing.assert_frame_equal(out, f.loc[keep])
    chunks = arrow_data(out["_file"]).chunks
    assert len({c.buffers()[2].address for c in chunks}) == 1  # every chunk the same bytes
    mixed = rows_where(f.assign(_file=f["text"]), keep)  # a column of several values is filtered as usual
    pd.testing.assert_frame_equal(mixed, f.assign(_file=f["text"]).loc[keep])


@pytest.mark.parametrize("shared", [True, False])
def test_take_rows_keeps_a_constant_column_one_block(shared):
    """A dataset's DOMAIN (constant_text) sorted by its keys stays one block repeated, its codes known or not."""
    n = 2 * (1 << 16) + 7
    f = pd.DataFrame({"DOMAIN": constant_text("QS", n), "text": pd.Series(list("abc") * (n // 3) + ["a"] * (n % 3))})
    order = np.random.default_rng(1).permutation(n)
    with shared_codes() if shared else nullcontext():
        taken = take_rows(f, order)
    pd.testing.assert_frame_equal(taken, f.iloc[order].reset_index(drop=True))
    block = arrow_data(f["DOMAIN"]).chunks[0].buffers()[2].address
    assert {c.buffers()[2].address for c in arrow_data(taken["DOMAIN"]).chunks} == {block}  # the same bytes, no copy
    text = take_rows(f.assign(DOMAIN=f["text"]), order)  # a column of several values is taken as usual
    pd.testing.assert_frame_equal(text, f.assign(DOMAIN=f["text"]).iloc[order].reset_index(drop=True))


@pytest.mark.parametrize(
    ("values", "one_block"),
    [
        (["01"] * 200_000, True),  # one value on every row: constant_text's block
        (["01"] * 199_999 + ["02"], False),  # another value on the last row only
        (["01"] * 199_999 + [None], False),  # a null is not the value
        (["01", "02"] * 100_000, False),  # several values in the first block: answered from it
        (["01"] * 1000, False),  # short: kept as it is
    ],
)
def test_as_constant_text(values, one_block):
    column = pd.Series(values, dtype="str", name="site", index=range(10, 10 + len(values)))
    out = as_constant_text(column)
    pd.testing.assert_series_equal(out, column)
    assert (out is not column) == one_block
    if one_block:
        assert len({c.buffers()[2].address for c in arrow_data(out).chunks}) == 1
        assert as_constant_text(out) is out  # a constant_text column is kept

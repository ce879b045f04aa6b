"""flows/run/spill.py: datasets kept on disk a block at a time and read back as pandas put them together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.run import spill
from flows.run.spill import Spill, Spilled, read_batches, stacked, write_frame


def _facts(domain: str, frame: pd.DataFrame) -> tuple[dict[str, int], list[str]]:
    longest = frame["TEXT"].str.len().max() if len(frame) else 0
    whole = [c for c in ("NUM",) if (frame[c].dropna() % 1 == 0).all()]
    return {"TEXT": int(0 if pd.isna(longest) else longest), "NUM": 8}, whole


def _block(texts: list[str | None], nums: list[float], ints: pd.api.extensions.ExtensionArray | None = None):
    frame = pd.DataFrame({"TEXT": pd.Series(texts, dtype="str"), "NUM": pd.Series(nums, dtype="float64")})
    frame["SEQ"] = ints if ints is not None else pd.array(range(1, len(texts) + 1), dtype="Int64")
    return frame


def test_a_frame_comes_back_with_its_values_and_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "S": pd.Series(["a", None, "ü"], dtype="str"),
            "I": pd.array([1, None, 3], dtype="Int64"),
            "F": pd.array([1.5, None, 2.0], dtype="Float64"),
            "N": np.array([1, 2, 3], dtype="int64"),
            "D": np.array([0.5, np.nan, -0.0]),
        }
    )
    write_frame(frame, tmp_path / "f.arrow")
    (back,) = read_batches(tmp_path / "f.arrow")
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert list(back.dtypes.astype(str)) == ["str", "Int64", "Float64", "int64", "float64"]
    assert np.signbit(back["D"].iloc[2])  # -0.0 stays -0.0


def test_blocks_read_back_as_pandas_puts_them_together(tmp_path: Path) -> None:
    blocks = [_block(["ab", None], [1.0, 2.0]), _block([], []), _block(["abcd"], [np.nan])]
    store = Spill(tmp_path / "s", _facts)
    for frame in blocks:
        store.add({"XX": frame})
    datasets = Spilled(store)
    pd.testing.assert_frame_equal(datasets["XX"], stacked(blocks), check_exact=True)
    assert list(datasets) == ["XX"] and len(datasets) == 1 and "XX" in datasets and "YY" not in datasets
    assert datasets.rows("XX") == 3
    assert datasets.counts("XX") == (3, None)  # no USUBJID: records only
    assert datasets.columns("XX") == ["TEXT", "NUM", "SEQ"]
    assert datasets.lengths("XX") == {"TEXT": 4, "NUM": 8}  # the longest of the blocks'
    assert datasets.whole("XX") == ["NUM"]  # whole in every block (a missing value is no fraction)
    chunks = list(datasets.chunks("XX"))
    assert [len(c) for c in chunks] == [2, 0, 1]
    pd.testing.assert_frame_equal(chunks[2], blocks[2], check_exact=True)
    with pytest.raises(KeyError):
        datasets["YY"]


def test_blocks_whose_dtypes_differ_are_put_together_by_pandas(tmp_path: Path) -> None:
    """One block's SEQ came out int64, another's Int64: pandas makes the dataset's Int64, and the blocks' facts cannot
    say which columns the whole dataset holds as whole numbers (whole is None: look at the dataset)."""
    blocks = [_block(["a"], [0.5], np.array([1], dtype="int64")), _block(["b", "c"], [1.0, 2.0])]
    store = Spill(tmp_path / "s", _facts)
    for frame in blocks:
        store.add({"XX": frame})
    datasets = Spilled(store)
    together = datasets["XX"]
    pd.testing.assert_frame_equal(together, pd.concat(blocks, ignore_index=True), check_exact=True)
    assert str(together["SEQ"].dtype) == "Int64"
    assert datasets.whole("XX") is None


def test_held_datasets_and_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Spill(tmp_path / "s", _facts)
    store.add({"AA": _block(["a"], [1.0]).assign(USUBJID=["S-1"]), "BB": _block(["b"], [2.5])})
    store.add({"AA": _block(["c", "d"], [3.0, 4.0]).assign(USUBJID=["S-2", "S-2"]), "BB": _block([], [])})
    held = pd.DataFrame({"X": [1]})
    datasets = Spilled(store, {"TS": held}, order=["TS", "AA", "BB"])
    assert list(datasets) == ["TS", "AA", "BB"]
    assert datasets["TS"] is held and datasets.rows("TS") == 1 and datasets.counts("TS") is None
    assert datasets.counts("AA") == (3, 2)  # a subject's rows are in one block: the blocks' subjects add up
    assert datasets.lengths("TS") is None and datasets.whole("TS") is None and datasets.columns("TS") is None
    assert datasets.whole("BB") == []  # 2.5 is not whole
    assert datasets["AA"] is datasets["AA"]  # small: kept for the next reader
    monkeypatch.setattr(spill, "CACHED", 0)
    assert datasets["BB"] is not datasets["BB"]  # over the budget: read each time asked for
    datasets.forget()


def test_chunks_come_a_batch_at_a_time_and_an_empty_block_as_its_columns(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(spill, "BATCH", 2)
    blocks = [_block(["a", "b", "c", None, "e"], [1.0, 2.0, 3.0, 4.0, 5.5]), _block([], []), _block(["f"], [6.0])]
    store = Spill(tmp_path / "s", _facts)
    for frame in blocks:
        store.add({"XX": frame})
    chunks = list(Spilled(store).chunks("XX"))
    assert [len(c) for c in chunks] == [2, 2, 1, 0, 1]
    assert all(list(c.dtypes.astype(str)) == ["str", "float64", "Int64"] for c in chunks)
    together = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(together, stacked(blocks), check_exact=True)

"""flows.kernel.keys: key order (ranks combined into one integer) against pandas' stable sort, and --SEQ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.kernel.keys import key_order, seq_in_key_order


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": pd.array(["S-2", "S-1", "S-2", None, "S-1", "S-1"], dtype="str"),  # a null sorts first
            "TESTCD": pd.array(["B", "A", "A", "A", "B", "A"], dtype="str"),
            "VISITNUM": pd.array([2.0, None, 1.0, 3.0, 1.5, None], dtype="Float64"),
        },
        index=[7, 3, 9, 11, 12, 20],
    )


def pandas_order(f: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """The reference: pandas' stable multi-key sort with nulls first."""
    ranked = f.reset_index(drop=True).reset_index(names="_pos")
    return ranked.sort_values(keys, kind="stable", na_position="first")["_pos"].to_numpy()


@pytest.mark.parametrize(
    "keys", [["USUBJID"], ["USUBJID", "TESTCD"], ["USUBJID", "VISITNUM"], ["TESTCD", "VISITNUM", "USUBJID"], []]
)
def test_key_order_is_a_stable_sort_with_nulls_first(keys):
    f = frame()
    expected = pandas_order(f, keys) if keys else np.arange(len(f))
    assert key_order(f, keys).tolist() == expected.tolist()


def test_key_order_of_many_keys_falls_back_to_sorting_key_by_key(monkeypatch):
    from flows.kernel import keys as k

    f = frame()
    real = k._ranks
    monkeypatch.setattr(k, "_ranks", lambda col: (real(col)[0], 1 << 40))  # a code space past one integer
    assert key_order(f, ["USUBJID", "TESTCD"]).tolist() == pandas_order(f, ["USUBJID", "TESTCD"]).tolist()


def test_seq_numbers_records_in_key_order_within_each_subject():
    f = frame().dropna(subset=["USUBJID"])
    seq = seq_in_key_order(f, ["USUBJID", "TESTCD", "VISITNUM"])
    # S-1: A/null (line 3), A/null (line 20), B/1.5 (line 12); S-2: A/1 (line 9), B/2 (line 7)
    assert seq.to_dict() == {7: 2, 3: 1, 9: 1, 12: 3, 20: 2}

"""flows/kernel/chunks.py: a dataset whole or a block at a time, as the mapping keeps it."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from flows.kernel.chunks import chunks_of, columns_of, counts_of, rows_of, rows_where


class _InBlocks(dict):
    def chunks(self, domain: str) -> Iterator[pd.DataFrame]:
        frame = self[domain]
        yield frame.iloc[:1]
        yield frame.iloc[1:]


def test_a_dict_gives_the_dataset_whole_and_blocks_give_their_rows_in_order() -> None:
    frame = pd.DataFrame({"A": [1, 2, 3]})
    whole = list(chunks_of({"XX": frame}, "XX"))
    assert len(whole) == 1 and whole[0] is frame
    parts = list(chunks_of(_InBlocks(XX=frame), "XX"))
    assert [p["A"].tolist() for p in parts] == [[1], [2, 3]]


class _Counted(dict):
    def counts(self, domain: str) -> tuple[int, int | None] | None:
        return (99, 9) if domain == "AE" else None

    def columns(self, domain: str) -> list[str] | None:
        return ["USUBJID", "AETERM"] if domain == "AE" else None


def test_counts_come_from_the_mapping_where_it_keeps_them_else_from_the_dataset() -> None:
    ae = pd.DataFrame({"USUBJID": ["A", "A", "B"]})
    ts = pd.DataFrame({"TSPARMCD": ["X"]})
    assert counts_of({"AE": ae, "TS": ts}, "AE") == (3, 2)
    assert counts_of({"AE": ae, "TS": ts}, "TS") == (1, None)
    assert counts_of(_Counted(AE=ae, TS=ts), "AE") == (99, 9)  # not read: the mapping knows
    assert counts_of(_Counted(AE=ae, TS=ts), "TS") == (1, None)


def test_columns_come_from_the_mapping_where_it_keeps_them_else_from_the_dataset() -> None:
    ae = pd.DataFrame({"USUBJID": ["A"]})
    assert columns_of({"AE": ae}, "AE") == ["USUBJID"]
    assert columns_of(_Counted(AE=ae, TS=ae), "AE") == ["USUBJID", "AETERM"]  # not read: the mapping knows
    assert columns_of(_Counted(AE=ae, TS=ae), "TS") == ["USUBJID"]


def test_rows_come_from_the_mapping_where_it_keeps_them_else_from_the_dataset() -> None:
    class _Rows(dict):
        def rows(self, domain: str) -> int:
            return 42

    assert rows_of({"AE": pd.DataFrame({"A": [1, 2]})}, "AE") == 2
    assert rows_of(_Rows(AE=pd.DataFrame({"A": [1, 2]})), "AE") == 42


def test_rows_where_keeps_the_rows_a_mask_keeps_block_by_block_in_order() -> None:
    frame = pd.DataFrame({"A": [1, 2, 3, 4]})
    keep = lambda f: f["A"] % 2 == 1  # noqa: E731
    assert rows_where({"XX": frame}, "XX", keep)["A"].tolist() == [1, 3]
    assert rows_where(_InBlocks(XX=frame), "XX", keep)["A"].tolist() == [1, 3]  # blocks [1], [2, 3, 4]
    assert rows_where({"XX": frame}, "YY", keep) is None

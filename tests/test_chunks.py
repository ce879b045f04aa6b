"""flows/kernel/chunks.py: a dataset whole or a block at a time, as the mapping keeps it."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from flows.kernel.chunks import chunks_of


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

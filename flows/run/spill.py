"""Datasets derived in blocks of subjects, kept on disk rather than in memory until they are written: each block's
frame of each dataset in an Arrow IPC file of its own (`Spill`), and the datasets read back one at a time when asked
for (`Spilled`), each the blocks' frames one after the other, as `stacked` puts them together in memory.

A frame goes to Arrow with its pandas metadata (the dtypes: str, Int64, Float64, int64, float64) and comes back the
same. Every block of a dataset keeps its own file, so a block whose column came out int64 and another whose came out
Int64 are put together as pandas puts them together (Int64), not cast to the first block's type.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

COMPRESSION = "lz4"  # the frames' text repeats: lz4 makes the files a fraction of their size for little CPU
SUFFIX = ".arrow"
CACHED = 256 << 20  # bytes of datasets read from a spill kept for the next reader
BATCH = 1 << 18  # rows of a record batch in a spill file: what a reader of chunks holds at a time (and its writers'
# temporaries: a block of 10,000 subjects has over a million QS rows)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """`frame` (its columns and dtypes, not its index) as an Arrow IPC file."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    options = pa.ipc.IpcWriteOptions(compression=COMPRESSION)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=BATCH)


def read_batches(path: Path) -> Iterator[pd.DataFrame]:
    """The frame `write_frame` wrote, a batch of at most BATCH rows at a time (each with a RangeIndex): a reader
    holds one batch, never the block."""
    with pa.OSFile(str(path), "rb") as source:
        reader = pa.ipc.open_file(source)
        if not reader.num_record_batches:  # a block without rows: its columns, with their dtypes
            yield reader.schema.empty_table().to_pandas()
        for i in range(reader.num_record_batches):
            yield read_batch(reader, i)


def read_batch(reader: pa.ipc.RecordBatchFileReader, i: int) -> pd.DataFrame:
    """Batch `i` of a spill file as pandas (the reading and decompression happen here: what a bench times)."""
    return pa.Table.from_batches([reader.get_batch(i)], schema=reader.schema).to_pandas()


def read_table(path: Path) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


def read_stacked(paths: list[Path]) -> pd.DataFrame:
    """The frames of `paths` one after the other, as `stacked` puts them together: when every block with rows has
    the same columns and dtypes (the same schema, pandas metadata included), as one Arrow table made a frame at once
    (no frame of each block and their copy held side by side); else block by block, put together by pandas."""
    tables = [read_table(p) for p in paths]
    full = [t for t in tables if t.num_rows] or tables[:1]
    if all(t.schema.equals(full[0].schema, check_metadata=True) for t in full):
        del tables
        return pa.concat_tables(full).to_pandas() if len(full) > 1 else full[0].to_pandas()
    return stacked([t.to_pandas() for t in tables])


def stacked(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The blocks' frames of one dataset, one after the other (a block without rows adds nothing)."""
    full = [p for p in parts if len(p)]
    if len(full) == 1:
        return full[0]
    return pd.concat(full, ignore_index=True) if full else parts[0]


@dataclass(frozen=True)
class BlockFacts:
    """What the writers decide over a whole dataset, for one block's frame: its rows, its dtypes, each variable's
    XPT length and its Num variables held as floats of whole numbers only."""

    rows: int
    subjects: int | None  # distinct USUBJID (None without it): a subject's rows are all in one block
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    lengths: dict[str, int]
    whole: frozenset[str]


class Spill:
    """A folder of datasets written a block at a time: `folder/<dataset>/<block>.arrow`, and each block's facts."""

    def __init__(self, folder: Path, facts: Callable[[str, pd.DataFrame], tuple[dict[str, int], list[str]]]) -> None:
        self.folder = folder
        self.order: list[str] = []  # the datasets in the order the first block gave them
        self.blocks = 0
        self._facts = facts  # per dataset and frame: XPT lengths and whole-number Num variables
        self.facts: dict[str, list[BlockFacts]] = {}

    def add(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """The next block's frames, one per dataset (every block gives the same datasets)."""
        for domain, frame in frames.items():
            if domain not in self.order:
                self.order.append(domain)
                (self.folder / domain).mkdir(parents=True)
            write_frame(frame, self.folder / domain / f"{self.blocks:06d}{SUFFIX}")
            lengths, whole = self._facts(domain, frame)
            dtypes = tuple(str(t) for t in frame.dtypes)
            subjects = int(frame["USUBJID"].nunique()) if "USUBJID" in frame else None
            columns = tuple(str(c) for c in frame.columns)
            facts = BlockFacts(len(frame), subjects, columns, dtypes, lengths, frozenset(whole))
            self.facts.setdefault(domain, []).append(facts)
        self.blocks += 1

    def parts(self, domain: str) -> list[Path]:
        return [self.folder / domain / f"{b:06d}{SUFFIX}" for b in range(self.blocks)]


class Spilled(Mapping[str, pd.DataFrame]):
    """The datasets of a spill, each read from disk when asked for, plus `held`: datasets kept in memory (the
    study-level ones, small), in the order `order` gives. The datasets read last are kept while they take less than
    CACHED bytes together (a small dataset asked for by every document is read once); a larger one is read whenever
    asked for."""

    def __init__(self, spill: Spill, held: Mapping[str, pd.DataFrame] | None = None, order: list[str] | None = None):
        self._spill, self._held = spill, dict(held or {})
        self._order = order if order is not None else [*spill.order, *self._held]
        self._cache: OrderedDict[str, tuple[pd.DataFrame, int]] = OrderedDict()

    def __getitem__(self, domain: str) -> pd.DataFrame:
        if domain in self._held:
            return self._held[domain]
        if domain not in self._spill.order:
            raise KeyError(domain)
        if domain in self._cache:
            self._cache.move_to_end(domain)
            return self._cache[domain][0]
        frame = read_stacked(self._spill.parts(domain))
        size = int(frame.memory_usage(index=False).sum())
        while self._cache and sum(n for _, n in self._cache.values()) + size > CACHED:
            self._cache.popitem(last=False)
        if size <= CACHED:
            self._cache[domain] = (frame, size)
        return frame

    def forget(self) -> None:
        """Let go of the datasets kept."""
        self._cache.clear()

    def in_blocks(self, domain: str) -> bool:
        return domain not in self._held

    def rows(self, domain: str) -> int:
        return len(self._held[domain]) if domain in self._held else sum(f.rows for f in self._spill.facts[domain])

    def counts(self, domain: str) -> tuple[int, int | None] | None:
        """Records and distinct USUBJID of a spilled dataset, its blocks' added up (None for a held one)."""
        if domain in self._held:
            return None
        facts = self._spill.facts[domain]
        subjects = [f.subjects for f in facts]
        return sum(f.rows for f in facts), None if None in subjects else sum(s or 0 for s in subjects)

    def columns(self, domain: str) -> list[str] | None:
        """The dataset's columns (every block has them), None for a held one."""
        return None if domain in self._held else list(self._spill.facts[domain][0].columns)

    def lengths(self, domain: str) -> dict[str, int] | None:
        """Each variable's XPT length over the whole dataset (the longest of the blocks'), None for a held one."""
        if domain in self._held:
            return None
        out: dict[str, int] = {}
        for facts in self._spill.facts[domain]:
            for name, length in facts.lengths.items():
                out[name] = max(out.get(name, 0), length)
        return out

    def whole(self, domain: str) -> list[str] | None:
        """The Num variables of the whole dataset held as floats of whole numbers, when every block with rows has the
        dtypes of the first (then the dataset, put together, has them too); else None: look at the dataset."""
        full = [f for f in self._spill.facts.get(domain, []) if f.rows] if domain not in self._held else []
        if not full or any(f.dtypes != full[0].dtypes for f in full):
            return None
        return sorted(frozenset.intersection(*(f.whole for f in full)))

    def chunks(self, domain: str) -> Iterator[pd.DataFrame]:
        """The dataset's rows a batch at a time, block after block (a held dataset as one chunk)."""
        if domain in self._held:
            yield self._held[domain]
            return
        for path in self._spill.parts(domain):
            yield from read_batches(path)

    def __contains__(self, domain: object) -> bool:
        return domain in self._held or domain in self._spill.order

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

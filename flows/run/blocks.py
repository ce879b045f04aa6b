"""The datasets derived in blocks of subjects: the valid raw rows split by subject in USUBJID order, each block's
SDTM and ADaM datasets derived on its own (in this process or in worker processes), and the blocks' frames put
together (in memory, or kept on disk in a spill and read back a block at a time: run/spill.py) so that every dataset
is the one a single block gives, whatever the block size.

What needs the whole study is worked out once, outside the blocks: the data cut and the data-as-of date (the run's
`facts`), the eligibility rules (on all valid rows, before), and the study-level datasets (TA, TE, TV, TI, TS: no
USUBJID), derived after the blocks from the assembled datasets they read (TS's ACTSUB counts DM's subjects). Every
other dataset is a subject's rows in key order, and its keys start with USUBJID (after STUDYID, and RDOMAIN for a
SUPP--), so blocks in USUBJID order, each in key order, are the dataset in key order; --SEQ counts within a subject.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flows.kernel.distinct import distinct_rows
from flows.kernel.held import Held, Rows, held_frame
from flows.kernel.keys import subject_ids
from flows.mapping.engine import derive_analysis, derive_datasets, derive_study_level
from flows.mapping.plan import plan_domain
from flows.run.spill import Spill, Spilled, stacked
from flows.spec.model import DomainSpec, Specs
from flows.spec.sdtm_schema import TRACE
from flows.transfer.num_type import whole_columns
from flows.transfer.writers.xpt import xpt_lengths

Frames = dict[str, pd.DataFrame]
HeldFrames = dict[str, Rows]  # a file's rows, held compact or not
ALL = 1 << 62  # a block size: every subject in one block


def study_level(specs: Specs) -> list[str]:
    """The datasets of the study rather than of its subjects: those without USUBJID (the trial design datasets)."""
    return [d for d, spec in specs.sdtm.items() if "USUBJID" not in spec.names]


def analysis_reads_study_level(specs: Specs) -> bool:
    """Whether an analysis dataset reads a study-level dataset: in a block it would see the block's, whose data
    facts (TS's ACTSUB) count the block's subjects only."""
    study = set(study_level(specs))
    for spec in specs.adam.values():
        deps = plan_domain(spec).deps.values()
        if any(domain in study for nodes in deps for domain, _ in nodes) or spec.records.get("from_sdtm") in study:
            return True
    return False


CONSTANT = ("STUDYID", "DOMAIN", "RDOMAIN")  # key variables of one value throughout a dataset


def subjects_first(specs: Specs) -> bool:
    """Whether every dataset of subjects (SDTM and ADaM) sorts by USUBJID before any key that varies: then blocks
    in USUBJID order, each in key order, are the dataset in key order."""
    for spec in [*specs.sdtm.values(), *specs.adam.values()]:
        if "USUBJID" in spec.names and not set(spec.keys[: spec.keys.index("USUBJID")]) <= set(CONSTANT):
            return False
    return True


@dataclass(frozen=True)
class Subjects:
    """A raw file's subjects: its distinct USUBJIDs and, for each valid row, the position of its USUBJID there."""

    ids: np.ndarray  # object: the distinct USUBJIDs
    codes: np.ndarray  # per row


def _subject_ids(valid: Mapping[str, Rows], specs: Specs) -> dict[str, Subjects | None]:
    """Per raw file, the subject of each valid row, from its contract's columns of role SITEID and SUBJID (None for a
    file without them): each distinct combination made a USUBJID once, not a string per row."""
    out: dict[str, Subjects | None] = {}
    for name, frame in valid.items():
        columns = specs.raw[name].subject_columns
        if not columns:
            out[name] = None
            continue
        distinct = distinct_rows(frame, list(columns))
        ids = subject_ids(distinct.rows.reset_index(drop=True), columns, specs.study.studyid)
        out[name] = Subjects(ids.to_numpy(dtype=object), distinct.codes)
    return out


def _blocks_of(ids: Mapping[str, Subjects | None], size: int) -> list[list[str]]:
    subjects = sorted(set().union(*(s.ids[pd.unique(s.codes)] for s in ids.values() if s is not None)))
    return [subjects[i : i + size] for i in range(0, len(subjects), size)] or [[]]


def subject_blocks(valid: Mapping[str, Rows], specs: Specs, size: int) -> list[list[str]]:
    """The subjects of the valid rows (USUBJID) in USUBJID order, `size` to a block."""
    return _blocks_of(_subject_ids(valid, specs), size)


def _split(valid: HeldFrames, ids: dict[str, Subjects | None], blocks: list[list[str]]) -> list[HeldFrames]:
    """Each block's valid rows: per raw file the rows of the block's subjects (`ids`: each row's) in file order,
    with their lines (the frames' index); a file without subject columns whole in every block. `valid` is emptied
    file by file as its rows are split (its rows are held once); held rows stay held."""
    index = pd.Index([s for block in blocks for s in block])
    number = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
    out: list[HeldFrames] = [{} for _ in blocks]
    for name in list(valid):
        frame, subjects = valid.pop(name), ids.pop(name)
        if subjects is None or len(blocks) == 1:
            for part in out:
                part[name] = frame
            continue
        block = number[index.get_indexer(subjects.ids)][subjects.codes]
        order = np.argsort(block, kind="stable")
        bounds = np.searchsorted(block[order], np.arange(1, len(blocks)))
        pieces = np.split(order, bounds)
        taken = [frame.take(rows) for rows in pieces] if isinstance(frame, Held) else _taken(frame, pieces)
        del frame
        for part, frame_of_block in zip(out, taken, strict=True):
            part[name] = frame_of_block
    return out


def _taken(frame: pd.DataFrame, pieces: list[np.ndarray]) -> list[pd.DataFrame]:
    """frame.take(rows) for each `rows` of `pieces`, a column at a time, each column of `frame` let go once taken:
    the file's rows are held about once, not twice, while they are split."""
    columns: list[dict[str, Any]] = [{} for _ in pieces]
    labels = [frame.index.take(rows) for rows in pieces]
    names = list(frame.columns)
    for name in names:
        values = frame[name].array
        for taken, rows in zip(columns, pieces, strict=True):
            taken[name] = values.take(rows)
        del values, frame[name]
    return [pd.DataFrame(c, index=i, columns=names, copy=False) for c, i in zip(columns, labels, strict=True)]


def as_frames(valid: HeldFrames) -> Frames:
    """The rows of every file as frames, those held compact read back (a file at a time, each let go as read)."""
    for name in list(valid):
        valid[name] = held_frame(valid[name])
    return valid  # type: ignore[return-value]


def derive_block(block: HeldFrames, specs: Specs, facts: Mapping[str, Any], kept: list[str]) -> tuple[Frames, Frames]:
    """One block's subject-level SDTM datasets and its ADaM datasets (`kept`: the raw files ADaM reads), from its
    rows (held ones read back first). `block` is used up."""
    block = as_frames(block)
    keep = {name: block[name] for name in kept if name in block}
    sdtm = derive_datasets(block, specs, facts, consume=True)
    analysis = derive_analysis(sdtm, specs, facts, keep)
    study = study_level(specs)
    return {d: f for d, f in sdtm.items() if d not in study}, analysis


def _derived(
    blocks: list[HeldFrames], specs: Specs, facts: Mapping[str, Any], kept: list[str], workers: int
) -> Iterator[tuple[Frames, Frames]]:
    """Each block's datasets, in block order; with several workers, derived in as many processes, at most two
    blocks per worker on the way at a time. Each block's rows go once it is derived (or handed to a worker)."""
    blocks.reverse()  # popped from the end: the first block first
    if workers <= 1:
        while blocks:
            yield derive_block(blocks.pop(), specs, facts, kept)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: list[Future] = []
        try:
            while blocks:
                pending.append(pool.submit(derive_block, blocks.pop(), specs, facts, kept))
                while len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()


class _Columns(Mapping[str, Mapping[str, pd.Series]]):
    """Per dataset, its variables (no trace columns), as the study-level datasets read them: taken from a dataset
    when one first asks for it (a spilled one read then, and the spill's copy let go) and kept while they are
    derived."""

    def __init__(self, datasets: Mapping[str, pd.DataFrame]) -> None:
        self._datasets = datasets
        self._read: dict[str, dict[str, pd.Series]] = {}

    def __getitem__(self, domain: str) -> Mapping[str, pd.Series]:
        if domain not in self._read:
            frame = self._datasets[domain]
            self._read[domain] = {c: frame[c] for c in frame.columns if c not in TRACE}
            if isinstance(self._datasets, Spilled):
                self._datasets.forget()
        return self._read[domain]

    def __iter__(self) -> Iterator[str]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)


def _study_level(subjects: Mapping[str, Mapping[str, pd.Series]], specs: Specs, facts: Mapping[str, Any]) -> Frames:
    return derive_study_level(subjects, replace(specs, sdtm={d: specs.sdtm[d] for d in study_level(specs)}), facts)


def derive_in_blocks(
    valid: HeldFrames,
    specs: Specs,
    facts: Mapping[str, Any],
    kept: list[str],
    size: int | None,
    workers: int = 1,
    spill: Path | None = None,
) -> tuple[Mapping[str, pd.DataFrame], Mapping[str, pd.DataFrame]]:
    """The SDTM and ADaM datasets of the valid rows, derived `size` subjects at a time (None: all at once) in
    `workers` processes: the same frames as one block of every subject. `valid` is used up (emptied as it is split
    into blocks, each frame's columns taken away as they are split, each block's rows going once it is derived);
    the raw files of `kept` are read by ADaM.

    With a `spill` folder (new, empty or absent), each block's frames go there as soon as the block is derived and
    the datasets are given back as `Spilled` mappings, read from it one at a time when asked for; else they are put
    together in memory."""
    if size is None or analysis_reads_study_level(specs) or not subjects_first(specs):  # blocks would differ
        size = ALL
    ids = _subject_ids(valid, specs)
    subjects = _blocks_of(ids, size)
    if len(subjects) == 1 and workers <= 1:  # one block: derived as a whole, nothing to put together
        valid = as_frames(valid)
        keep = {name: valid[name] for name in kept if name in valid}
        datasets = derive_datasets(valid, specs, facts, consume=True)
        return datasets, derive_analysis(datasets, specs, facts, keep)
    blocks = _split(valid, ids, subjects)
    del ids
    if spill is not None:
        return _spilled(blocks, specs, facts, kept, workers, spill)
    sdtm: dict[str, list[pd.DataFrame]] = {}
    analysis: dict[str, list[pd.DataFrame]] = {}
    for block_sdtm, block_analysis in _derived(blocks, specs, facts, kept, workers):
        for d, frame in block_sdtm.items():
            sdtm.setdefault(d, []).append(frame)
        for d, frame in block_analysis.items():
            analysis.setdefault(d, []).append(frame)
    done = {d: stacked(sdtm.pop(d)) for d in list(sdtm)}  # one dataset's parts at a time held twice
    study = _study_level(_Columns(done), specs, facts)
    datasets = {d: done[d] if d in done else study[d] for d in specs.sdtm}
    return datasets, {d: stacked(analysis.pop(d)) for d in list(analysis)}


def _spilled(
    blocks: list[HeldFrames], specs: Specs, facts: Mapping[str, Any], kept: list[str], workers: int, folder: Path
) -> tuple[Spilled, Spilled]:
    def facts_of(specs_of: Mapping[str, DomainSpec]) -> Callable[[str, pd.DataFrame], tuple[dict[str, int], list]]:
        return lambda d, frame: (xpt_lengths(frame, specs_of[d]), whole_columns(frame, specs_of[d]))

    sdtm, analysis = Spill(folder / "sdtm", facts_of(specs.sdtm)), Spill(folder / "adam", facts_of(specs.adam))
    for block_sdtm, block_analysis in _derived(blocks, specs, facts, kept, workers):
        sdtm.add(block_sdtm)
        analysis.add(block_analysis)
        del block_sdtm, block_analysis
    study = _study_level(_Columns(Spilled(sdtm)), specs, facts)
    return Spilled(sdtm, study, order=list(specs.sdtm)), Spilled(analysis)

"""The datasets derived in blocks of subjects: the valid raw rows split by subject in USUBJID order, each block's
SDTM and ADaM datasets derived on its own (in this process or in worker processes), and the blocks' frames put
together so that every dataset is the one a single block gives, whatever the block size.

What needs the whole study is worked out once, outside the blocks: the data cut and the data-as-of date (the run's
`facts`), the eligibility rules (on all valid rows, before), and the study-level datasets (TA, TE, TV, TI, TS: no
USUBJID), derived after the blocks from the assembled datasets they read (TS's ACTSUB counts DM's subjects). Every
other dataset is a subject's rows in key order, and its keys start with USUBJID (after STUDYID, and RDOMAIN for a
SUPP--), so blocks in USUBJID order, each in key order, are the dataset in key order; --SEQ counts within a subject.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd

from flows.kernel.keys import subject_ids
from flows.mapping.engine import derive_analysis, derive_datasets, derive_study_level
from flows.mapping.plan import plan_domain
from flows.spec.model import Specs
from flows.spec.sdtm_schema import TRACE

Frames = dict[str, pd.DataFrame]
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


def _subject_ids(valid: Mapping[str, pd.DataFrame], specs: Specs) -> dict[str, np.ndarray | None]:
    """Per raw file, the USUBJID of each valid row, from its contract's columns of role SITEID and SUBJID (None
    for a file without them)."""
    out: dict[str, np.ndarray | None] = {}
    for name, frame in valid.items():
        columns = specs.raw[name].subject_columns
        out[name] = subject_ids(frame, columns, specs.study.studyid).to_numpy(dtype=object) if columns else None
    return out


def _blocks_of(ids: Mapping[str, np.ndarray | None], size: int) -> list[list[str]]:
    subjects = sorted(set().union(*(pd.unique(i) for i in ids.values() if i is not None and len(i))))
    return [subjects[i : i + size] for i in range(0, len(subjects), size)] or [[]]


def subject_blocks(valid: Mapping[str, pd.DataFrame], specs: Specs, size: int) -> list[list[str]]:
    """The subjects of the valid rows (USUBJID) in USUBJID order, `size` to a block."""
    return _blocks_of(_subject_ids(valid, specs), size)


def _split(valid: Frames, specs: Specs, size: int) -> list[Frames]:
    """Each block's valid rows: per raw file the rows of the block's subjects in file order, with their lines (the
    frames' index); a file without subject columns whole in every block. `valid` is emptied file by file as its
    rows are split (its rows are held once)."""
    ids = _subject_ids(valid, specs)
    blocks = _blocks_of(ids, size)
    index = pd.Index([s for block in blocks for s in block])
    number = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
    out: list[Frames] = [{} for _ in blocks]
    for name in list(valid):
        frame, subject = valid.pop(name), ids.pop(name)
        if subject is None or len(blocks) == 1:
            for part in out:
                part[name] = frame
            continue
        block = number[index.get_indexer(subject)]
        order = np.argsort(block, kind="stable")
        bounds = np.searchsorted(block[order], np.arange(1, len(blocks)))
        for part, rows in zip(out, np.split(order, bounds), strict=True):
            part[name] = frame.take(rows)
    return out


def derive_block(block: Frames, specs: Specs, facts: Mapping[str, Any], kept: list[str]) -> tuple[Frames, Frames]:
    """One block's subject-level SDTM datasets and its ADaM datasets (`kept`: the raw files ADaM reads). `block`
    is used up."""
    keep = {name: block[name] for name in kept if name in block}
    sdtm = derive_datasets(block, specs, facts, consume=True)
    analysis = derive_analysis(sdtm, specs, facts, keep)
    study = study_level(specs)
    return {d: f for d, f in sdtm.items() if d not in study}, analysis


def _stacked(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The blocks' frames of one dataset, one after the other (a block without rows adds nothing)."""
    full = [p for p in parts if len(p)]
    if len(full) == 1:
        return full[0]
    return pd.concat(full, ignore_index=True) if full else parts[0]


def _derived(
    valid: Frames, specs: Specs, facts: Mapping[str, Any], kept: list[str], size: int, workers: int
) -> Iterator[tuple[Frames, Frames]]:
    """Each block's datasets, in block order; with several workers, derived in as many processes, at most two
    blocks per worker on the way at a time. Each block's rows go once it is derived (or handed to a worker)."""
    blocks = _split(valid, specs, size)
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


def derive_in_blocks(
    valid: Frames, specs: Specs, facts: Mapping[str, Any], kept: list[str], size: int | None, workers: int = 1
) -> tuple[Frames, Frames]:
    """The SDTM and ADaM datasets of the valid rows, derived `size` subjects at a time (None: all at once) in
    `workers` processes: the same frames as one block of every subject. `valid` is used up (emptied as it is split
    into blocks, each block's rows going once it is derived); the raw files of `kept` are read by ADaM."""
    if size is None or analysis_reads_study_level(specs) or not subjects_first(specs):  # blocks would differ
        size = ALL
    sdtm: dict[str, list[pd.DataFrame]] = {}
    analysis: dict[str, list[pd.DataFrame]] = {}
    for block_sdtm, block_analysis in _derived(valid, specs, facts, kept, size, workers):
        for d, frame in block_sdtm.items():
            sdtm.setdefault(d, []).append(frame)
        for d, frame in block_analysis.items():
            analysis.setdefault(d, []).append(frame)
    subjects = {d: _stacked(sdtm.pop(d)) for d in list(sdtm)}  # one dataset's parts at a time held twice
    given = {d: {c: f[c] for c in f.columns if c not in TRACE} for d, f in subjects.items()}
    study = derive_study_level(given, replace(specs, sdtm={d: specs.sdtm[d] for d in study_level(specs)}), facts)
    datasets = {d: subjects[d] if d in subjects else study[d] for d in specs.sdtm}
    return datasets, {d: _stacked(analysis.pop(d)) for d in list(analysis)}

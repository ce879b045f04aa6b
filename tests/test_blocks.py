"""Tests of flows/run/blocks.py: the datasets derived in blocks of subjects, in one process or several, are the
datasets of one block; every file of the transfer is byte for byte the same whatever the block size and workers
(the sample, a second study and a synthesized 1,000-subject study)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from flows.mapping.load import load_specs
from flows.mapping.plan import analysis_raw_reads
from flows.raw.validate import validate_raw
from flows.run.blocks import (
    analysis_reads_study_level,
    derive_in_blocks,
    study_level,
    subject_blocks,
    subjects_first,
)
from flows.run.pipeline import read_inputs, run_export
from flows.run.spill import Spilled
from tests.conftest import RAW, ROOT, STUDYID, run_cli

VARY = ("manifest.json", "SHA256SUMS")  # the run's time and stamp: they differ between any two runs, as the zip
PBO = ROOT / "tests" / "studies" / "PBO-2201"


def _files(transfer: Path) -> dict[str, bytes]:
    """Every file of a transfer by its path in it, but those that differ between two runs of the same data."""
    return {
        p.relative_to(transfer).as_posix(): p.read_bytes()
        for p in sorted(transfer.rglob("*"))
        if p.is_file() and p.name not in VARY and ".zip" not in p.name  # the zip and its .zip.sha256
    }


def _assert_same(transfer: Path, reference: Path) -> None:
    got, want = _files(transfer), _files(reference)
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []  # the files that differ: none


@pytest.fixture(scope="session")
def valid(specs):
    return validate_raw(read_inputs(RAW, specs), specs).valid


def test_subjects_in_usubjid_order_size_to_a_block(valid, specs):
    blocks = subject_blocks(valid, specs, 7)
    assert [len(b) for b in blocks] == [7, 7, 7, 7, 6]  # the sample's 34 screened subjects
    every = [s for b in blocks for s in b]
    assert every == sorted(every) and len(set(every)) == 34
    assert every[0] == f"{STUDYID}-01-0001"


def test_a_study_without_rows_is_one_empty_block(valid, specs):
    empty = {name: frame.iloc[:0] for name, frame in valid.items()}
    assert subject_blocks(empty, specs, 7) == [[]]


@pytest.mark.parametrize(
    ("specs_dir", "study", "analysis"),
    [
        (ROOT / "specs", ["TA", "TE", "TI", "TS", "TV"], False),  # the trial design datasets have no USUBJID
        (PBO / "specs", ["TI", "TS"], False),
    ],
)
def test_study_level_datasets(specs_dir, study, analysis):
    specs = load_specs(specs_dir)
    assert sorted(study_level(specs)) == study
    assert analysis_reads_study_level(specs) is analysis
    assert subjects_first(specs)  # every dataset of subjects sorts by USUBJID first (after STUDYID, RDOMAIN)


def test_blocks_put_together_in_memory_are_those_kept_on_disk(valid, specs, tmp_path):
    """Without a spill folder the blocks' frames are put together in memory: every dataset, SDTM and ADaM, the same
    frame as read back from the spill, and both of 7-subject blocks."""
    facts = {"cutoff": None, "data_as_of": "2026-10-31"}
    reads = sorted(analysis_raw_reads(specs))

    def rows():  # each call its own frames: splitting takes a frame's columns away
        return {name: frame.copy(deep=False) for name, frame in valid.items()}

    in_memory = derive_in_blocks(rows(), specs, facts, reads, 7)
    on_disk = derive_in_blocks(rows(), specs, facts, reads, 7, spill=tmp_path / "spill")
    assert isinstance(on_disk[0], Spilled) and (tmp_path / "spill").is_dir()
    for memory, disk in zip(in_memory, on_disk, strict=True):
        assert list(memory) == list(disk)
        for domain in memory:
            pd.testing.assert_frame_equal(disk[domain], memory[domain], check_exact=True)


def test_a_dataset_sorted_by_another_key_before_usubjid_is_not_blockable(specs):
    vs = specs.sdtm["VS"]
    moved = replace(vs, keys=("STUDYID", "VSTESTCD", "USUBJID", "VISITNUM"))  # all subjects' heights first
    assert not subjects_first(replace(specs, sdtm={**specs.sdtm, "VS": moved}))


@pytest.mark.parametrize(("block_size", "workers"), [(1, 1), (7, 1), (7, 2), (None, 2)])
def test_sample_in_blocks_is_byte_identical(block_size, workers, sample_export, specs, tmp_path):
    result = run_export(RAW, tmp_path, specs, block_size=block_size, workers=workers)
    assert result.exit_code == 0, result.message
    _assert_same(result.transfer, sample_export[1])
    assert result.counts == sample_export[0].counts
    left = sorted(p.name for p in (tmp_path / STUDYID).iterdir())
    assert left == sorted([result.transfer.name, "latest"])  # the blocks' spill folder is gone


def test_blocks_read_back_in_small_batches_are_byte_identical(sample_export, specs, tmp_path, monkeypatch):
    """The writers read a spilled block a batch of rows at a time (run/spill.BATCH): batches of 3 rows, far smaller
    than the blocks, write the same files."""
    from flows.run import spill

    monkeypatch.setattr(spill, "BATCH", 3)
    result = run_export(RAW, tmp_path, specs, block_size=7)
    assert result.exit_code == 0, result.message
    _assert_same(result.transfer, sample_export[1])


def test_a_failed_write_leaves_no_spill_behind(specs, tmp_path, monkeypatch):
    """The blocks wait on disk between derive and write: a run that fails on the way removes them with the rest."""
    from flows.run import pipeline

    seen = []

    def failing(prepared, *args, **kwargs):
        seen.append(sorted(p.name for p in (tmp_path / STUDYID).iterdir()))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "stage_transfer", failing)
    result = run_export(RAW, tmp_path, specs, block_size=7)
    assert result.exit_code == 2 and "No space left on device" in result.message
    assert len(seen) == 1 and any(name.endswith("-blocks") for name in seen[0])  # the spill was there
    assert not (tmp_path / STUDYID).exists() or list((tmp_path / STUDYID).iterdir()) == []


def test_a_data_cut_in_blocks_is_byte_identical(specs, tmp_path):
    # the cut and the data-as-of date are the whole study's: planned visits missed by the cut, TS's DCUTDTC
    whole = run_export(RAW, tmp_path / "whole", specs, cutoff="2025-09-05")
    blocks = run_export(RAW, tmp_path / "blocks", specs, cutoff="2025-09-05", block_size=5)
    assert (whole.exit_code, blocks.exit_code) == (0, 0), (whole.message, blocks.message)
    _assert_same(blocks.transfer, whole.transfer)


def test_second_study_in_blocks_is_byte_identical(tmp_path):
    specs = load_specs(PBO / "specs")
    whole = run_export(PBO / "raw", tmp_path / "whole", specs)
    blocks = run_export(PBO / "raw", tmp_path / "blocks", specs, block_size=3)
    assert (whole.exit_code, blocks.exit_code) == (0, 0), (whole.message, blocks.message)
    _assert_same(blocks.transfer, whole.transfer)


@pytest.fixture(scope="session")
def thousand(tmp_path_factory) -> tuple[Path, Path]:
    """A synthesized 1,000-subject study (the bench's seed) and its transfer derived in one block."""
    root = tmp_path_factory.mktemp("thousand")
    made = run_cli("synth", "--subjects", "1000", "--seed", "20250321", "--out", str(root / "raw"))
    assert made.returncode == 0, made.stderr
    result = run_export(root / "raw", root / "whole", load_specs())
    assert result.exit_code == 0, result.message
    return root / "raw", result.transfer


def test_thousand_subjects_in_blocks_of_seven_on_two_workers(thousand, specs, tmp_path):
    raw, reference = thousand
    result = run_export(raw, tmp_path, specs, block_size=7, workers=2)
    assert result.exit_code == 0, result.message
    _assert_same(result.transfer, reference)
    dm = pd.read_parquet(result.transfer / "parquet" / "dm.parquet")
    assert len(dm) == 1000 and dm["USUBJID"].is_monotonic_increasing


def test_cli_takes_block_size_and_workers(tmp_path, sample_export):
    proc = run_cli("export", "--out", str(tmp_path), "--quiet", "--block-size", "17", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    _assert_same(max((tmp_path / STUDYID).glob("2*")), sample_export[1])


@pytest.mark.parametrize("option", ["--block-size", "--workers"])
def test_cli_refuses_a_block_size_or_workers_below_one(option, tmp_path):
    proc = run_cli("export", "--out", str(tmp_path), option, "0")
    assert proc.returncode == 2
    assert "must be at least 1: 0" in proc.stderr

"""Shared fixtures: the loaded specs, the sample raw exports copied per test, and one sample export per session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.mapping.load import load_specs
from flows.run.pipeline import run_export

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "raw"


def bench_script(name: str):
    """bench/<name>.py as a module, loaded once (bench/ is a folder of scripts, not a package)."""
    if (module := sys.modules.get(f"bench_{name}")) is not None:
        return module
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STUDYID = "CART-20250321"


@pytest.fixture(scope="session")
def specs():
    return load_specs()


@pytest.fixture
def raw_copy(tmp_path: Path) -> Path:
    """A private copy of the sample raw exports that a test may break."""
    target = tmp_path / "raw"
    shutil.copytree(RAW, target)
    return target


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory, specs):
    """The sample exported once per session with the pure core: (result, transfer folder)."""
    out = tmp_path_factory.mktemp("export")
    result = run_export(RAW, out, specs)
    assert result.exit_code == 0, result.message
    return result, result.transfer


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m flows ...` as a user runs it, without any Prefect server configured."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return subprocess.run(
        [sys.executable, "-m", "flows", *args], capture_output=True, text=True, cwd=ROOT, env={**base, **(env or {})}
    )


def in_chunks(col):
    """An Arrow-backed text column held in several chunks, as pandas keeps columns built from concatenated parts."""
    import pandas as pd
    import pyarrow as pa

    data = pa.chunked_array(pa.array(col.array)).combine_chunks()
    half = len(data) // 2
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([data[:half], data[half:]])), index=col.index)


def row_chunks(frame, sizes):
    """The frame's rows in consecutive chunks of `sizes` (taken in turn until every row is in one; a 0 is an empty
    chunk), as a run derives a dataset in blocks of subjects; the frame itself when it has no rows."""
    chunks, start, turn = [], 0, 0
    while start < len(frame):
        size = sizes[turn % len(sizes)]
        chunks.append(frame.iloc[start : start + size])
        start, turn = start + size, turn + 1
    return chunks or [frame]


SPLITS = {  # how the chunk tests split a dataset's rows: sizes in turn, and how many of its first rows are taken
    "rows of 1": ((1,), 30),
    "rows of 7": ((7,), 300),
    "uneven, empty ones among them": ((0, 3, 1, 0, 11, 2, 29, 0), 300),
}


def sample_split(frame, split):
    """The first rows of a sample dataset (SPLITS: a chunk costs a few milliseconds) and their chunks."""
    sizes, rows = SPLITS[split]
    frame = frame.iloc[:rows]
    return frame, row_chunks(frame, sizes)


@pytest.fixture(scope="session")
def sample_written(specs):
    """The sample's datasets (SDTM and ADaM) as every format writes them, their specs and the transfer's context,
    as pipeline.write_outputs makes them: (frames, spec by domain, WriteContext)."""
    from flows.run.pipeline import prepare, read_inputs, validate_raw
    from flows.spec.sdtm_schema import TRACE
    from flows.transfer.num_type import AsWritten
    from flows.transfer.writers.context import WriteContext
    from flows.transfer.writers.xpt import xpt_lengths

    raw = read_inputs(RAW, specs)
    prepared = prepare(raw, validate_raw(raw, specs), specs)
    spec_of = {**specs.sdtm, **specs.adam}
    written = [AsWritten(prepared.datasets, specs.sdtm, without=TRACE), AsWritten(prepared.analysis, specs.adam)]
    frames = {domain: datasets[domain] for datasets in written for domain in datasets}
    both = {**prepared.datasets, **prepared.analysis}
    lengths = {domain: xpt_lengths(frame, spec_of[domain]) for domain, frame in both.items()}
    ig_version = str(specs.study.data["sdtm"]["ig_version"])
    return frames, spec_of, WriteContext(specs.study.studyid, prepared.created, lengths, ig_version)


def mixed_dataset():
    """Six rows of every kind of column, split so that one chunk holds only missing values of XXVAL, a float column
    of numbers that are not whole (a chunk's values would call it integer, its dtype says double), and one chunk is
    empty: (frame, spec, chunks)."""
    import numpy as np
    import pandas as pd

    from flows.spec.model import DomainSpec, Variable

    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series([f"S-{i}" for i in range(1, 7)], dtype="str"),
            "XXTEXT": pd.Series(['say "hi"', None, "a,b", "", "line\nbreak", "=1+2"], dtype="str"),
            "XXDTC": pd.Series(["2025-01-01", None, "2025-02", "2025", "2025-01-01T10:00", ""], dtype="str"),
            "XXSEQ": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
            "XXVAL": [1.5, np.nan, np.nan, 2.25, np.nan, -0.0],
        }
    )
    variables = tuple(
        Variable(c, f"Label of {c}", "Num" if c in ("XXSEQ", "XXVAL") else "Char", 200, "Perm", "", "") for c in frame
    )
    spec = DomainSpec("XX", "Example", "", "", ("USUBJID", "XXSEQ"), "XXSEQ", variables, Path("xx.yaml"))
    return frame, spec, [frame.iloc[:1], frame.iloc[1:3], frame.iloc[3:3], frame.iloc[3:]]


def same_in_chunks(write_whole, appender, frame, chunks, spec, ctx, folder, ext: str) -> bytes:
    """The bytes `appender` writes of the chunks, checked equal to those `write_whole` writes of the whole frame."""
    write_whole(frame, spec, folder / f"whole.{ext}", ctx)
    got = write_in_chunks(appender, chunks, spec, folder / f"chunks.{ext}", ctx)
    assert got == (folder / f"whole.{ext}").read_bytes(), spec.domain
    return got


def sample_in_chunks(sample_written, split, write_whole, appender, folder, ext: str) -> None:
    """Every sample dataset (SDTM and ADaM) split by `split` (SPLITS) written in chunks: the whole file's bytes."""
    frames, spec_of, ctx = sample_written
    for domain, whole in frames.items():
        frame, chunks = sample_split(whole, split)
        same_in_chunks(write_whole, appender, frame, chunks, spec_of[domain], ctx, folder, ext)


def write_in_chunks(writer, chunks, spec, path, ctx) -> bytes:
    """The bytes an appender (a class of writers.WRITERS) writes of the chunks, one after another."""
    with writer(path, spec, ctx, sum(len(chunk) for chunk in chunks)) as out:
        for chunk in chunks:
            out.write(chunk)
    return path.read_bytes()

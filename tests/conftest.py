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

"""Makefile: an unsupported or missing Python stops `make` in one line, before pip starts resolving."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")

OLD_PYTHON = f"""#!/bin/sh
# a Python 3.9 as far as version checks go
if [ "$1" = "-c" ]; then
  exec {sys.executable} -c "import sys; sys.version_info = (3, 9, 18); exec(sys.argv[1])" "$2"
fi
exec {sys.executable} "$@"
"""


def make(tmp_path, python: str) -> subprocess.CompletedProcess:
    ready = tmp_path / "ready"  # never the real .venv: the check comes before anything is created
    return subprocess.run(
        ["make", "--no-print-directory", "install", f"PYTHON={python}", f"READY={ready}", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_old_python_fails_in_one_line(tmp_path):
    fake = tmp_path / "python3.9"
    fake.write_text(OLD_PYTHON)
    fake.chmod(0o755)
    proc = make(tmp_path, str(fake))
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[0] == f"error: Python 3.11+ needed, {fake} is 3.9 (make PYTHON=python3.11 ...)"
    assert not (tmp_path / "venv").exists()


def test_missing_python_fails_in_one_line(tmp_path):
    proc = make(tmp_path, "no-such-python")
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[0] == "error: no-such-python not found; Python 3.11+ needed (make PYTHON=...)"

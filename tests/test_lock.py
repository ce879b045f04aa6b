"""Tests of flows/run/lock.py: one export per study at a time; a lock dies with its process, whatever its pid."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.run import lock
from flows.run.lock import EXIT_LOCKED, LOCK_NAME, LockedError, acquire, held_by, release, study_lock
from flows.run.pipeline import run_export
from tests.conftest import RAW, ROOT, run_cli

HERE = socket.gethostname()

HOLD = """
import sys, time
from pathlib import Path
from flows.run.lock import acquire
acquire(Path(sys.argv[1]), "CART-X")
print("held", flush=True)
time.sleep(600)
"""


def holding_process(study_dir: Path) -> subprocess.Popen:
    """Another process that takes the study's lock and keeps it until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(study_dir)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def write_lock(study_dir: Path, pid: int, host: str = HERE) -> None:
    """A lock file as a run that was killed leaves it: its content names a pid, nobody holds it."""
    study_dir.mkdir(parents=True, exist_ok=True)
    info = {"study": "S", "pid": pid, "host": host, "started": datetime.now(UTC).isoformat()}
    (study_dir / LOCK_NAME).write_text(json.dumps(info))


def test_second_lock_fails_with_exit_3_and_who_holds_it(tmp_path):
    proc = holding_process(tmp_path)
    try:
        with pytest.raises(LockedError) as err:
            acquire(tmp_path, "CART-X")
        assert err.value.exit_code == EXIT_LOCKED == 3
        assert str(err.value).startswith("another export of CART-X is running since ")
        assert f"(pid {proc.pid} on {HERE})" in str(err.value)
        assert held_by(tmp_path / LOCK_NAME).pid == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_the_same_process_cannot_take_its_lock_twice(tmp_path):
    with study_lock(tmp_path, "CART-X"), pytest.raises(LockedError):
        acquire(tmp_path, "CART-X")
    assert [p.name for p in tmp_path.iterdir()] == []  # released and removed, nothing else left


def test_a_killed_holder_releases_the_lock(tmp_path):
    proc = holding_process(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / LOCK_NAME).exists() and held_by(tmp_path / LOCK_NAME) is None  # left behind, not held
    with study_lock(tmp_path, "CART-X"):
        assert held_by(tmp_path / LOCK_NAME).pid == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_reused_pid_does_not_block(tmp_path):
    """The dead run's pid now belongs to an unrelated live process (here: this one, and pid 1)."""
    for pid in (os.getpid(), 1):
        write_lock(tmp_path, pid)
        release(acquire(tmp_path, "CART-X"))
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_file_being_written_is_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held, its content not written yet
        with pytest.raises(LockedError, match="lock file not written yet"):
            acquire(tmp_path, "CART-X")
    finally:
        os.close(fd)


def test_full_disk_leaves_no_lock_file(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock, "_write", full)
    with pytest.raises(OSError):
        acquire(tmp_path, "CART-X")
    assert [p.name for p in tmp_path.iterdir()] == []


def test_export_while_locked_exits_3_and_writes_nothing(specs, tmp_path):
    study_dir = tmp_path / specs.study.studyid
    with study_lock(study_dir, specs.study.studyid):
        result = run_export(RAW, tmp_path, specs)
        assert result.exit_code == 3 and result.transfer is None
        assert result.message.startswith(f"another export of {specs.study.studyid} is running since ")
        proc = run_cli("export", "--raw", str(RAW), "--out", str(tmp_path))  # the one-off CLI, no server
        assert proc.returncode == 3 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith(f"another export of {specs.study.studyid} is running since ")
    assert [p.name for p in study_dir.iterdir()] == []


def test_export_after_a_crash_publishes_and_sweeps_its_leftovers(specs, tmp_path):
    study_dir = tmp_path / specs.study.studyid
    write_lock(study_dir, os.getpid())  # the killed run's pid, reused by a live process
    (study_dir / ".staging-20261125T000000Z-1").mkdir()  # what the crashed run was writing
    result = run_export(RAW, tmp_path, specs)
    assert result.exit_code == 0, result.message
    assert sorted(p.name for p in study_dir.iterdir()) == sorted([result.transfer.name, "latest"])

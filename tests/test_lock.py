"""Tests of flows/run/lock.py: one export per study at a time, and a crashed run's lock never blocks the next."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.run.lock import EXIT_LOCKED, LOCK_NAME, Holder, LockedError, acquire, read_holder, release, study_lock
from flows.run.pipeline import run_export
from tests.conftest import RAW, run_cli

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(study_dir: Path, pid: int, host: str, started: datetime) -> None:
    study_dir.mkdir(parents=True, exist_ok=True)
    info = {"study": "S", "pid": pid, "host": host, "started": started.isoformat()}
    (study_dir / LOCK_NAME).write_text(json.dumps(info))


HERE = socket.gethostname()


@pytest.mark.parametrize(
    ("pid", "host", "age", "stale"),
    [
        ("self", HERE, timedelta(minutes=5), False),  # running here
        ("dead", HERE, timedelta(minutes=5), True),  # crashed here
        ("self", HERE, timedelta(hours=7), True),  # alive but older than MAX_AGE: hung
        ("dead", "elsewhere", timedelta(minutes=5), False),  # another host: its pid cannot be checked
        ("dead", "elsewhere", timedelta(hours=7), True),  # another host, too old
    ],
)
def test_stale_when_dead_here_or_too_old(pid, host, age, stale):
    holder = Holder(os.getpid() if pid == "self" else dead_pid(), host, NOW - age)
    assert holder.stale(NOW) is stale


def test_second_lock_fails_with_exit_3_and_who_holds_it(tmp_path):
    with study_lock(tmp_path, "CART-X"):
        with pytest.raises(LockedError) as err:
            acquire(tmp_path, "CART-X")
        assert err.value.exit_code == EXIT_LOCKED == 3
        assert str(err.value).startswith("another export of CART-X is running since ")
        assert f"(pid {os.getpid()} on {HERE})" in str(err.value)
    assert not (tmp_path / LOCK_NAME).exists()  # released
    assert [p.name for p in tmp_path.iterdir()] == []  # and nothing else left


def test_lock_of_a_crashed_run_is_taken_over(tmp_path):
    write_lock(tmp_path, dead_pid(), HERE, datetime.now(UTC))
    with study_lock(tmp_path, "CART-X"):
        holder, _ = read_holder(tmp_path / LOCK_NAME)
        assert holder.pid == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_unreadable_lock_is_respected_briefly_then_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")  # being written, or left half-written by a crash
    with pytest.raises(LockedError):
        acquire(tmp_path, "CART-X")
    old = (NOW - timedelta(minutes=5)).timestamp()
    os.utime(tmp_path / LOCK_NAME, (old, old))
    release(tmp_path, acquire(tmp_path, "CART-X"))


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    mine = acquire(tmp_path, "CART-X")
    write_lock(tmp_path, os.getpid(), "elsewhere", datetime.now(UTC))  # taken over meanwhile
    release(tmp_path, mine)
    assert read_holder(tmp_path / LOCK_NAME)[0].host == "elsewhere"


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
    write_lock(study_dir, dead_pid(), HERE, datetime.now(UTC))
    (study_dir / ".staging-20261125T000000Z-1").mkdir()  # what the crashed run was writing
    result = run_export(RAW, tmp_path, specs)
    assert result.exit_code == 0, result.message
    assert sorted(p.name for p in study_dir.iterdir()) == sorted([result.transfer.name, "latest"])

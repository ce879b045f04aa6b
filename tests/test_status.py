"""Tests of flows/schedule/status.py (the part without a server): the latest transfer and an export in progress."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime

from flows.run.lock import LOCK_NAME
from flows.schedule.status import transfer_lines


def test_latest_transfer_with_its_fingerprint_and_a_running_export(tmp_path):
    assert transfer_lines(tmp_path) == [f"latest transfer: none in {tmp_path}"]
    (tmp_path / "T1").mkdir()
    manifest = {"run_at": "2026-11-25T18:00:03+00:00", "rejects": {"records": 2}, "fingerprint": "sha256:ab"}
    (tmp_path / "T1" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "latest").symlink_to("T1")
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime(2026, 11, 25, tzinfo=UTC).isoformat()}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    lines = transfer_lines(tmp_path)
    assert lines[0] == f"latest transfer: {tmp_path / 'T1'} (run at 2026-11-25T18:00:03+00:00, 2 reject records)"
    assert lines[1] == "  fingerprint sha256:ab"
    assert len(lines) == 2  # a lock file nobody holds (left by a killed run) is no export running
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        lines = transfer_lines(tmp_path)
    finally:
        os.close(fd)
    assert lines[2] == f"export running: since 2026-11-25T00:00:00Z (pid {os.getpid()} on {socket.gethostname()})"


def test_the_next_run_is_given_in_the_schedule_zone_then_utc():
    from flows.schedule.status import when_in

    moment = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    assert when_in(moment, "Asia/Shanghai") == "2026-12-07 02:00:00+0800 Asia/Shanghai (2026-12-06 18:00:00Z)"
    assert when_in(moment, None) == "2026-12-06 18:00:00Z"

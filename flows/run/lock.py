"""One export per study at a time: a lock file in the study's output folder naming pid, host and start time.

A lock is stale, and taken over, when its process is gone (same host) or it is older than MAX_AGE (any host),
so a crashed run never blocks the next one.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.kernel.errors import PipelineError

LOCK_NAME = ".export.lock"
MAX_AGE = timedelta(hours=6)  # an export takes seconds; a lock this old belongs to a hung or foreign run
UNREADABLE_GRACE = timedelta(seconds=30)  # a lock file that cannot be parsed is given this long to be written
EXIT_LOCKED = 3


class LockedError(PipelineError):
    """Another export of the same study holds the lock."""

    exit_code = EXIT_LOCKED


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: process id, host name and start time (UTC)."""

    pid: int | None
    host: str
    started: datetime

    def stale(self, now: datetime, max_age: timedelta = MAX_AGE) -> bool:
        if now - self.started > max_age:
            return True
        if self.pid is None:  # unreadable lock file
            return now - self.started > UNREADABLE_GRACE
        return self.host == socket.gethostname() and not pid_alive(self.pid)

    def describe(self) -> str:
        who = f"pid {self.pid} on {self.host}" if self.pid is not None else "lock file not readable yet"
        return f"{self.started.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} ({who})"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_holder(lock: Path) -> tuple[Holder, bytes] | None:
    """The holder recorded in a lock file and its raw bytes; None when there is no lock."""
    try:
        data = lock.read_bytes()
        mtime = datetime.fromtimestamp(lock.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None
    try:
        info = json.loads(data)
        return Holder(int(info["pid"]), str(info["host"]), datetime.fromisoformat(info["started"])), data
    except (ValueError, KeyError, TypeError):
        return Holder(None, "?", mtime), data


def _create(lock: Path, data: bytes) -> bool:
    """Create the lock file with its full content in one step; False when it already exists."""
    tmp = lock.with_name(f"{lock.name}.{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.write_bytes(data)  # on a full disk this fails after creating the file: removed below all the same
        os.link(tmp, lock)  # atomic and never overwrites: no reader ever sees a half-written lock
        return True
    except (FileExistsError, FileNotFoundError):  # taken, or the folder removed meanwhile by a run that ended
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _break(lock: Path, seen: bytes) -> None:
    """Remove a stale lock, unless another process replaced it since we read it."""
    grave = lock.with_name(f"{lock.name}.stale-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(lock, grave)
    except FileNotFoundError:
        return
    try:
        if grave.read_bytes() != seen:  # we moved a fresh lock aside: put it back
            with suppress(FileExistsError):
                os.link(grave, lock)
    finally:
        grave.unlink(missing_ok=True)


def acquire(study_dir: Path, studyid: str, max_age: timedelta = MAX_AGE) -> bytes:
    """Take the study's lock or raise LockedError; a stale lock is taken over. Returns what was written."""
    lock = study_dir / LOCK_NAME
    for _ in range(5):
        study_dir.mkdir(parents=True, exist_ok=True)  # again each time: a run that published nothing removes it
        now = datetime.now(UTC)
        info = {"study": studyid, "pid": os.getpid(), "host": socket.gethostname(), "started": now.isoformat()}
        data = (json.dumps(info) + "\n").encode("utf-8")
        if _create(lock, data):
            return data
        held = read_holder(lock)
        if held is None:  # released between our attempt and the read
            continue
        holder, seen = held
        if not holder.stale(now, max_age):
            raise LockedError(f"another export of {studyid} is running since {holder.describe()}")
        _break(lock, seen)
    raise LockedError(f"another export of {studyid} is starting: could not take {lock}")


def release(study_dir: Path, data: bytes) -> None:
    """Remove the lock if it is still ours (it is not when it was taken over as stale)."""
    lock = study_dir / LOCK_NAME
    held = read_holder(lock)
    if held is not None and held[1] == data:
        lock.unlink(missing_ok=True)


@contextmanager
def study_lock(study_dir: Path, studyid: str, max_age: timedelta = MAX_AGE) -> Iterator[None]:
    """Hold the study's export lock for the duration of the block."""
    data = acquire(study_dir, studyid, max_age)
    try:
        yield
    finally:
        release(study_dir, data)

"""One export per study at a time: an advisory lock (flock) on the study's `.export.lock`.

The operating system releases the lock when its process ends, however it ends (exit, SIGKILL, a crash), so a dead
run never blocks the next one and a reused process id means nothing. The file names the holder's pid, host and start
time, for the message a second run prints; a file left behind by a killed run is not held, and the next run reuses
it. A run removes the file when it releases the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flows.kernel.errors import PipelineError

LOCK_NAME = ".export.lock"
EXIT_LOCKED = 3
ATTEMPTS = 5  # a releasing run removes the file between our open and our lock: open it again


class LockedError(PipelineError):
    """Another export of the same study holds the lock."""

    exit_code = EXIT_LOCKED


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its file says: process id, host name and start time (UTC); pid None when unreadable."""

    pid: int | None
    host: str
    started: datetime | None

    def describe(self) -> str:
        if self.pid is None or self.started is None:
            return "a moment ago (lock file not written yet)"
        return f"{self.started.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} (pid {self.pid} on {self.host})"


@dataclass
class Held:
    """A lock this process holds: the open file that carries it."""

    path: Path
    fd: int


def parse_holder(data: bytes) -> Holder:
    """The holder a lock file's bytes name."""
    try:
        info = json.loads(data)
        return Holder(int(info["pid"]), str(info["host"]), datetime.fromisoformat(info["started"]))
    except (ValueError, KeyError, TypeError):
        return Holder(None, "?", None)


def _read(fd: int) -> bytes:
    return os.pread(fd, 4096, 0)


def held_by(lock: Path) -> Holder | None:
    """Who holds the lock now; None when nobody does (no file, or a file left by a run that was killed)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return parse_holder(_read(fd))
        return None
    finally:
        os.close(fd)  # also drops the shared lock taken to look


def _same_file(lock: Path, fd: int) -> bool:
    try:
        return os.stat(lock).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def acquire(study_dir: Path, studyid: str) -> Held:
    """Take the study's lock or raise LockedError naming who holds it."""
    lock = study_dir / LOCK_NAME
    for _ in range(ATTEMPTS):
        study_dir.mkdir(parents=True, exist_ok=True)  # again each time: a run that published nothing removes it
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = parse_holder(_read(fd))
            os.close(fd)
            raise LockedError(f"another export of {studyid} is running since {holder.describe()}") from None
        if not _same_file(lock, fd):  # the run that held it released and removed it meanwhile
            os.close(fd)
            continue
        info = {"study": studyid, "pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        try:
            _write(fd, (json.dumps(info) + "\n").encode("utf-8"))
        except OSError:  # e.g. a full disk: leave no lock file behind
            _drop(lock, fd)
            raise
        return Held(lock, fd)
    raise LockedError(f"another export of {studyid} is starting: could not take {lock}")


def _write(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _drop(lock: Path, fd: int) -> None:
    """Remove the file while still holding it (so no run locks a file about to vanish), then let go."""
    with suppress(FileNotFoundError):
        lock.unlink()
    os.close(fd)


def release(held: Held) -> None:
    """Remove the lock file and release the lock."""
    _drop(held.path, held.fd)


@contextmanager
def study_lock(study_dir: Path, studyid: str) -> Iterator[None]:
    """Hold the study's export lock for the duration of the block."""
    held = acquire(study_dir, studyid)
    try:
        yield
    finally:
        release(held)

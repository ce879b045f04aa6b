"""Stage progress of a run on stderr: a bar on a terminal, plain lines otherwise, nothing when quiet.

The core reports each step through `stage()`; the command line installs a Reporter for the run with `reporting()`.
Without one (tests, a scheduled Prefect run) the calls do nothing. Plain lines appear only once a run has taken
longer than LONG seconds, so a quick export prints its result and nothing else.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

LONG = 5.0  # seconds a run must have taken before plain progress lines appear
TICK = 0.2  # seconds between redraws of the bar
SPINNER = "|/-\\"


class Reporter:
    """Progress of one run's steps: `mode` is "bar" (a terminal), "plain", "verbose" (every step, timed) or "quiet"."""

    def __init__(self, mode: str, stream: TextIO | None = None, long: float = LONG) -> None:
        self.mode, self.stream, self.long = mode, stream or sys.stderr, long
        self.start = self.stage_start = time.monotonic()
        self.current: tuple[int, int, str] | None = None
        self.shown: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        if mode in ("bar", "plain"):
            self.thread = threading.Thread(target=self._tick, name="progress", daemon=True)
            self.thread.start()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must never fail the run
            pass

    def _plain(self, now: float) -> None:
        if self.current and now - self.start >= self.long and self.current[0] not in self.shown:
            i, n, name = self.current
            self.shown.add(i)
            self._write(f"[{i}/{n}] {name} ({now - self.start:.0f} s)\n")

    def _bar(self, now: float) -> None:
        if not self.current or now - self.start < 0.5:
            return
        i, n, name = self.current
        width = 20
        done = int(width * (i - 1) / n)
        spin = SPINNER[int(now / TICK) % len(SPINNER)]
        bar = "#" * done + spin + "." * (width - done - 1)
        self._write(f"\r\033[K[{bar}] {i}/{n} {name}  {now - self.start:.0f} s")

    def _tick(self) -> None:
        while not self.stop.wait(TICK):
            with self.lock:
                (self._bar if self.mode == "bar" else self._plain)(time.monotonic())

    def stage(self, index: int, total: int, name: str) -> None:
        now = time.monotonic()
        with self.lock:
            if self.mode == "verbose":
                if self.current:
                    self._write(f"  done in {now - self.stage_start:.1f} s\n")
                self._write(f"[{index}/{total}] {name}\n")
            self.current, self.stage_start = (index, total, name), now
            if self.mode == "plain":
                self._plain(now)

    def close(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join()
        with self.lock:
            if self.mode == "bar" and time.monotonic() - self.start >= 0.5:
                self._write("\r\033[K")
            if self.mode == "verbose" and self.current:
                self._write(f"  done in {time.monotonic() - self.stage_start:.1f} s\n")
            self.current = None


_reporter: Reporter | None = None


def stage(index: int, total: int, name: str) -> None:
    """Report that step `index` of `total`, `name`, starts (a no-op unless a reporter is installed)."""
    if _reporter is not None:
        _reporter.stage(index, total, name)


def mode_for(stream: TextIO, quiet: bool = False, verbose: bool = False) -> str:
    if quiet:
        return "quiet"
    if verbose:
        return "verbose"
    return "bar" if stream.isatty() else "plain"


@contextmanager
def reporting(mode: str, stream: TextIO | None = None) -> Iterator[Reporter]:
    """Install a Reporter for the block and clear its line at the end."""
    global _reporter
    reporter = Reporter(mode, stream)
    _reporter = reporter
    try:
        yield reporter
    finally:
        _reporter = None
        reporter.close()

"""flows.run.progress: a line per step for long runs (plain), a bar on a terminal, every step timed with --verbose,
nothing when quiet or when no reporter is installed."""

from __future__ import annotations

import io
import time

from flows.run import progress

STEPS = ["fingerprint-inputs", "read-raw-exports", "validate-raw"]


def walk(mode: str, long: float = progress.LONG, pause: float = 0.0) -> str:
    stream = io.StringIO()
    reporter = progress.Reporter(mode, stream, long)
    progress._reporter = reporter
    try:
        for i, name in enumerate(STEPS, 1):
            progress.stage(i, len(STEPS), name)
            time.sleep(pause)
    finally:
        progress._reporter = None
        reporter.close()
    return stream.getvalue()


def test_plain_lines_once_the_run_is_long():
    assert walk("plain") == ""  # a quick run prints nothing but its result
    lines = walk("plain", long=0.0).splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "[1/3] fingerprint-inputs",
        "[2/3] read-raw-exports",
        "[3/3] validate-raw",
    ]


def test_verbose_times_every_step_and_quiet_says_nothing():
    out = walk("verbose").splitlines()
    assert out[::2] == [f"[{i}/3] {n}" for i, n in enumerate(STEPS, 1)]
    assert all(line.startswith("  done in ") for line in out[1::2]) and len(out) == 6
    assert walk("quiet", long=0.0) == ""


def test_bar_on_a_terminal_is_redrawn_and_cleared():
    out = walk("bar", pause=0.4)
    assert "\r\033[K[" in out and "3/3 validate-raw" in out
    assert out.endswith("\r\033[K") and "\n" not in out


def test_no_reporter_no_output(capsys):
    progress.stage(1, 1, "anything")
    assert capsys.readouterr() == ("", "")


def test_mode_follows_the_stream():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress.mode_for(Tty()) == "bar" and progress.mode_for(io.StringIO()) == "plain"
    assert progress.mode_for(Tty(), quiet=True) == "quiet" and progress.mode_for(Tty(), verbose=True) == "verbose"

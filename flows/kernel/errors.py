"""The pipeline's own exceptions, and the one line any other failure is reported as."""

from __future__ import annotations

import errno
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager

ARROW_ERRNO = re.compile(r"\[errno (\d+)\]")  # pyarrow's I/O errors carry the errno only in their text
MAX_SHOWN = 200  # characters of a value or message echoed on a terminal; the full text stays in rejects.csv


class PipelineError(Exception):
    """Base class: the message is one line and names file, key, line or column as far as known."""

    exit_code = 2


class SpecError(PipelineError):
    """A specification under specs/ is broken or inconsistent."""


class StructuralError(PipelineError):
    """A raw file cannot be read as a whole: missing, empty, undecodable or lacking columns."""


class OutputCheckError(PipelineError):
    """A derived dataset does not conform to its SDTM spec: a bug in the pipeline, never published."""


class Interrupted(BaseException):  # like KeyboardInterrupt: not an error of the run
    """SIGTERM or SIGINT during a run: raised in the main thread so that every cleanup on the way out runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process ended by the signal: 130, 143

    def line(self, what: str = "nothing published; cleaned up") -> str:
        """The one line a stopped command prints: `interrupted (SIGTERM): <what>`."""
        return f"interrupted ({signal.Signals(self.signum).name}): {what}"


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """One line of at most about `limit` characters: line breaks escaped, the middle of long text cut."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit - 40]}...[{len(flat) - limit + 30} characters cut]...{flat[-10:]}"


def _path(name: object) -> str:
    return os.fsdecode(name) if isinstance(name, str | bytes | os.PathLike) else str(name)


def describe(exc: BaseException) -> str:
    """The cause of an unexpected failure in one line: an OSError as `what (ECODE): path`, anything else as a bug."""
    if isinstance(exc, PipelineError):
        return shorten(str(exc))
    if isinstance(exc, OSError) and exc.errno is not None:
        code = errno.errorcode.get(exc.errno, str(exc.errno))
        where = " -> ".join(_path(p) for p in (exc.filename, exc.filename2) if p is not None)
        return shorten(f"{exc.strerror or os.strerror(exc.errno)} ({code})" + (f": {where}" if where else ""))
    text = next(iter(str(exc).strip().splitlines()), "")
    return shorten(f"{type(exc).__name__}: {text}".rstrip(": ") + " (a bug: rerun with --debug for the traceback)")


def check_both_ways(where: str, missing: tuple[str, list[str]], extra: tuple[str, list[str]], contract: str) -> None:
    """Raise one StructuralError naming what a file lacks of its contract and what it has beyond it (each as
    (words, names)), both ways in one line: `QS.xpt: variable(s) missing ['X']; not in the contract ['Y'] (...)`."""
    parts = [f"{words} {names}" for words, names in (missing, extra) if names]
    if parts:
        raise StructuralError(f"{where}: " + "; ".join(parts) + f" (contract {contract})")


@contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Within the block, an OSError that names no file (pyarrow's `Error writing bytes to file. Detail: [errno 28]
    ...`, a Python file's write) is raised again naming `path`, so its one line says where."""
    try:
        yield
    except OSError as exc:
        code = exc.errno
        if code is None and (found := ARROW_ERRNO.search(str(exc))):
            code = int(found.group(1))
        if exc.filename is not None or code is None:
            raise
        raise OSError(code, os.strerror(code), os.fspath(path)) from exc

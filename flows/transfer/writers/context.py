"""What every writer may need beyond the frame and its spec, fixed once per transfer, and what every format's writer
does alike: a dataset's file written from consecutive chunks of its rows (`Appender`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import pandas as pd

from flows.spec.model import DomainSpec


@dataclass(frozen=True)
class WriteContext:
    studyid: str
    created: datetime  # from the data cut or the inputs, never the clock: same inputs, same bytes
    lengths: dict[str, dict[str, int]]  # domain -> variable -> length as written to XPT
    ig_version: str = ""  # SDTMIG version, part of the define.xml MetaDataVersion OID


class Appender:
    """One dataset's file written from consecutive chunks of its rows (blocks of subjects, in the dataset's order):
    the same bytes as from the whole frame, wherever the chunks begin and end.

    Opened with the dataset's total number of `rows` (a format may say it in its head); `write` each chunk in turn,
    at least one (it may be empty); `close` finishes the file. What a format decides over the whole dataset comes
    from `ctx` (XPT lengths) or from a chunk's dtypes, never from its values: the chunks are datasets as written
    (flows/transfer/num_type.py: a Num variable of whole numbers is an integer column in every chunk), and every
    chunk has the dtypes of the first. As a context manager, an exception leaves the file unfinished and closed."""

    def __init__(self, path: Path, spec: DomainSpec, ctx: WriteContext, rows: int) -> None:
        self.path, self.spec, self.ctx, self.rows = path, spec, ctx, rows
        self.written, self.chunks, self.closed = 0, 0, False

    def write(self, chunk: pd.DataFrame) -> None:
        """Append the chunk's rows (its columns: at least the spec's variables)."""
        if self.closed or self.written + len(chunk) > self.rows:
            self.abandon()
            raise ValueError(f"{self.path.name}: more than the {self.rows} rows declared, or written after close")
        self._append(chunk)
        self.written += len(chunk)
        self.chunks += 1

    def close(self) -> None:
        """Finish the file: every declared row written, from at least one chunk."""
        if self.closed:
            return
        if self.written != self.rows or not self.chunks:
            self.abandon()
            raise ValueError(f"{self.path.name}: {self.written} rows in {self.chunks} chunks, {self.rows} declared")
        self._finish()
        self.closed = True

    def abandon(self) -> None:
        """Close what is open, the file left unfinished (nothing once closed)."""
        if not self.closed:
            self.closed = True
            self._abandon()

    def _append(self, chunk: pd.DataFrame) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Appender:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()

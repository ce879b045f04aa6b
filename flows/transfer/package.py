"""Hand-over packaging of a transfer folder: SHA256SUMS and a reproducible zip.

A `Packer` reads each file once, as soon as it is written, in threads of its own (hashlib and zlib work without
the GIL, so this overlaps the writing of the next file): SHA-256 for the manifest and SHA256SUMS, and the CRC-32 and
deflated bytes that the zip then copies (through `zip_deflated`). The zip's bytes are those zipfile's writestr makes
at level 1. While files are being written one file is digested at a time (the writer keeps the other core); from
the first digest asked for (the writing is done: SHA256SUMS, the manifest, the zip wait), two at once, so what is
left goes twice as fast (deflate, the most of the work, takes a core per file).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import zipfile
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

from flows.transfer.publish import sha256_file
from flows.transfer.zip_deflated import add_deflated, deflater

SUMS = "SHA256SUMS"
LEVEL = 1  # zip compression level: fast, and the text files shrink ten- to twentyfold anyway
READ = 1 << 22
WORKERS = 2  # files digested at once once the writing is done: the machine's two cores


@dataclass(frozen=True)
class Digest:
    """One file: its SHA-256, CRC-32 and size, and where its deflated bytes lie: which of the packer's spill files
    (one per worker), at what offset and how many."""

    sha256: str
    crc: int
    size: int
    offset: int
    length: int
    spill: int = 0


class _Spill:
    """A worker's own file of deflated bytes, appended to by that worker only."""

    def __init__(self, spill_dir: Path | None) -> None:
        # no name, so nothing is left behind whatever happens; closed by the packer's close()
        self.file = tempfile.TemporaryFile(dir=spill_dir)  # noqa: SIM115
        self.end = 0  # where the next deflated bytes go

    def put(self, data: bytes) -> None:
        os.pwrite(self.file.fileno(), data, self.end)
        self.end += len(data)


class Packer:
    """Digests of the files of `folder`, worked out in background threads; `add` a file once it is complete."""

    def __init__(self, folder: Path, spill_dir: Path | None = None, workers: int = WORKERS) -> None:
        self.folder = folder
        self._spill_dir = spill_dir
        self._spills: list[_Spill] = []  # one per worker thread, made at its first file
        self._lock = threading.Lock()
        self._mine = threading.local()  # a worker thread's index in _spills
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="packer")
        self._slots = threading.Semaphore(1)  # files digested at once: one until a digest is asked for
        self._more = workers - 1  # slots given when the first digest is asked for
        self._digests: dict[str, Future[Digest]] = {}

    def __enter__(self) -> Packer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for spill in self._spills:
            spill.file.close()

    def add(self, path: Path) -> None:
        rel = path.relative_to(self.folder).as_posix()
        self._digests[rel] = self._pool.submit(self._digest, path)

    def digest(self, rel: Path | str) -> Digest:
        """The digest of a file of the folder, worked out now if it was never added."""
        key = Path(rel).as_posix()
        if self._more:  # the files are written: every worker may digest from now on
            self._slots.release(self._more)
            self._more = 0
        if key not in self._digests:
            self.add(self.folder / key)
        return self._digests[key].result()

    def _own_spill(self) -> int:
        """The calling worker's spill file, made at its first file."""
        if not hasattr(self._mine, "index"):
            with self._lock:
                self._spills.append(_Spill(self._spill_dir))
                self._mine.index = len(self._spills) - 1
        return self._mine.index

    def _digest(self, path: Path) -> Digest:
        with self._slots:
            return self._digest_now(path)

    def _digest_now(self, path: Path) -> Digest:
        index = self._own_spill()
        spill = self._spills[index]
        sha, crc, size, start = hashlib.sha256(), 0, 0, spill.end
        deflate = deflater(LEVEL)
        with path.open("rb") as fh:
            while block := fh.read(READ):
                sha.update(block)
                crc = zlib.crc32(block, crc)
                size += len(block)
                spill.put(deflate.compress(block))
        spill.put(deflate.flush())
        return Digest(sha.hexdigest(), crc, size, start, spill.end - start, index)

    def copy_deflated(self, digest: Digest, out: BinaryIO) -> None:
        fd, end = self._spills[digest.spill].file.fileno(), digest.offset + digest.length
        for start in range(digest.offset, end, READ):
            out.write(os.pread(fd, min(READ, end - start), start))


def transfer_files(folder: Path, exclude: set[str] = frozenset()) -> list[Path]:
    """Files of a transfer, relative and sorted, so every listing and archive has one order."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name not in exclude)


def write_sums(folder: Path, packer: Packer | None = None) -> None:
    """SHA256SUMS for every file of the transfer, in `sha256sum -c` format."""
    sha = (lambda rel: packer.digest(rel).sha256) if packer else (lambda rel: sha256_file(folder / rel))
    lines = [f"{sha(rel)}  {rel.as_posix()}" for rel in transfer_files(folder, {SUMS})]
    (folder / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_zip(folder: Path, name: str, created: datetime, packer: Packer | None = None) -> Path:
    """A zip of the transfer with fixed entry times and order, plus a .sha256 beside it."""
    target = folder / name
    stamp = (max(created.year, 1980), created.month, created.day, 0, 0, 0)
    with (
        Packer(folder) if packer is None else nullcontext(packer) as pack,  # a packer given is closed by its owner
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=LEVEL) as zf,
    ):
        for rel in transfer_files(folder, {name}):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=stamp)
            info.external_attr = 0o644 << 16
            digest = pack.digest(rel)
            copy = partial(pack.copy_deflated, digest)
            add_deflated(zf, info, digest.size, digest.crc, digest.length, LEVEL, copy)
    (folder / f"{name}.sha256").write_text(f"{sha256_file(target)}  {name}\n", encoding="utf-8")
    return target

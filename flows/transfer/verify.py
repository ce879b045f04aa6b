"""Is a transfer folder whole? Its manifest against SHA256SUMS, and every Parquet dataset against the manifest.

`diff` compares transfers by their Parquet files: a file missing, altered or added since publication must read as
damage, never as a dataset removed, changed or added.
"""

from __future__ import annotations

import json
from pathlib import Path

from flows.kernel.errors import PipelineError
from flows.transfer.package import SUMS
from flows.transfer.publish import sha256_file

MANIFEST = "manifest.json"


class DamagedTransferError(PipelineError):
    """A transfer folder whose files no longer match its manifest or SHA256SUMS."""


def _sums(folder: Path) -> dict[str, str]:
    try:
        lines = (folder / SUMS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DamagedTransferError(f"{folder}: damaged transfer: {SUMS} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedTransferError(f"{folder}: damaged transfer: {SUMS} cannot be read ({exc})") from None
    sums = {}
    for line in lines:
        digest, sep, rel = line.partition("  ")
        if not sep:
            raise DamagedTransferError(f"{folder}: damaged transfer: {SUMS} holds a line that is no checksum: {line!r}")
        sums[rel] = digest
    return sums


def _check(folder: Path, rel: str, expected: str, listed_in: str) -> None:
    path = folder / rel
    if not path.is_file():
        raise DamagedTransferError(f"{folder}: damaged transfer: {rel} is missing (listed in {listed_in})")
    if sha256_file(path) != expected:
        raise DamagedTransferError(f"{folder}: damaged transfer: {rel} does not match its checksum in {listed_in}")


PARQUET = ("parquet/", "adam/parquet/")  # the Parquet files of the SDTM and of the ADaM datasets


def verify_transfer(folder: Path) -> None:
    """Raise DamagedTransferError, naming the first damaged file, unless the manifest is the one SHA256SUMS names and
    every Parquet file is the one the manifest lists, none missing and none added."""
    sums = _sums(folder)
    if MANIFEST not in sums:
        raise DamagedTransferError(f"{folder}: damaged transfer: {SUMS} does not list {MANIFEST}")
    _check(folder, MANIFEST, sums[MANIFEST], SUMS)
    outputs = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("outputs", {})
    parquet = {rel: entry["sha256"] for rel, entry in outputs.items() if rel.startswith(PARQUET)}
    for rel, digest in sorted(parquet.items()):
        _check(folder, rel, digest, MANIFEST)
    for path in sorted(p for where in PARQUET for p in (folder / where).glob("*.parquet")):
        rel = path.relative_to(folder).as_posix()
        if rel not in parquet:
            raise DamagedTransferError(f"{folder}: damaged transfer: {rel} is not in {MANIFEST}")

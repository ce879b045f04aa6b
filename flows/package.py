"""Hand-over packaging of a transfer folder: SHA256SUMS and a reproducible zip."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

from flows.publish import sha256_file

SUMS = "SHA256SUMS"


def transfer_files(folder: Path, exclude: set[str] = frozenset()) -> list[Path]:
    """Files of a transfer, relative and sorted, so every listing and archive has one order."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name not in exclude)


def write_sums(folder: Path) -> None:
    """SHA256SUMS for every file of the transfer, in `sha256sum -c` format."""
    lines = [f"{sha256_file(folder / rel)}  {rel.as_posix()}" for rel in transfer_files(folder, {SUMS})]
    (folder / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_zip(folder: Path, name: str, created: datetime) -> Path:
    """A zip of the transfer with fixed entry times and order, plus a .sha256 beside it."""
    target = folder / name
    stamp = (max(created.year, 1980), created.month, created.day, 0, 0, 0)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for rel in transfer_files(folder, {name}):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (folder / rel).read_bytes(), compresslevel=1)
    (folder / f"{name}.sha256").write_text(f"{sha256_file(target)}  {name}\n", encoding="utf-8")
    return target

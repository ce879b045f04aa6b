"""Transfers on disk: a staging folder, renamed into place when complete, then the `latest` link switched."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from flows.kernel.errors import PipelineError

LATEST = "latest"
STAGING_PREFIX = ".staging-"


def utc_stamp(now: datetime | None = None) -> str:
    """Transfer folder name: UTC time to the second, e.g. 20261125T140501Z."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def new_staging(study_dir: Path) -> Path:
    """An empty staging folder beside the transfers (same file system, so the final rename is atomic)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    path = study_dir / f"{STAGING_PREFIX}{utc_stamp()}-{os.getpid()}"
    path.mkdir()
    return path


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def sweep_staging(study_dir: Path) -> list[str]:
    """Remove what killed runs left (staging folders, temporary links); only ever call it holding the study lock."""
    if not study_dir.is_dir():
        return []
    left = [p for p in study_dir.iterdir() if p.name.startswith((STAGING_PREFIX, f".{LATEST}-"))]
    for path in left:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            discard(path)
    return sorted(p.name for p in left)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def latest_transfer(study_dir: Path) -> Path | None:
    """The folder `latest` points at; None when there is no link or it points at nothing."""
    link = study_dir / LATEST
    if not link.is_symlink():
        return None
    try:
        target = link.resolve(strict=True)
    except FileNotFoundError:
        return None
    except (RuntimeError, OSError):  # a loop (RuntimeError before Python 3.13, ELOOP after), or unreadable
        raise PipelineError(f"{link}: a link that leads nowhere (a loop), not the link to the latest transfer; "
                            "move it away") from None  # fmt: skip
    return target if target.is_dir() else None


def publish(staging: Path, study_dir: Path, stamp: str) -> Path:
    """Rename the complete staging folder to its stamp, then point `latest` at it (relative link, switched last)."""
    target = study_dir / stamp
    suffix = 1
    while target.exists():
        target = study_dir / f"{stamp}-{suffix}"
        suffix += 1
    staging.rename(target)
    tmp_link = study_dir / f".{LATEST}-{os.getpid()}"
    try:
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(target.name)
        os.replace(tmp_link, study_dir / LATEST)
    except BaseException:
        # `latest` still points at the previous transfer: take the new one back out of sight
        tmp_link.unlink(missing_ok=True)
        target.rename(staging)
        raise
    return target

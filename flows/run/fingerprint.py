"""What a transfer was made from, as one hash: raw file bytes, every file under specs/, pipeline version and cutoff.

A run whose fingerprint equals the one in the latest transfer's manifest.json has nothing new to publish, unless
that transfer rejected dates as in the future and the date at the sites has moved on since (they may be valid now).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flows import __version__
from flows.kernel.errors import StructuralError
from flows.raw.read import Scan, raw_path, scan_file
from flows.spec.model import Specs
from flows.spec.raw_schema import FUTURE_DATE
from flows.transfer.publish import latest_transfer

KEY = "fingerprint"


def _spec_files(root: Path) -> list[Path]:
    """Every file under specs/, in a stable order; hidden files and caches (editor, OS) are not specs."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)
    )


def _add(digest: hashlib._Hash, name: str, data: bytes) -> None:
    for part in (name.encode("utf-8"), data):
        _add_part(digest, part)


def _add_part(digest: hashlib._Hash, part: bytes) -> None:
    # length-prefixed so that no two different inputs can produce the same byte stream
    digest.update(len(part).to_bytes(8, "big"))
    digest.update(part)


def _add_file(digest: hashlib._Hash, name: str, path: Path) -> tuple[hashlib._Hash, Scan | None]:
    """`digest` with (name, the file's bytes) added as `_add` would, the file streamed block by block (never whole in
    memory) and scanned for the read in the same pass; a file that changes size meanwhile is hashed again, whole."""
    size, streamed = path.stat().st_size, digest.copy()
    _add_part(streamed, name.encode("utf-8"))
    streamed.update(size.to_bytes(8, "big"))  # the data's length prefix; the data follow as they are scanned
    scan = scan_file(path, also=streamed.update)
    if scan.size == size:
        return streamed, scan
    _add(digest, name, path.read_bytes())
    return digest, None


def fingerprint(
    raw_dir: Path, specs: Specs, cutoff: str | None = None, version: str = __version__, scans: dict | None = None
) -> str:
    """sha256 over (name, bytes) of each raw file the specs name, each spec file, the version and the cutoff.
    `scans`, when given, receives each raw file's scan (flows.raw.read.scan_file) by file name, for the read."""
    digest = hashlib.sha256()
    _add(digest, "pipeline_version", version.encode("utf-8"))
    _add(digest, "cutoff", (cutoff or "").encode("utf-8"))
    for contract in sorted(specs.raw.values(), key=lambda c: c.file):
        # a missing file, or a link out of the raw folder, still fingerprints (reading it fails later, saying why)
        try:
            path = raw_path(raw_dir, contract.file)
        except StructuralError:
            path = None
        if path is None or not path.is_file():
            _add(digest, f"raw/{contract.file}", b"\0missing")
            continue
        digest, scan = _add_file(digest, f"raw/{contract.file}", path)
        if scans is not None and scan is not None:
            scans[contract.file] = scan
    for path in _spec_files(specs.root):
        _add(digest, f"specs/{path.relative_to(specs.root).as_posix()}", path.read_bytes())
    for path in _spec_files(specs.base) if specs.base else ():  # the folder a layout's specs extend
        _add(digest, f"base/{path.relative_to(specs.base).as_posix()}", path.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def _latest_manifest(study_dir: Path) -> tuple[str, dict] | None:
    """(transfer stamp, manifest) of the transfer `latest` points at, or None (no transfer, or none readable)."""
    transfer = latest_transfer(study_dir)
    if transfer is None:
        return None
    try:
        manifest = json.loads((transfer / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (str(manifest.get("transfer") or transfer.name), manifest) if isinstance(manifest, dict) else None


def _judged_on(manifest: dict, zone: str) -> date | None:
    """The date at the sites when the transfer was validated (its run_at), or None when not recorded."""
    try:
        return datetime.fromisoformat(manifest["run_at"]).astimezone(ZoneInfo(zone)).date()
    except (KeyError, TypeError, ValueError):
        return None


def unchanged_since(study_dir: Path, current: str, today: date | None = None, zone: str = "UTC") -> str | None:
    """The stamp of the latest transfer when it was made from exactly these inputs, else None. With `today` (the
    date at the sites, in `zone`), a transfer that rejected future dates on another day is not the same result."""
    latest = _latest_manifest(study_dir)
    if latest is None or latest[1].get(KEY) != current:
        return None
    stamp, manifest = latest
    future = (manifest.get("rejects") or {}).get("by_rule", {}).get(FUTURE_DATE, 0)
    if today is not None and future and _judged_on(manifest, zone) != today:
        return None
    return stamp

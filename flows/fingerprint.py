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
from flows.publish import latest_transfer
from flows.raw_schema import FUTURE_DATE
from flows.specs import Specs

KEY = "fingerprint"


def _spec_files(root: Path) -> list[Path]:
    """Every file under specs/, in a stable order; hidden files and caches (editor, OS) are not specs."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)
    )


def fingerprint(raw_dir: Path, specs: Specs, cutoff: str | None = None, version: str = __version__) -> str:
    """sha256 over (name, bytes) of each raw file the specs name, each spec file, the version and the cutoff."""
    digest = hashlib.sha256()

    def add(name: str, data: bytes) -> None:
        # length-prefixed so that no two different inputs can produce the same byte stream
        for part in (name.encode("utf-8"), data):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)

    add("pipeline_version", version.encode("utf-8"))
    add("cutoff", (cutoff or "").encode("utf-8"))
    for contract in sorted(specs.raw.values(), key=lambda c: c.file):
        path = raw_dir / contract.file
        # a missing file still fingerprints (reading it fails later with a clear message)
        add(f"raw/{contract.file}", path.read_bytes() if path.is_file() else b"\0missing")
    for path in _spec_files(specs.root):
        add(f"specs/{path.relative_to(specs.root).as_posix()}", path.read_bytes())
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

"""Tests of flows/run/fingerprint.py: what changes the fingerprint, and that unchanged inputs publish nothing."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from flows.mapping.load import load_specs
from flows.raw.read import scan_file
from flows.run.fingerprint import KEY, fingerprint, unchanged_since
from flows.run.pipeline import run_export
from flows.spec.read import SPECS_DIR
from tests.conftest import RAW, run_cli


@pytest.fixture
def specs_copy(tmp_path: Path):
    """A private copy of specs/ a test may edit, loaded."""
    shutil.copytree(SPECS_DIR, tmp_path / "specs")
    return load_specs(tmp_path / "specs")


def test_same_inputs_same_fingerprint(specs, raw_copy):
    assert fingerprint(RAW, specs) == fingerprint(raw_copy, specs)  # bytes count, not where the files are
    assert fingerprint(RAW, specs).startswith("sha256:")


@pytest.mark.parametrize(
    "change",
    [
        "raw byte",  # one byte of one raw file
        "spec file",  # a comment in a spec under specs/
        "new spec file",  # a file added under specs/
        "version",  # the pipeline version
        "cutoff",  # a data cut
    ],
)
def test_each_input_changes_the_fingerprint(change, raw_copy, specs_copy):
    before = fingerprint(raw_copy, specs_copy)
    version, cutoff = "0.1.0", None
    if change == "raw byte":
        data = (raw_copy / "dosing.csv").read_bytes()
        (raw_copy / "dosing.csv").write_bytes(data[:-2] + bytes([data[-2] ^ 1]) + data[-1:])
    elif change == "spec file":
        with (specs_copy.root / "study.yaml").open("a", encoding="utf-8") as fh:
            fh.write("# reviewed\n")
    elif change == "new spec file":
        (specs_copy.root / "sdtm" / "notes.md").write_text("x\n", encoding="utf-8")
    elif change == "version":
        version = "0.1.1"
    elif change == "cutoff":
        cutoff = "2025-10-01"
    assert fingerprint(raw_copy, specs_copy, cutoff, version=version) != before


def test_hidden_files_under_specs_do_not_count(raw_copy, specs_copy):
    before = fingerprint(raw_copy, specs_copy)
    (specs_copy.root / ".study.yaml.swp").write_bytes(b"editor swap")  # an editor's, not a spec
    assert fingerprint(raw_copy, specs_copy) == before


def test_unchanged_inputs_publish_nothing_and_force_publishes(specs, tmp_path):
    first = run_export(RAW, tmp_path, specs)
    assert first.exit_code == 0 and first.transfer is not None
    manifest = json.loads((first.transfer / "manifest.json").read_text())
    assert manifest[KEY] == fingerprint(RAW, specs)
    assert unchanged_since(first.transfer.parent, manifest[KEY]) == first.transfer.name

    again = run_export(RAW, tmp_path, specs)
    assert (again.exit_code, again.message, again.transfer) == (0, f"unchanged since {first.transfer.name}", None)
    assert sorted(p.name for p in first.transfer.parent.iterdir()) == sorted([first.transfer.name, "latest"])

    forced = run_export(RAW, tmp_path, specs, force=True)
    assert forced.exit_code == 0 and forced.transfer not in (None, first.transfer)
    assert (first.transfer.parent / "latest").resolve() == forced.transfer


def test_cli_says_unchanged_and_force_overrides(raw_copy, tmp_path, specs):
    assert run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path)).returncode == 0
    stamp = (tmp_path / specs.study.studyid / "latest").resolve().name
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path))
    assert (proc.returncode, proc.stdout) == (0, f"unchanged since {stamp}\n")
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path), "--force")
    assert proc.returncode == 0 and proc.stdout.startswith("published ")


def test_transfer_without_fingerprint_is_never_unchanged(tmp_path):
    study = tmp_path / "STUDY"
    (study / "20250101T000000Z").mkdir(parents=True)
    (study / "20250101T000000Z" / "manifest.json").write_text('{"transfer": "20250101T000000Z"}')
    (study / "latest").symlink_to("20250101T000000Z")  # a transfer made before fingerprints existed
    assert unchanged_since(study, "sha256:x") is None
    assert unchanged_since(tmp_path / "none", "sha256:x") is None  # no transfer at all


def test_future_date_rejects_are_judged_again_on_a_later_day(tmp_path):
    """Rejected as in the future on 2026-03-01 (Xi'an): the same inputs are the same transfer that day, not the
    next; a transfer without such rejects stays unchanged whatever the day."""
    study = tmp_path / "STUDY"
    (study / "20260301T020000Z").mkdir(parents=True)
    (study / "latest").symlink_to("20260301T020000Z")

    def manifest(future: int) -> None:
        data = {
            "transfer": "20260301T020000Z",
            "run_at": "2026-03-01T02:00:00+00:00",
            KEY: "sha256:x",
            "rejects": {"records": future, "by_rule": {"date_in_future": future} if future else {}},
        }
        (study / "20260301T020000Z" / "manifest.json").write_text(json.dumps(data))

    same_day, next_day = date(2026, 3, 1), date(2026, 3, 2)
    manifest(future=1)
    assert unchanged_since(study, "sha256:x", same_day, "Asia/Shanghai") == "20260301T020000Z"
    assert unchanged_since(study, "sha256:x", next_day, "Asia/Shanghai") is None
    assert unchanged_since(study, "sha256:x", same_day, "America/Los_Angeles") is None  # 2026-02-28 there
    manifest(future=0)
    assert unchanged_since(study, "sha256:x", next_day, "Asia/Shanghai") == "20260301T020000Z"


def test_fingerprint_scans_each_raw_file_in_the_same_pass(specs):
    scans = {}
    assert fingerprint(RAW, specs, scans=scans) == fingerprint(RAW, specs)  # the scan does not change the hash
    assert sorted(scans) == sorted(c.file for c in specs.raw.values())
    for file, scan in scans.items():
        assert scan == scan_file(RAW / file)  # what the read would have found on its own

"""Tests of flows/transfer/publish.py: `latest` moves only when a transfer is complete, and leftovers of killed runs
go."""

from __future__ import annotations

import os

import pytest

from flows.transfer import publish as pub


def make_transfer(study_dir, name: str) -> None:
    (study_dir / name).mkdir(parents=True)
    (study_dir / name / "manifest.json").write_text("{}")


def test_failed_link_switch_keeps_latest_and_the_staging_folder(tmp_path, monkeypatch):
    make_transfer(tmp_path, "20250101T000000Z")
    (tmp_path / "latest").symlink_to("20250101T000000Z")
    staging = pub.new_staging(tmp_path)

    def no_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pub.os, "replace", no_replace)
    with pytest.raises(OSError):
        pub.publish(staging, tmp_path, "20250102T000000Z")
    assert os.readlink(tmp_path / "latest") == "20250101T000000Z"
    assert staging.is_dir()  # back where it was, for the caller to discard
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["20250101T000000Z", "latest", staging.name])


def test_sweep_removes_staging_folders_and_temporary_links_only(tmp_path):
    make_transfer(tmp_path, "20250101T000000Z")
    (tmp_path / "latest").symlink_to("20250101T000000Z")
    (tmp_path / ".staging-20250102T000000Z-123" / "xpt").mkdir(parents=True)  # a run killed while writing
    (tmp_path / ".latest-123").symlink_to("20250102T000000Z")  # killed while switching
    assert pub.sweep_staging(tmp_path) == [".latest-123", ".staging-20250102T000000Z-123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20250101T000000Z", "latest"]
    assert pub.sweep_staging(tmp_path / "missing") == []

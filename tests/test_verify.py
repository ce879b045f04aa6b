"""Tests of flows/transfer/verify.py: `diff` reads a damaged transfer as damage (exit 2, the file named), never as a
dataset removed or changed."""

from __future__ import annotations

import shutil

import pytest

from flows.transfer.verify import DamagedTransferError, verify_transfer
from tests.conftest import run_cli


@pytest.fixture
def copy(sample_export, tmp_path):
    _, transfer = sample_export
    return shutil.copytree(transfer, tmp_path / transfer.name)


def test_a_published_transfer_is_whole(copy):
    verify_transfer(copy)
    proc = run_cli("diff", str(copy), str(copy))
    assert (proc.returncode, proc.stderr) == (0, "")


def damage_missing(copy):
    (copy / "parquet" / "ae.parquet").unlink()
    return "parquet/ae.parquet is missing (listed in manifest.json)"


def damage_corrupt(copy):
    path = copy / "parquet" / "dm.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return "parquet/dm.parquet does not match its checksum in manifest.json"


def damage_added(copy):
    shutil.copy(copy / "parquet" / "dm.parquet", copy / "parquet" / "zz.parquet")
    return "parquet/zz.parquet is not in manifest.json"


def damage_analysis(copy):
    path = copy / "adam" / "parquet" / "adsl.parquet"  # an ADaM dataset, in the transfer's adam/ folder
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return "adam/parquet/adsl.parquet does not match its checksum in manifest.json"


def damage_manifest(copy):
    path = copy / "manifest.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"rows": 34', '"rows": 35', 1), encoding="utf-8")
    return "manifest.json does not match its checksum in SHA256SUMS"


def damage_sums(copy):
    (copy / "SHA256SUMS").unlink()
    return "SHA256SUMS is missing"


@pytest.mark.parametrize(
    "damage", [damage_missing, damage_corrupt, damage_added, damage_analysis, damage_manifest, damage_sums]
)
def test_damage_is_named_with_exit_2(sample_export, copy, damage):
    _, transfer = sample_export
    what = damage(copy)
    with pytest.raises(DamagedTransferError, match="damaged transfer"):
        verify_transfer(copy)
    proc = run_cli("diff", str(transfer), str(copy))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: {copy}: damaged transfer: {what}\n"

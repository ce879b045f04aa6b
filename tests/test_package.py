"""flows.transfer.package: SHA256SUMS and the zip from the packer's digests, the bytes of zipfile's writestr."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from flows.transfer.package import SUMS, Packer, write_sums, write_zip

CREATED = datetime(2026, 10, 31, 12, 0, 0)


def reference_zip(folder: Path, target: Path) -> bytes:
    """The zip as zipfile's writestr makes it, file by file (what write_zip did before the packer)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for rel in sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2026, 10, 31, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (folder / rel).read_bytes(), compresslevel=1)
    return target.read_bytes()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "transfer"
    (root / "csv").mkdir(parents=True)
    (root / "csv" / "qs.csv").write_bytes(b"STUDYID,QSSEQ\n" + b"X,1\n" * 400_000)  # several read blocks
    (root / "csv" / "dm.csv").write_bytes(b"")  # empty
    (root / "summary.html").write_text("<p>é</p>\n", encoding="utf-8")
    (root / "noise.bin").write_bytes(os.urandom(100_000))  # incompressible: deflated is larger
    return root


@pytest.mark.parametrize("workers", [1, 2, 3])  # files deflated into one spill file, or spread over several
@pytest.mark.parametrize("added", ["every file added as written", "none added (digests on demand)"])
def test_zip_is_byte_identical_to_writestr(folder, tmp_path, added, workers):
    expected = reference_zip(folder, tmp_path / "reference.zip")
    with Packer(folder, tmp_path, workers=workers) as packer:
        if added.startswith("every"):
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    packer.add(path)
        target = write_zip(folder, "T.zip", CREATED, packer)
    assert target.read_bytes() == expected
    sha = hashlib.sha256(expected).hexdigest()
    assert (folder / "T.zip.sha256").read_text() == f"{sha}  T.zip\n"


def test_zip_without_a_packer(folder, tmp_path):
    expected = reference_zip(folder, tmp_path / "reference.zip")
    assert write_zip(folder, "T.zip", CREATED).read_bytes() == expected


@pytest.mark.parametrize("with_packer", [True, False])
def test_sums_check_with_sha256sum(folder, tmp_path, with_packer):
    with Packer(folder, tmp_path) as packer:
        write_sums(folder, packer if with_packer else None)
    lines = (folder / SUMS).read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["csv/dm.csv", "csv/qs.csv", "noise.bin", "summary.html"]
    check = subprocess.run(["sha256sum", "--quiet", "-c", SUMS], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_failed_digest_is_raised_where_it_is_asked_for(folder, tmp_path):
    with Packer(folder, tmp_path) as packer:
        packer.add(folder / "missing.csv")
        with pytest.raises(FileNotFoundError):
            packer.digest("missing.csv")


def test_two_files_digested_at_once_each_into_its_worker_s_spill_file(folder, tmp_path):
    (folder / "csv" / "vs.csv").write_bytes(b"STUDYID,VSSEQ\n" + b"X,2\n" * 400_000)
    with Packer(folder, tmp_path, workers=2) as packer:
        for rel in ("csv/qs.csv", "csv/vs.csv"):
            packer.add(folder / rel)
        digests = [packer.digest(rel) for rel in ("csv/qs.csv", "csv/vs.csv")]
        assert {d.spill for d in digests} <= {0, 1} and len(packer._spills) <= 2
        for rel, digest in zip(("csv/qs.csv", "csv/vs.csv"), digests, strict=True):
            out = io.BytesIO()
            packer.copy_deflated(digest, out)
            assert zlib.decompress(out.getvalue(), -15) == (folder / rel).read_bytes()

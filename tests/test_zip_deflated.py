"""Tests of flows/transfer/zip_deflated.py: zipfile's internals still behave as the adapter relies on.

When one of these fails after an upgrade of Python, the failure names the version the adapter was checked with:
adapt flows/transfer/zip_deflated.py (the only place that uses zipfile's undocumented names) until these pass again.
"""

from __future__ import annotations

import io
import platform
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from flows.transfer.zip_deflated import add_deflated, deflater
from tests import private_api

CHECKED_WITH = "Python 3.11.7"
STAMP = (2026, 10, 31, 0, 0, 0)

# name -> bytes: a text file, an empty one, a name beyond ASCII, bytes that deflate makes larger
ENTRIES = {
    "csv/qs.csv": b"STUDYID,QSSEQ\n" + b"CART-20250321,1\n" * 5000,
    "csv/dm.csv": b"",
    "résumé.html": "<p>é</p>\n".encode(),
    "noise.bin": bytes(range(256)) * 3 + zlib.compress(b"x" * 4096),
}


def relied_on(condition: bool, what: str) -> None:
    """Fail loudly, naming the versions, when zipfile no longer behaves as the adapter relies on."""
    private_api.relied_on(
        condition,
        what,
        "zipfile's internals",
        "flows/transfer/zip_deflated.py",
        CHECKED_WITH,
        f"Python {platform.python_version()}",
    )


def info_of(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.external_attr = 0o644 << 16
    return info


def by_writestr(target: Path | io.BytesIO, level: int = 1) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in ENTRIES.items():
            info = info_of(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=level)


def add(zf: zipfile.ZipFile, name: str, data: bytes, level: int = 1) -> None:
    deflate = deflater(level)
    deflated = deflate.compress(data) + deflate.flush()
    add_deflated(zf, info_of(name), len(data), zlib.crc32(data), len(deflated), level, lambda out: out.write(deflated))


def by_adapter(target: Path | io.BytesIO, level: int = 1) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in ENTRIES.items():
            add(zf, name, data, level)


def test_the_undocumented_names_are_there():
    zf = zipfile.ZipFile(io.BytesIO(), "w")
    for name in ("_writecheck", "_didModify", "fp", "start_dir", "filelist", "NameToInfo"):
        relied_on(hasattr(zf, name), f"ZipFile has no `{name}`")
    info = zipfile.ZipInfo("a")
    for name in ("_compresslevel", "FileHeader"):
        relied_on(hasattr(info, name), f"ZipInfo has no `{name}`")


@pytest.mark.parametrize("level", [1, 6, 9])
def test_the_bytes_are_those_of_writestr(tmp_path, level):
    by_writestr(tmp_path / "writestr.zip", level)
    by_adapter(tmp_path / "adapter.zip", level)
    relied_on(
        (tmp_path / "adapter.zip").read_bytes() == (tmp_path / "writestr.zip").read_bytes(),
        f"a zip of deflated entries differs from writestr's at level {level}",
    )


def test_zipfile_reads_it_back(tmp_path):
    by_adapter(tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        assert zf.testzip() is None
        assert zf.namelist() == list(ENTRIES)
        assert {i.filename: zf.read(i) for i in zf.infolist()} == ENTRIES
        assert {i.date_time for i in zf.infolist()} == {STAMP}
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}


@pytest.mark.skipif(shutil.which("unzip") is None, reason="no unzip on this machine")
def test_unzip_tests_it_clean(tmp_path):
    by_adapter(tmp_path / "t.zip")
    check = subprocess.run(["unzip", "-t", "t.zip"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No errors detected" in check.stdout


def test_writestr_after_a_deflated_entry_continues_the_archive():
    """The bookkeeping (start_dir, filelist, NameToInfo) is what writestr's next entry and the directory read."""
    mixed, plain = io.BytesIO(), io.BytesIO()
    by_writestr(plain)
    with zipfile.ZipFile(mixed, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        first, *rest = ENTRIES.items()
        add(zf, *first)
        for name, data in rest:
            info = info_of(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=1)
        assert zf.getinfo(first[0]).file_size == len(first[1])
    relied_on(mixed.getvalue() == plain.getvalue(), "writestr after a deflated entry lays the archive out otherwise")


def test_the_write_check_still_guards_the_archive():
    """_writecheck refuses an archive opened for reading and warns of a duplicate name, as writestr does."""
    buffer = io.BytesIO()
    by_adapter(buffer)
    with zipfile.ZipFile(buffer) as zf, pytest.raises(ValueError, match="requires mode"):
        add(zf, "late.csv", b"x")
    with zipfile.ZipFile(io.BytesIO(), "w") as zf:
        add(zf, "a.csv", b"x")
        with pytest.warns(UserWarning, match="Duplicate name"):
            add(zf, "a.csv", b"y")


def test_an_entry_too_large_without_zip64_is_refused():
    """writestr's rule: zip64 fields only past 1/1.05 of the limit; an entry too large below that is refused."""
    with zipfile.ZipFile(io.BytesIO(), "w") as zf, pytest.raises(RuntimeError, match="too large"):
        size = int(zipfile.ZIP64_LIMIT / 1.05) - 1  # not zip64 by the rule, yet the deflated bytes pass the limit
        add_deflated(zf, info_of("big.bin"), size, 0, zipfile.ZIP64_LIMIT + 1, 1, lambda out: None)

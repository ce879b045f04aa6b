"""The one door to zipfile's internals: an entry whose bytes were deflated beforehand, laid out as writestr lays it.

zipfile has no public way to add bytes compressed elsewhere. `deflater` is the compressor zipfile uses, and
`add_deflated` does what `ZipFile.writestr` does after compressing (check, local header, data, bookkeeping) with its
undocumented parts: `ZipInfo._compresslevel` and `FileHeader`, `ZipFile._writecheck`, `_didModify`, `fp`,
`start_dir`, `filelist` and `NameToInfo`. Nothing else in flows/ relies on them; tests/test_zip_deflated.py checks
them on the running Python, so that an upgrade that changes them fails there first.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO


def deflater(level: int):
    """A raw-deflate compressor as zipfile makes one for ZIP_DEFLATED at `level` (its `_get_compressor`)."""
    return zlib.compressobj(level, zlib.DEFLATED, -15)


def add_deflated(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    size: int,
    crc: int,
    length: int,
    level: int,
    copy: Callable[[BinaryIO], None],
) -> None:
    """An entry of `size` bytes (CRC-32 `crc`) deflated beforehand at `level` into `length` raw-deflate bytes, which
    `copy` writes to the file object it is given (made by `deflater(level)`): the bytes of writestr at that level."""
    info.compress_type, info._compresslevel = zipfile.ZIP_DEFLATED, level
    info.file_size, info.compress_size, info.CRC, info.flag_bits = size, length, crc, 0
    zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT  # writestr's rule
    if not zip64 and max(info.file_size, info.compress_size) > zipfile.ZIP64_LIMIT:
        raise RuntimeError(f"{info.filename}: too large for a zip entry without ZIP64")
    zf.fp.seek(zf.start_dir)
    info.header_offset = zf.fp.tell()
    zf._writecheck(info)
    zf._didModify = True
    zf.fp.write(info.FileHeader(zip64))
    copy(zf.fp)
    zf.start_dir = zf.fp.tell()
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info

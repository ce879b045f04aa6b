"""flows.kernel.errors: any failure as one short line: an OSError by its code and path, anything else named as a bug."""

from __future__ import annotations

import errno

from flows.kernel.errors import Interrupted, StructuralError, describe, shorten


def test_os_errors_by_code_and_path():
    assert describe(OSError(errno.ENOSPC, "No space left on device", "/o/x.xpt")) == (
        "No space left on device (ENOSPC): /o/x.xpt"
    )
    assert describe(OSError(errno.EISDIR, "Is a directory", "/o/.latest-1", None, "/o/latest")) == (
        "Is a directory (EISDIR): /o/.latest-1 -> /o/latest"
    )
    assert describe(NotADirectoryError(errno.ENOTDIR, "Not a directory")) == "Not a directory (ENOTDIR)"


def test_anything_else_is_a_bug_in_one_line():
    assert describe(ValueError("No objects to concatenate\n  detail")) == (
        "ValueError: No objects to concatenate (a bug: rerun with --debug for the traceback)"
    )
    assert describe(StructuralError("dosing.csv: empty file")) == "dosing.csv: empty file"


def test_shorten_keeps_one_line_and_both_ends():
    text = "start " + "x" * 10_000 + "\nend"
    short = shorten(text)
    assert "\n" not in short and len(short) <= 220 and short.startswith("start ") and short.endswith("\\nend")
    assert shorten("a\r\nb") == "a\\r\\nb"


def test_interrupt_exit_codes():
    assert Interrupted(15).exit_code == 143 and Interrupted(2).exit_code == 130


def test_naming_gives_a_nameless_os_error_its_path():
    import pytest

    from flows.kernel.errors import naming

    with pytest.raises(OSError) as caught, naming("/o/x.parquet"):
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert describe(caught.value) == "No space left on device (ENOSPC): /o/x.parquet"
    with pytest.raises(OSError) as caught, naming("/o/x.parquet"):
        raise OSError(errno.EIO, "Input/output error", "/o/elsewhere")  # named already: kept
    assert caught.value.filename == "/o/elsewhere"

"""flows.raw.read: the file is fingerprinted and counted in one streaming pass; Arrow parses it from the path."""

from __future__ import annotations

import codecs
import hashlib
import shutil

import pandas as pd
import pytest

from flows.kernel.errors import StructuralError
from flows.kernel.held import Held
from flows.raw.read import read_raw, read_raws, scan_file
from tests.conftest import RAW


@pytest.mark.parametrize(
    ("data", "first_line", "blank", "newlines", "ends"),
    [
        (b"a,b\n1,2\n", b"a,b", False, 2, True),
        (b"a,b\r\n1,2", b"a,b\r", False, 1, False),  # no line end after the last record
        (codecs.BOM_UTF8 + b"a,b\n", b"a,b", False, 1, True),  # byte-order mark: not part of the header
        (b"", b"", True, 0, False),  # empty
        (b" \n\t\n", b" ", True, 2, True),  # only white space
        (codecs.BOM_UTF8, b"", True, 0, False),  # only a byte-order mark
    ],
)
def test_scan(tmp_path, data, first_line, blank, newlines, ends):
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    scan = scan_file(path, block=3)  # blocks smaller than a line: counts must not depend on them
    assert (scan.first_line, scan.blank, scan.newlines, scan.ends_with_newline) == (first_line, blank, newlines, ends)
    assert scan.sha256 == hashlib.sha256(data).hexdigest() and scan.size == len(data)


def test_byte_order_mark_keeps_columns_and_fingerprint(tmp_path, specs):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    data = codecs.BOM_UTF8 + (RAW / "dosing.csv").read_bytes()
    (raw / "dosing.csv").write_bytes(data)
    plain = read_raw(RAW, specs.raw["dosing"])
    marked = read_raw(raw, specs.raw["dosing"])
    assert list(marked.frame.columns) == list(plain.frame.columns)
    assert marked.frame.equals(plain.frame)
    assert (marked.sha256, marked.size) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize("change", ["appended", "rewritten in place"])
def test_a_file_changed_after_its_fingerprint_is_refused(tmp_path, specs, change):
    import os

    path = tmp_path / "dosing.csv"
    data = (RAW / "dosing.csv").read_bytes()
    path.write_bytes(data)
    scan = scan_file(path)  # as the fingerprint scans it, before the read
    assert read_raw(tmp_path, specs.raw["dosing"], scan).sha256 == scan.sha256  # unchanged: read with its scan
    if change == "appended":
        path.write_bytes(data + data.splitlines(keepends=True)[-1])
    else:  # same size, other bytes, a later modification time
        path.write_bytes(data.replace(b"01-", b"02-", 1))
        os.utime(path, ns=(scan.modified_ns + 10**9, scan.modified_ns + 10**9))
    with pytest.raises(StructuralError, match=r"^dosing\.csv: changed while the export read it"):
        read_raw(tmp_path, specs.raw["dosing"], scan)


def test_white_space_only_file_is_empty(tmp_path, specs):
    (tmp_path / "dosing.csv").write_bytes(b"\n  \n")
    with pytest.raises(StructuralError, match=r"dosing\.csv: empty file"):
        read_raw(tmp_path, specs.raw["dosing"])


def test_unbalanced_quote_reports_the_lines_it_swallowed(tmp_path, specs):
    """A quote that is never closed makes one record of every line up to the end: it is one field_count reject that
    names its line range, and the physical lines are counted, so the manifest cannot claim a short file."""
    header, *rows = (RAW / "dosing.csv").read_text().splitlines()
    rows = (rows * 20)[:30]
    rows[9] = rows[9].replace(",", ',"', 1)  # line 11: an opening quote, never closed
    (tmp_path / "dosing.csv").write_text("\n".join([header, *rows]) + "\n")
    raw = read_raw(tmp_path, specs.raw["dosing"])
    assert raw.lines == 30 and len(raw.frame) == 9 and raw.rows == 10
    assert raw.ragged[["line", "last"]].values.tolist() == [[11, 31]]
    (records,) = raw.ragged["records"]  # the record's fields, then those of each of its lines, parsed alone
    assert len(records) == 22 and records[1:] == [row.replace('"', "").split(",") for row in rows[9:]]
    assert raw.header == tuple(header.split(","))
    assert raw.lines_of(raw.frame.index) + raw.lines_of(pd.Index([11])) == raw.lines

    from flows.raw.validate import ragged_rejects

    message = ragged_rejects(raw)["message"].tolist()
    assert message == [
        "expected 10 fields, got 2 (one record over lines 11-31: 21 physical lines; an unbalanced quote?)"
    ]


def test_quoted_line_break_is_one_record_over_two_lines(tmp_path, specs):
    header, first, *rest = (RAW / "dosing.csv").read_text().splitlines()
    broken = first.rsplit(",", 1)[0] + ',"S103\n25"'  # a lot with a line break inside quotes
    (tmp_path / "dosing.csv").write_text("\n".join([header, broken, *rest[:3]]) + "\n")
    raw = read_raw(tmp_path, specs.raw["dosing"])
    assert list(raw.frame.index) == [2, 4, 5, 6] and raw.lines == 5 and raw.ragged.empty
    assert raw.lines_of(raw.frame.index) == 5


def test_lone_carriage_return_in_an_unquoted_field_names_line_and_column(tmp_path, specs):
    """A CR alone inside an unquoted field: Arrow ends the record there, Python's csv module refuses it. No reader
    agrees where the record ends, so the file is refused in one line naming the line and the column."""
    header, *rows = (RAW / "dosing.csv").read_text().splitlines()
    fields = rows[2].split(",")
    fields[-1] += "\rX"
    rows[2] = ",".join(fields)
    (tmp_path / "dosing.csv").write_text("\n".join([header, *rows]) + "\n", newline="")
    column = header.split(",")[-1]
    with pytest.raises(StructuralError) as caught:
        read_raw(tmp_path, specs.raw["dosing"])
    assert str(caught.value) == (
        f"dosing.csv: line 4: column {column}: a carriage return (CR) inside an unquoted field; quote the field, "
        "or end lines with LF or CRLF only"
    )


def test_quoted_carriage_return_is_text(tmp_path, specs):
    header, first, *rest = (RAW / "dosing.csv").read_text().splitlines()
    fields = first.split(",")
    fields[-1] = f'"{fields[-1]}\rX"'
    (tmp_path / "dosing.csv").write_text("\n".join([header, ",".join(fields), *rest[:3]]) + "\n", newline="")
    raw = read_raw(tmp_path, specs.raw["dosing"])
    assert list(raw.frame.index) == [2, 3, 4, 5] and raw.frame.iloc[0, -1].endswith("\rX")


def test_importing_flows_leaves_arrows_memory_pool_alone():
    """The jemalloc pool is the export's choice, made when it runs: importing the package changes nothing."""
    import os
    import subprocess
    import sys

    import pyarrow as pa

    code = (
        "import pyarrow as pa; before = pa.default_memory_pool().backend_name; "
        "import flows.run.pipeline, flows.raw.read; assert pa.default_memory_pool().backend_name == before, 'import'; "
        "flows.raw.read.use_returning_pool(); print(before, pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    try:
        pa.jemalloc_memory_pool()
        expected = "jemalloc"
    except NotImplementedError:  # a pyarrow built without it keeps its default
        expected = out.stdout.split()[0]
    assert out.stdout.split()[1] == expected


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16"])
def test_a_declared_encoding_reads_as_the_utf8_file_does(tmp_path, specs, encoding):
    import dataclasses

    from flows.spec.model import RawFormat

    text = (RAW / "eligibility.csv").read_text(encoding="utf-8").replace("INCL01,Y", "INCL01,é", 1)
    (tmp_path / "utf8").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "utf8" / "eligibility.csv").write_text(text, encoding="utf-8")
    (tmp_path / "other" / "eligibility.csv").write_text(text.replace("\n", "\r\n"), encoding=encoding, newline="")
    contract = specs.raw["eligibility"]
    declared = dataclasses.replace(contract, format=RawFormat(encoding=encoding))
    want, got = read_raw(tmp_path / "utf8", contract), read_raw(tmp_path / "other", declared)
    pd.testing.assert_frame_equal(got.frame, want.frame)
    assert got.frame.loc[2, "met"] == "é" and got.lines == want.lines


def test_columns_are_found_by_their_name_in_the_file(tmp_path, specs):
    import dataclasses

    from flows.spec.model import RawFormat

    contract = specs.raw["eligibility"]
    named = {"site": "SITENO", "subject": "SUBJNO", "criterion": "IETESTCD", "met": "IEORRES", "date": "IEDAT"}
    columns = tuple(dataclasses.replace(c, source=named[c.name]) for c in contract.columns)
    vendor = dataclasses.replace(contract, columns=columns, format=RawFormat(delimiter="|", quote="'"))
    lines = (RAW / "eligibility.csv").read_text().splitlines()
    header = "|".join(named[c] for c in lines[0].split(","))
    (tmp_path / "eligibility.csv").write_text("\n".join([header, *(x.replace(",", "|") for x in lines[1:])]) + "\n")
    got, want = read_raw(tmp_path, vendor), read_raw(RAW, contract)
    pd.testing.assert_frame_equal(got.frame, want.frame)
    assert got.header == ("site", "subject", "criterion", "met", "date")


def test_text_not_in_the_declared_encoding_names_the_line(tmp_path, specs):
    import dataclasses

    from flows.spec.model import RawFormat

    (tmp_path / "eligibility.csv").write_bytes(
        (RAW / "eligibility.csv").read_bytes().replace(b"INCL02", b"\xff\xfe\xff", 1)
    )
    declared = dataclasses.replace(specs.raw["eligibility"], format=RawFormat(encoding="utf-16"))
    with pytest.raises(StructuralError) as err:
        read_raw(tmp_path, declared)
    assert str(err.value).startswith("eligibility.csv: line ") and "not utf-16 text" in str(err.value)


def test_a_lone_cr_is_refused_even_when_a_blank_line_evens_the_count(tmp_path, specs):
    """A CR alone ending line 10 and an empty line 31: Arrow's records and the file's LF count agree by chance, so
    the line numbers would shift by one; the lone CR sends the file to the line-by-line reader, which refuses it."""
    lines = (RAW / "assessments.csv").read_bytes().split(b"\n")
    lines[9] = lines[9] + b"\r" + lines[10]
    del lines[10]
    lines.insert(30, b"")
    (tmp_path / "assessments.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(StructuralError) as err:
        read_raw(tmp_path, specs.raw["assessments"])
    assert str(err.value).startswith("assessments.csv: line 10: column ") and "carriage return" in str(err.value)


def test_a_link_out_of_the_raw_folder_is_not_read(tmp_path, specs):
    outside = tmp_path / "secret.csv"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    (raw / "dosing.csv").unlink()
    (raw / "dosing.csv").symlink_to(outside)
    with pytest.raises(StructuralError) as err:
        read_raw(raw, specs.raw["dosing"])
    assert str(err.value) == f"dosing.csv: is a link to {outside}, outside the raw folder {raw}: not read"
    assert "root:x" not in str(err.value)


@pytest.mark.parametrize("last_site", ["01", "02"])
def test_a_column_of_one_value_is_held_as_one_block(tmp_path, specs, last_site):
    """The site of a one-site study, on every row of a long file, is one block of memory repeated, not a copy per
    row; a column with another value anywhere (here its last row) is held as read. The values are the same."""
    from flows.kernel.pandas_arrow import arrow_data

    header, *rows = (RAW / "assessments.csv").read_text().splitlines()
    rows = rows * 40  # 159,680 rows: past two blocks of constant_text
    rows[-1] = last_site + rows[-1][2:]
    (tmp_path / "assessments.csv").write_text("\n".join([header, *rows]) + "\n")
    frame = read_raw(tmp_path, specs.raw["assessments"]).frame
    assert len(frame) == len(rows) and frame["site"].iloc[-1] == last_site
    assert frame["site"].tolist() == [r[:2] for r in rows] and frame["site"].dtype == frame["subject"].dtype
    blocks = {c.buffers()[2].address for c in arrow_data(frame["site"]).chunks}
    assert (len(blocks) == 1) == (last_site == "01")  # one block for one value; as read (chunks of its own) else
    assert len({c.buffers()[2].address for c in arrow_data(frame["subject"]).chunks}) > 1


def test_files_held_compact_as_read_give_back_the_rows_read(specs):
    plain, _ = read_raws(RAW, specs.raw)
    held, problems = read_raws(RAW, specs.raw, hold=True)
    assert not problems and list(held) == list(plain)
    for name, raw in held.items():
        assert isinstance(raw.held, Held) and raw.frame.empty
        assert list(raw.frame.columns) == list(plain[name].frame.columns)
        assert list(raw.frame.dtypes) == list(plain[name].frame.dtypes)
        pd.testing.assert_frame_equal(raw.text(), plain[name].frame)
        assert raw.rows == plain[name].rows and raw.text() is not plain[name].frame
        gone = raw.without_rows()
        assert gone.held is None and gone.rows == raw.rows and gone.text().empty

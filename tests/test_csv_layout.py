"""flows.tools.csv_layout: the S103 sample as a vendor exports it (`;`, BOM, CRLF, DDMONYYYY, decimal comma, coded
answers, other column names), written the same way every time; bad input in that layout is one line naming file,
line, column and the format expected. (tests/test_edc_layouts.py: it exports the same SDTM as raw/.)"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from flows.tools.csv_layout import ddmonyyyy, write_csv_layout
from tests.conftest import RAW, ROOT, run_cli

LAYOUT = ROOT / "tests" / "studies" / "S103-csv"


def test_the_committed_layout_is_what_the_converter_writes(tmp_path):
    out = tmp_path / "S103-csv"
    write_csv_layout(RAW, ROOT / "specs", out)
    for folder in ("raw", "specs/raw"):
        made, kept = (
            sorted(p.name for p in (out / folder).iterdir()),
            sorted(p.name for p in (LAYOUT / folder).iterdir()),
        )
        assert made == kept
        assert all(filecmp.cmp(out / folder / n, LAYOUT / folder / n, shallow=False) for n in made), folder
    assert "extends: " in (out / "specs" / "layout.yaml").read_text()  # relative to where it is written


def test_the_vendor_file_is_what_it_says():
    data = (LAYOUT / "raw" / "ENROLLMENT.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfSITENO;SUBJNO;INITIALS;SEX;BIRTH_DATE;")
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    first = data.split(b"\r\n")[1].decode().split(";")
    assert first[:5] == ["01", "0001", "SG", "1", "26AUG1984"] and first[11] == "65,9"  # sex M, weight 65.9


@pytest.mark.parametrize(("iso", "written"), [("1979-02", "UNFEB1979"), ("1995", "UNUNK1995"), ("", "")])
def test_ddmonyyyy(iso, written):
    assert ddmonyyyy(iso) == written


def _vendor_copy(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(LAYOUT / "raw", raw)
    return raw


def test_a_date_not_in_its_format_is_a_reject_naming_the_format(tmp_path):
    raw = _vendor_copy(tmp_path)
    path = raw / "ENROLLMENT.csv"
    path.write_bytes(path.read_bytes().replace(b";21MAY2025;", b";2025/05/21;", 1))
    proc = run_cli("export", "--specs", str(LAYOUT / "specs"), "--raw", str(raw), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    line = next(x for x in proc.stderr.splitlines() if "2025/05/21" in x)
    assert "ENROLLMENT.csv:2: consent_date='2025/05/21'" in line and "must be a valid DDMONYYYY" in line


def test_a_file_in_another_dialect_says_which_delimiter_to_declare(tmp_path):
    raw = _vendor_copy(tmp_path)
    specs = tmp_path / "specs"
    shutil.copytree(LAYOUT / "specs", specs)
    (specs / "layout.yaml").write_text(f"extends: {ROOT / 'specs'}\n")
    contract = specs / "raw" / "dosing.yaml"
    contract.write_text(contract.read_text().replace("delimiter: ;, encoding: utf-8, decimal: ','", "delimiter: ','"))
    proc = run_cli("export", "--specs", str(specs), "--raw", str(raw), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: DOSING.csv: line 1 is one column holding ';': declare delimiter ';'? "
        "(contract dosing.yaml format.delimiter is ',')"
    )


def test_the_assessments_are_one_form_per_instrument_and_qs_reads_two():
    forms = {
        n: (LAYOUT / "raw" / f"{n}.csv").read_text(encoding="utf-8-sig").splitlines() for n in ("MGADL", "QMG", "MGFA")
    }
    assert {line.split(";")[4] for line in forms["MGADL"][1:]} == {"MG-ADL"}
    assert [len(lines) - 1 for lines in forms.values()] == [1539, 2394, 59]  # raw/assessments.csv's 3,992 rows
    qs = (LAYOUT / "specs" / "sdtm" / "qs.yaml").read_text()
    assert (
        "  from: [mgadl, qmg]\n" in qs
        and qs.replace("  from: [mgadl, qmg]\n", "  from: assessments\n")
        == (ROOT / "specs" / "sdtm" / "qs.yaml").read_text()
    )

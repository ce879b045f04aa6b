"""flows.tools.ct_extract: the study's CT copied from the NCI EVS release, from any folder; a broken selection file
is one line naming it, with line and column."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.kernel.errors import SpecError
from flows.tools.ct_extract import extract_ct
from tests.conftest import ROOT

SELECTION = ROOT / "specs" / "ct" / "selection.yaml"
RELEASE = ROOT.parent / "shared" / "reference" / "ct" / "sdtm-ct-2025-03-28.tsv"


@pytest.mark.skipif(not RELEASE.is_file(), reason="needs ../shared beside the repository (the NCI EVS release)")
def test_from_another_folder_it_writes_the_committed_file(tmp_path):
    out = tmp_path / "sdtm-ct.yaml"
    cmd = [sys.executable, "-m", "flows", "ct-extract", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (ROOT / "specs" / "ct" / "sdtm-ct.yaml").read_bytes()


@pytest.mark.skipif(not RELEASE.is_file(), reason="needs ../shared beside the repository (the NCI EVS release)")
def test_a_codelist_keeps_its_nci_codes():
    data = extract_ct(SELECTION)
    ny = {t["value"]: t["code"] for t in data["codelists"]["NY"]["terms"]}
    assert data["codelists"]["NY"]["code"] == "C66742" and ny["Y"] == "C49488" and ny["N"] == "C49487"


def test_a_yaml_error_names_the_selection_file_line_and_column(tmp_path):
    broken = tmp_path / "selection.yaml"
    broken.write_text('release: "2025-03-28"\ncodelists: {NY: all, SEX: [M, F}\n', encoding="utf-8")
    with pytest.raises(SpecError) as err:
        extract_ct(broken)
    assert str(err.value).startswith(f"{broken}: line 2, column ") and "not valid YAML" in str(err.value)


def test_a_missing_release_names_where_it_was_looked_for(tmp_path):
    selection = tmp_path / "specs" / "ct" / "selection.yaml"
    selection.parent.mkdir(parents=True)
    selection.write_text("release: '2025-03-28'\nsource: nowhere/ct.tsv\ncodelists: {NY: all}\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"nowhere/ct.tsv: the NCI EVS CT release is not there"):
        extract_ct(selection)

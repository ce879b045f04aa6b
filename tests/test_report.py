"""Tests of flows/schedule/report.py: the run's Markdown says what was read, rejected and written, and where it went."""

from __future__ import annotations

import pandas as pd

from flows.raw.validate import Validation
from flows.schedule.report import run_report

REJECTS = pd.DataFrame(
    {"file": ["dosing.csv"] * 3, "line": [3, 3, 7], "column": ["dose", "lot", "dose"], "value": ["", "", "x"],
     "rule": ["required", "required", "type"], "message": ["", "", ""]}
)  # fmt: skip
VALIDATION = Validation(valid={}, rejects=REJECTS, counts={"dosing": {"read": 24, "valid": 22, "rejected": 2}})
MANIFEST = {
    "inputs": {"dosing.csv": {"sha256": "f88068d9d724aaaa", "bytes": 1927}},
    "outputs": {"xpt/ex.xpt": {"rows": 22}, "rejects.csv": {"rows": 3}},
}


def test_published_run_lists_read_rejected_written_and_the_transfer(tmp_path):
    (tmp_path / "define.xml").write_text("<ODM/>")
    text = run_report(
        "CART-X", "Published T1", validation=VALIDATION, manifest=MANIFEST, transfer=tmp_path,
        fingerprint="sha256:abc", files={"dosing": "dosing.csv"},
    )  # fmt: skip
    assert text.startswith("# Export of CART-X\n\n**Published T1**\n")
    assert f"Transfer: `{tmp_path}`" in text and "`sha256:abc`" in text
    assert "| dosing.csv | 24 | 22 | 2 | 1927 | f88068d9d724 |" in text  # read, valid, rejected, bytes, sha256
    assert "| required | 2 |" in text and "| type | 1 |" in text  # reject records by rule
    assert "| xpt/ex.xpt | 22 |" in text and "Also in the transfer: `define.xml`" in text


def test_run_that_published_nothing_says_so():
    text = run_report("CART-X", "Unchanged since T1")
    assert "**Unchanged since T1**" in text and "Nothing published by this run." in text
    assert "## " not in text  # no sections for steps that did not run

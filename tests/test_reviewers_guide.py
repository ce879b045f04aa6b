"""Tests of flows/transfer/reviewers_guide.py: the sample transfer's documents/csdrg.html parsed with html.parser
against the transfer's XPT files (pyreadstat), its manifest and specs/conformance.yaml."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from flows.spec.model import Study
from flows.transfer.reviewers_guide import affected_subjects, render_reviewers_guide


class Tables(HTMLParser):
    """Headings and table rows (cell texts) of an HTML page; any script tag is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.rows: list[list[str]] = []
        self.scripts = 0
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag in ("h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        if tag in ("h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data):
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)


def parse(text: str) -> Tables:
    parser = Tables()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def transfer(sample_export) -> Path:
    return sample_export[1]


@pytest.fixture(scope="module")
def guide(transfer) -> Tables:
    return parse((transfer / "documents" / "csdrg.html").read_text(encoding="utf-8"))


def xpt(transfer: Path, domain: str) -> pd.DataFrame:
    frame, _ = pyreadstat.read_xport(str(transfer / "xpt" / f"{domain.lower()}.xpt"))
    return frame


def test_the_sections_of_the_cSDRG_template(guide):
    top = [h for h in guide.headings if h[0].isdigit() and "." not in h.split()[0]]
    assert top == [
        "1 Introduction",
        "2 Protocol Description",
        "3 Subject Data Description",
        "4 Data Conformance Summary",
        "5 Data Flow",
        "6 Appendix",
    ]
    assert "1.2 Study Data Standards and Dictionary Inventory" in guide.headings
    assert guide.scripts == 0


def test_every_dataset_with_its_record_count_in_the_transfer(guide, transfer):
    listed = {row[0]: row for row in guide.rows if len(row) == 6 and row[0] != "Dataset"}
    domains = sorted(p.stem.upper() for p in (transfer / "xpt").glob("*.xpt"))
    assert sorted(listed) == domains
    for domain in domains:
        frame = xpt(transfer, domain)
        subjects = str(frame["USUBJID"].nunique()) if "USUBJID" in frame else ""
        assert listed[domain][4:] == [str(len(frame)), subjects], domain


def test_standards_and_versions(guide, specs):
    rows = {row[0]: row[1] for row in guide.rows if len(row) == 2}
    assert rows["SDTM Implementation Guide (SDTMIG)"] == "3.4"
    assert rows["CDISC/NCI SDTM Controlled Terminology"] == specs.ct_release == "2025-03-28"
    assert rows["Define-XML"] == "2.1"
    assert rows["MedDRA"] == str(specs.study.lookup("safety.dictionary.version"))


def test_fb3401_is_explained_with_the_ongoing_subjects(guide, transfer, specs):
    (row,) = [row for row in guide.rows if row[0] == "FB3401"]
    finding = specs.conformance["findings"][0]
    assert row[4] == " ".join(finding["explanation"].split())
    ae, ds = xpt(transfer, "AE"), xpt(transfer, "DS")
    ongoing = sorted(set(ds["USUBJID"]) - set(ds.loc[ds["DSCAT"] == "DISPOSITION EVENT", "USUBJID"]))
    last_ds = ds.groupby("USUBJID")["DSSTDTC"].max()
    later = sorted({u for u, d in zip(ae["USUBJID"], ae["AESTDTC"], strict=True) if d[:10] > last_ds[u][:10]})
    # the six DL4 subjects still in follow-up at the data-as-of date: every one of them is ongoing (no end of study)
    assert later == [f"CART-20250321-01-00{n}" for n in (27, 28, 30, 31, 32, 34)]
    assert set(later) <= set(ongoing)
    assert row[3] == f"6: {', '.join(later)}"


def test_data_flow_counts_come_from_the_manifest(guide, transfer, specs):
    manifest = json.loads((transfer / "manifest.json").read_text())
    rows = {row[0]: row for row in guide.rows if len(row) == 9 and row[0] != "Raw file"}
    for file, counts in manifest["inputs"].items():
        keys = ("read", "valid", "rejected", "cut", "tabulated", "not_tabulated")
        assert rows[file][2:8] == [str(counts[k]) for k in keys], file
    assert rows["enrollment.csv"][1] == "DM, DS, VS"  # the weight at screening: VS
    assert rows["assessments.csv"][1] == "QS, RS, SV"


def test_not_submitted_fields_in_the_appendix(guide):
    rows = {(row[0], row[1]): row[3] for row in guide.rows if len(row) == 4 and row[0] != "Raw file"}
    assert rows[("enrollment.csv", "initials")] == "personal data, never output"
    assert ("adverse_events.csv", "verbatim_term") not in rows


def test_text_is_escaped_and_bytes_are_stable(transfer, specs):
    datasets = {d: xpt(transfer, d) for d in ("AE", "DS", "DM")}
    manifest = json.loads((transfer / "manifest.json").read_text())
    title = '<script>alert("x")</script> & co'
    study = Study({**specs.study.data, "title": title}, specs.study.path)
    text = render_reviewers_guide(datasets, dataclasses.replace(specs, study=study), manifest)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert parse(text).scripts == 0
    assert text == render_reviewers_guide(datasets, dataclasses.replace(specs, study=study), manifest)
    assert manifest["run_at"] not in text and manifest["transfer"] not in text  # no clock in the guide


@pytest.mark.parametrize(
    "ae, ds, expected",
    [
        ([("S1", "2025-07-01")], [("S1", "2025-06-01"), ("S1", "2025-06-20")], ["S1"]),  # after the last DS
        ([("S1", "2025-06-20T10:00")], [("S1", "2025-06-20")], []),  # the same day: not after
        ([("S1", "2025-06-01")], [("S1", "2025-05-01"), ("S1", "2025-12-31")], []),  # an end-of-study record later
        ([("S2", "2025-07-01")], [("S1", "2025-06-01")], []),  # no DS record: nothing to compare with
    ],
)
def test_affected_subjects(ae, ds, expected):
    datasets = {
        "AE": pd.DataFrame(ae, columns=["USUBJID", "AESTDTC"]),
        "DS": pd.DataFrame(ds, columns=["USUBJID", "DSSTDTC"]),
    }
    assert affected_subjects(datasets, {"later": "AE.AESTDTC", "than_last": "DS.DSSTDTC"}) == expected


def test_links_to_the_transfer_documents_resolve(transfer):
    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.hrefs.append(dict(attrs)["href"])

    links = Links()
    links.feed((transfer / "documents" / "csdrg.html").read_text(encoding="utf-8"))
    assert links.hrefs == ["../define.xml", "../acrf.pdf", "../summary.html"]
    assert all((transfer / "documents" / href).resolve().is_file() for href in links.hrefs)

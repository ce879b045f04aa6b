"""Tests of flows/transfer/acrf.py: the sample transfer's acrf.pdf read back with pypdf (text with its font and
position, the outline) against the datasets of the transfer (pyreadstat) and define.xml (ElementTree)."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pyreadstat
import pytest
from pypdf import PdfReader

from flows.run.pipeline import run_export
from flows.transfer.acrf import NOTE_X, write_acrf
from tests.conftest import RAW

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
HEAD = re.compile(r"(?:(?P<domain>[A-Z][A-Z0-9]{1,7})\.)?(?P<var>[A-Z][A-Z0-9]{0,7})(?: in (?P<supp>SUPP[A-Z]{2}))?")
BOX = re.compile(r"(?P<domain>[A-Z][A-Z0-9]{1,7}) \((?P<label>.+)\)")


def page_texts(pdf: Path) -> list[list[tuple[float, str, float, str]]]:
    """Every page's text pieces: (x, font, size, text), in drawing order."""
    pages = []
    for page in PdfReader(pdf).pages:
        pieces = []

        def visit(text, cm, tm, font, size, pieces=pieces):
            if text.strip():
                pieces.append((tm[4], (font or {}).get("/BaseFont", ""), size, text.strip()))

        page.extract_text(visitor_text=visit)
        pages.append(pieces)
    return pages


@pytest.fixture(scope="module")
def transfer(sample_export) -> Path:
    return sample_export[1]


@pytest.fixture(scope="module")
def pages(transfer: Path):
    return page_texts(transfer / "acrf.pdf")


@pytest.fixture(scope="module")
def columns(transfer: Path) -> dict[str, list[str]]:
    """Each dataset of the transfer and its variables, read from its XPT file."""
    out = {}
    for path in sorted((transfer / "xpt").glob("*.xpt")):
        _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
        out[path.stem.upper()] = list(meta.column_names)
    return out


def heads(page) -> list[str]:
    """The first line of each annotation box: bold 8-point text in the annotation column, below its title."""
    return [t for x, font, size, t in page if x >= NOTE_X and font.endswith("Bold") and t != "SDTM annotation"]


def boxes(page) -> list[str]:
    """The datasets at the top of the page: bold 10-point text."""
    return [t for _, font, size, t in page if font.endswith("Bold") and size == 10]


def test_every_annotation_names_a_dataset_and_variable_of_the_transfer(pages, columns, transfer):
    supp_qnams = {}
    for name in (n for n in columns if n.startswith("SUPP")):
        frame, _ = pyreadstat.read_xport(str(transfer / "xpt" / f"{name.lower()}.xpt"))
        supp_qnams[name] = set(frame["QNAM"])
    annotations = 0
    for number, page in enumerate(pages, start=1):
        datasets = []
        for box in boxes(page):
            m = BOX.fullmatch(box)
            if box != "NOT SUBMITTED":
                assert m and m["domain"] in columns, (number, box)
                datasets.append(m["domain"])
        for head in heads(page):
            annotations += 1
            if head == "[NOT SUBMITTED]":
                continue
            m = HEAD.fullmatch(head)
            assert m, (number, head)
            if m["supp"]:
                assert m["var"] in supp_qnams[m["supp"]], (number, head)
            elif m["domain"]:  # a page of several datasets: DOMAIN.VARIABLE
                assert m["domain"] in datasets and m["var"] in columns[m["domain"]], (number, head)
            else:  # a page of one dataset: the variable alone
                assert len(datasets) == 1 and m["var"] in columns[datasets[0]], (number, head)
        for _, _, _, text in page:  # a condition names a variable of the same dataset: 'when QSCAT in (...)'
            if text.startswith("when ") and re.match(r"when [A-Z]", text):
                var = text.split()[1]
                assert any(var in columns[d] for d in datasets), (number, text)
    assert annotations >= 60  # every raw column of the sample has at least one


@pytest.mark.parametrize(
    "oid, field, head",
    [
        ("IT.AE.AETERM", "verbatim_term", "AETERM"),  # the AE form: one dataset, bare names
        ("IT.DM.SEX", "sex", "DM.SEX"),  # enrollment feeds DM and DS: DOMAIN.VARIABLE
        ("IT.DS.DSSTDTC", "consent_date", "DS.DSSTDTC"),  # an unpivoted date: its form's page
        ("IT.QS.QSORRES", "result", "QS.QSORRES"),
        ("IT.EX.EXSTDTC", "start", "EX.EXSTDTC"),  # dosing feeds EX and SUPPEX: DOMAIN.VARIABLE
    ],
)
def test_pdfpageref_is_the_page_that_shows_the_field(transfer, pages, oid, field, head):
    root = ET.parse(transfer / "define.xml").getroot()
    item = root.find(f".//odm:ItemDef[@OID='{oid}']", NS)
    ref = item.find("def:Origin/def:DocumentRef/def:PDFPageRef", NS)
    assert ref.get("Type") == "PhysicalRef"
    for number in (int(p) for p in ref.get("PageRefs").split()):
        page = pages[number - 1]
        assert field in [t for _, _, _, t in page] and head in heads(page), (oid, number)


def test_every_collected_origin_points_at_pages_annotated_with_its_variable(transfer, pages):
    root = ET.parse(transfer / "define.xml").getroot()
    collected = 0
    for item in root.iter(f"{{{NS['odm']}}}ItemDef"):
        origin = item.find("def:Origin", NS)
        if origin.get("Type") != "Collected":
            continue
        collected += item.get("OID").count(".") == 2  # variables; their value-level items take their pages
        domain, var, *qnam = item.get("OID").split(".")[1:]
        ref = origin.find("def:DocumentRef[@leafID='LF.acrf']/def:PDFPageRef", NS)
        shown = {var, f"{domain}.{var}"} | ({f"{qnam[0]} in {domain}"} if domain.startswith("SUPP") else set())
        for number in (int(p) for p in ref.get("PageRefs").split()):
            assert shown & set(heads(pages[number - 1])), (item.get("OID"), number)
    assert collected == 46  # the Collected variables of the specs, VS and the MedDRA terms (Assigned) included


def test_bookmarks_per_form_and_per_dataset(transfer, specs, pages):
    reader = PdfReader(transfer / "acrf.pdf")
    *forms, datasets, children = reader.outline
    marks = [(m.title, reader.get_destination_page_number(m) + 1) for m in forms]
    assert [t for t, _ in marks] == [f"{c.name.replace('_', ' ').capitalize()} ({c.file})" for c in specs.raw.values()]
    for (title, number), contract in zip(marks, specs.raw.values(), strict=True):
        assert f"Form {contract.name}: raw file {contract.file}" in [t for _, _, _, t in pages[number - 1]], title
    assert len(reader.pages) == 8  # adverse events and enrollment take two pages each
    # by dataset: each at the first page whose annotations name it (bare on a one-dataset page, else DOMAIN.VAR)
    assert datasets.title == "Datasets"
    by_dataset = {m.title.split()[0]: reader.get_destination_page_number(m) + 1 for m in children}
    # the AE form (its MedDRA hierarchy) takes pages 1-2
    assert by_dataset == {"AE": 1, "DM": 6, "DS": 6, "EX": 4, "SUPPEX": 4, "VS": 4, "IE": 5, "QS": 3, "RS": 3, "SV": 3}
    for domain, number in by_dataset.items():
        page_boxes = boxes(pages[number - 1])
        assert any(b.startswith(f"{domain} (") for b in page_boxes)
        assert all(not any(b.startswith(f"{domain} (") for b in boxes(p)) for p in pages[: number - 1])


@pytest.mark.parametrize(
    "form, page_field, expected",
    [
        ("enrollment", "initials", "personal data, never output"),  # pii
        ("adverse_events", "meddra_version", "collected; no SDTM variable in this transfer takes it"),  # checked
        ("dosing", "planned_level", "collected to check other fields; no SDTM variable in this transfer takes it"),
    ],
)
def test_not_submitted_fields_say_why(pages, form, page_field, expected):
    for page in pages:
        texts = [t for _, _, _, t in page]
        if page_field in texts and any(t.startswith(f"Form {form}:") for t in texts):
            at = texts.index(page_field)
            following = " ".join(t for x, _, _, t in page[at:] if x >= NOTE_X)
            assert following.startswith(f"[NOT SUBMITTED] {expected}")
            return
    pytest.fail(f"{page_field} on no page")


def test_listed_hashed_and_zipped(transfer):
    digest = hashlib.sha256((transfer / "acrf.pdf").read_bytes()).hexdigest()
    manifest = json.loads((transfer / "manifest.json").read_text())
    assert manifest["outputs"]["acrf.pdf"] == {"pages": len(PdfReader(transfer / "acrf.pdf").pages), "sha256": digest}
    assert f"{digest}  acrf.pdf" in (transfer / "SHA256SUMS").read_text().splitlines()
    (archive,) = transfer.glob("*.zip")
    with zipfile.ZipFile(archive) as zf:
        assert hashlib.sha256(zf.read("acrf.pdf")).hexdigest() == digest


def test_two_exports_give_the_same_bytes(transfer, specs, tmp_path):
    again = run_export(RAW, tmp_path, specs, force=True)
    assert (again.transfer / "acrf.pdf").read_bytes() == (transfer / "acrf.pdf").read_bytes()
    guide = "documents/csdrg.html"  # the reviewer's guide too: nothing of the clock in it
    assert (again.transfer / guide).read_bytes() == (transfer / guide).read_bytes()
    assert write_acrf(specs, tmp_path / "a.pdf") == write_acrf(specs, tmp_path / "b.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def test_a_long_form_continues_on_the_next_pages_with_its_datasets(specs, tmp_path):
    """The AE form with 80 more (unmapped) fields and one question of 120 lines: every field is on a page, the
    question too long for any page is drawn alone on a fresh one (running off it) rather than lost."""
    import dataclasses

    ae = specs.raw["adverse_events"]
    extra = [
        dataclasses.replace(ae.columns[3], name=f"extra_{i:02d}", description=f"Extra question {i}") for i in range(80)
    ]
    tall = dataclasses.replace(ae.columns[3], name="tall", description=" ".join(["word"] * 1200))
    contract = dataclasses.replace(ae, columns=(*ae.columns, *extra, tall))
    long_specs = dataclasses.replace(specs, raw={**specs.raw, "adverse_events": contract})
    where = write_acrf(long_specs, tmp_path / "long.pdf")
    pages = page_texts(tmp_path / "long.pdf")
    form = where.forms["adverse_events"]
    assert len(form) >= 4 and form == tuple(range(1, len(form) + 1))
    for number in form[1:]:
        texts = [t for _, _, _, t in pages[number - 1]]
        assert "Adverse events (continued)" in texts and "AE (Adverse Events)" in boxes(pages[number - 1])
    for i in range(80):
        assert f"extra_{i:02d}" in [t for _, _, _, t in pages[where.fields[("adverse_events", f"extra_{i:02d}")] - 1]]
    tall_page = [t for _, _, _, t in pages[where.fields[("adverse_events", "tall")] - 1]]
    assert "tall" in tall_page and where.fields[("adverse_events", "tall")] == form[-1]
    assert where.forms["assessments"] == (form[-1] + 1,)  # the next form starts on a page of its own


def test_a_collected_supplemental_qualifier_is_annotated_in_its_supp_dataset(specs, tmp_path):
    import dataclasses

    supp = specs.sdtm["SUPPAE"]
    how = dict(supp.records["supplemental"])
    extra = {"qnam": "AETRMX", "qlabel": "Verbatim Term Copy", "qorig": "Collected", "map": {"assign": "verbatim_term"}}
    how["qualifiers"] = [*how["qualifiers"], extra]
    supp = dataclasses.replace(supp, records={"supplemental": how})
    where = write_acrf(dataclasses.replace(specs, sdtm={**specs.sdtm, "SUPPAE": supp}), tmp_path / "supp.pdf")
    page = where.fields[("adverse_events", "verbatim_term")]
    assert where.variables["SUPPAE.AETRMX"] == (page,) == where.variables["AE.AETERM"]
    assert "AETRMX in SUPPAE" in heads(page_texts(tmp_path / "supp.pdf")[page - 1])


@pytest.mark.parametrize(
    "text, width, expected",
    [
        ("string, required", 200, ["string, required"]),
        ("", 100, [""]),  # an empty cell keeps its line
        (
            "pattern ^[A-Z0-9](?:[A-Z0-9-]{0,18}[A-Z0-9])?$",
            130,
            ["pattern", "^[A-Z0-9](?:[A-Z0-9-]{0,18}[A-Z0-9]", ")?$"],
        ),
    ],
)
def test_lines_wrap_at_spaces_and_cut_a_word_wider_than_the_column(text, width, expected):
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from flows.transfer.acrf import FONT, SIZE, _lines

    lines = _lines(text, width)
    assert lines == expected and "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(stringWidth(line, FONT, SIZE) <= width - 6 for line in lines)

"""acrf.pdf: the annotated CRF of a transfer, from the raw contracts (one contract = one CRF form, a page or more)
and the mappings of specs/sdtm (which dataset and variable each field feeds), in the CDISC aCRF style of SDTM-MSG
2.0: the form's datasets in boxes at the top, each field's variables beside it, NOT SUBMITTED with the reason.

Written with reportlab's invariant mode (fixed creation date and document ID): the same specs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from flows.mapping.annotations import Annotation, Field, column_annotations, not_submitted_because
from flows.spec.model import RawColumn, RawContract, Specs

ACRF = "acrf.pdf"
WIDTH, HEIGHT = A4
MARGIN = 36
FONT, BOLD, SIZE, LEADING = "Helvetica", "Helvetica-Bold", 8, 10
# (title, width) of the table's columns; the annotations take the rest of the page
COLUMNS = (("Question", 150), ("Field", 88), ("Type and values", 130))
NOTE_X = MARGIN + sum(w for _, w in COLUMNS)
NOTE_W = WIDTH - MARGIN - NOTE_X
PALETTE = ("#BFE3FF", "#FFF2B3", "#C9F2C7", "#F9D0E6", "#E0D4FF", "#FFD8B8")  # one per dataset of a page
NOT_SUBMITTED, NOT_SUBMITTED_TEXT = "#DDDDDD", "[NOT SUBMITTED]"
MAX_TERMS = 12  # a longer codelist shows its first terms and its size


@dataclass(frozen=True)
class AcrfPages:
    """Where acrf.pdf shows each form and field: physical page numbers, from 1."""

    forms: Mapping[str, tuple[int, ...]]  # contract name -> its pages
    fields: Mapping[Field, int]  # (contract name, column) -> the page of its row
    count: int

    variables: Mapping[str, tuple[int, ...]]  # DOMAIN.VARIABLE (SUPP--.QNAM) -> the pages of its annotated fields


def form_title(contract: RawContract) -> str:
    """'Adverse events' for adverse_events."""
    return contract.name.replace("_", " ").capitalize()


def values_text(col: RawColumn, specs: Specs) -> str:
    """What a field may hold: its type, requiredness, codelist or allowed values, range, pattern, written form."""
    parts = [f"{col.type}, {'required' if col.required else 'optional'}"]
    if col.codelist:
        cl = specs.codelists[col.codelist]
        terms = list(col.values) if col.values else [t.value for t in cl.terms]
        parts.append(f"CT {cl.name} (NCI {cl.code}): {_terms(terms)}")
    elif col.values:
        parts.append(f"one of: {_terms(list(col.values))}")
    if col.values_from:
        parts.append(f"one of ({col.values_from}): {_terms(specs.study.allowed(col.values_from))}")
    if col.min is not None or col.max is not None:
        parts.append(f"from {_number(col.min)} to {_number(col.max)}")
    if col.pattern:
        parts.append(f"pattern {col.pattern}")
    if col.format:
        parts.append(f"written {col.format}")
    if col.decode:
        parts.append("coded " + ", ".join(f"{k} = {v}" for k, v in col.decode.items()))
    return "; ".join(parts)


def _terms(terms: list[str]) -> str:
    shown = ", ".join(str(t) for t in terms[:MAX_TERMS])
    return shown if len(terms) <= MAX_TERMS else f"{shown}, ... ({len(terms)} terms)"


def _number(value: float | None) -> str:
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else str(value)


def _lines(text: str, width: float, font: str = FONT) -> list[str]:
    """The text wrapped at spaces to the width; a word wider than it (a pattern) is cut where it must be."""
    limit = width - 6
    out = []
    for line in simpleSplit(text, font, SIZE, limit) or [""]:
        while stringWidth(line, font, SIZE) > limit:
            cut = max(1, next(i for i in range(len(line), 0, -1) if stringWidth(line[:i], font, SIZE) <= limit))
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


class _Writer:
    """The canvas and where the pen is; one page after another."""

    def __init__(self, path: Path, specs: Specs) -> None:
        self.specs = specs
        self.canvas = Canvas(str(path), pagesize=A4, invariant=1, pageCompression=1)
        study = specs.study
        self.canvas.setTitle(f"Annotated CRF, study {study.studyid}")
        self.canvas.setAuthor(str(study.data.get("sponsor", study.studyid)))
        self.canvas.setSubject(f"SDTM annotations (SDTMIG {study.lookup('sdtm.ig_version')}) of the CRF forms")
        self.canvas.setCreator("s103-sdtm")
        self.page = 0
        self.y = 0.0

    def new_page(self, contract: RawContract, datasets: list[str], continued: bool = False) -> None:
        if self.page:
            self.canvas.showPage()
        self.page += 1
        c, study = self.canvas, self.specs.study
        c.setFont(FONT, 7)
        c.drawString(MARGIN, HEIGHT - 24, f"{study.studyid}: {study.data.get('title', '')}"[:130])
        c.drawRightString(WIDTH - MARGIN, 20, f"Page {self.page}")
        c.drawString(MARGIN, 20, f"Form {contract.name}: raw file {contract.file}")
        c.setFont(BOLD, 13)
        c.drawString(MARGIN, HEIGHT - 46, form_title(contract) + (" (continued)" if continued else ""))
        self.y = HEIGHT - 58
        c.setFont(FONT, SIZE)
        for line in _lines(contract.description, WIDTH - 2 * MARGIN):
            c.drawString(MARGIN, self.y, line)
            self.y -= LEADING
        self.y -= 4
        self._dataset_boxes(datasets)
        self._table_header()

    def _dataset_boxes(self, datasets: list[str]) -> None:
        """One box per dataset the form feeds, 'AE (Adverse Events)', in its colour; none: NOT SUBMITTED."""
        c, x = self.canvas, MARGIN
        boxes = [(f"{d} ({self.specs.sdtm[d].label})", _colour(datasets, d)) for d in datasets]
        boxes = boxes or [("NOT SUBMITTED", HexColor(NOT_SUBMITTED))]
        for text, colour in boxes:
            w = c.stringWidth(text, BOLD, 10) + 12
            if x + w > WIDTH - MARGIN:
                x, self.y = MARGIN, self.y - 20
            c.setFillColor(colour)
            c.rect(x, self.y - 15, w, 17, stroke=1, fill=1)
            c.setFillColorRGB(0, 0, 0)
            c.setFont(BOLD, 10)
            c.drawString(x + 6, self.y - 10, text)
            x += w + 8
        self.y -= 28

    def _table_header(self) -> None:
        c, x = self.canvas, MARGIN
        c.setFont(BOLD, SIZE)
        for title, width in (*COLUMNS, ("SDTM annotation", NOTE_W)):
            c.drawString(x + 3, self.y, title)
            x += width
        self.y -= 4
        c.line(MARGIN, self.y, WIDTH - MARGIN, self.y)
        self.y -= LEADING

    def row(self, cells: list[list[str]], notes: list[tuple[list[str], Color]], force: bool = False) -> bool:
        """One field, its annotations each a box whose first line (the dataset variable, or NOT SUBMITTED) is bold;
        False (nothing drawn) when it does not fit on the page, unless `force` (a fresh page: it runs off it)."""
        note_h = sum(len(lines) * LEADING + 6 for lines, _ in notes)
        height = max(note_h, *(len(lines) * LEADING for lines in cells)) + 4
        if self.y - height < MARGIN + 10 and not force:
            return False
        c, x = self.canvas, MARGIN
        c.setFont(FONT, SIZE)
        for lines, (_, width) in zip(cells, COLUMNS, strict=True):
            for i, line in enumerate(lines):
                c.drawString(x + 3, self.y - i * LEADING, line)
            x += width
        top = self.y + LEADING - 2
        for lines, colour in notes:
            h = len(lines) * LEADING + 4
            c.setFillColor(colour)
            c.rect(NOTE_X, top - h, NOTE_W, h, stroke=1, fill=1)
            c.setFillColorRGB(0, 0, 0)
            for i, line in enumerate(lines):
                c.setFont(BOLD if i == 0 else FONT, SIZE)
                c.drawString(NOTE_X + 3, top - LEADING + 1 - i * LEADING, line)
            top -= h + 2
        self.y -= height
        c.setStrokeColorRGB(0.8, 0.8, 0.8)
        c.line(MARGIN, self.y + LEADING - 2, WIDTH - MARGIN, self.y + LEADING - 2)
        c.setStrokeColorRGB(0, 0, 0)
        return True


def _colour(datasets: list[str], dataset: str) -> Color:
    return HexColor(PALETTE[datasets.index(dataset) % len(PALETTE)])


def _box(note: Annotation, several: bool) -> list[str]:
    """The lines of an annotation's box: the variable, DOMAIN.VARIABLE on a page of several datasets (a SUPP--
    qualifier names its dataset), then its condition ('when QSCAT in (MG-ADL, QMG)')."""
    head = note.head if note.supplemental or not several else f"{note.dataset}.{note.head}"
    return [head, *(_lines(f"when {note.condition}", NOTE_W) if note.condition else [])]


def _dataset_outline(canvas: Canvas, specs: Specs, first: Mapping[str, int]) -> None:
    """A second set of bookmarks, 'Datasets', each at the first page annotated with it (the CDISC pilot's aCRF has
    bookmarks by form and by domain); `first`: dataset -> its page (bookmark `dataset.<DOMAIN>`)."""
    ordered = [d for d in specs.sdtm if d in first]
    if ordered:
        canvas.addOutlineEntry("Datasets", "datasets", level=0, closed=True)
    for domain in ordered:
        canvas.addOutlineEntry(f"{domain} ({specs.sdtm[domain].label})", f"dataset.{domain}", level=1)


def write_acrf(specs: Specs, path: Path) -> AcrfPages:
    """Write acrf.pdf: every raw contract a form, in specs order, each with its bookmark; return where each form
    and field is."""
    notes = column_annotations(specs)
    writer, forms, fields, first = _Writer(path, specs), {}, {}, {}
    for name, contract in specs.raw.items():
        fed = {n.dataset for c in contract.column_names for n in notes.get((name, c), ())}
        datasets = [d for d in specs.sdtm if d in fed]
        writer.new_page(contract, datasets)
        pages = [writer.page]
        writer.canvas.bookmarkPage(f"form.{name}")  # an outline entry is known by its bookmark: one each
        writer.canvas.addOutlineEntry(f"{form_title(contract)} ({contract.file})", f"form.{name}", level=0)
        for col in contract.columns:
            cells = [
                _lines(col.description, COLUMNS[0][1]),
                _lines(col.name + (f" (in file: {col.source})" if col.source else ""), COLUMNS[1][1]),
                _lines(values_text(col, specs), COLUMNS[2][1]),
            ]
            field_notes = notes.get((name, col.name), ())
            boxes = [(_box(n, len(datasets) > 1), _colour(datasets, n.dataset)) for n in field_notes]
            if not boxes:
                why = not_submitted_because(contract, col.name, specs)
                boxes = [([NOT_SUBMITTED_TEXT, *_lines(why, NOTE_W)], HexColor(NOT_SUBMITTED))]
            if not writer.row(cells, boxes):
                writer.new_page(contract, datasets, continued=True)
                pages.append(writer.page)
                writer.row(cells, boxes, force=True)
            fields[(name, col.name)] = writer.page
            for domain in (n.dataset for n in field_notes if n.dataset not in first):
                if not first:
                    writer.canvas.bookmarkPage("datasets")
                first[domain] = writer.page
                writer.canvas.bookmarkPage(f"dataset.{domain}")
        forms[name] = tuple(pages)
    variables: dict[str, set[int]] = {}
    for field, field_notes in notes.items():
        for n in field_notes:  # a supplemental qualifier: SUPP--.QNAM
            variables.setdefault(f"{n.dataset}.{n.variable}", set()).add(fields[field])
    _dataset_outline(writer.canvas, specs, first)
    writer.canvas.showOutline()
    writer.canvas.save()
    return AcrfPages(forms, fields, writer.page, {v: tuple(sorted(p)) for v, p in sorted(variables.items())})

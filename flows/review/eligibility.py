"""The summary.html section on the eligibility rules checked against the data (flows/raw/eligibility.py)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from flows.raw.eligibility import Eligibility

__all__ = ["Eligibility", "eligibility_section"]

NOTE = (
    "Each criterion with a rule in study.yaml is checked on the valid raw rows (after any cut). Y means the "
    "criterion's statement holds (for an exclusion: it applies), as on the investigator's checklist. A disagreement "
    "is a warning, not a reject: IE reports the checklist. A subject the data cannot judge (not seen at a visit the "
    "rule names, an incomplete scale) is not counted."
)


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int]) -> str:
    def cell(i: int, value: object, tag: str = "td") -> str:
        cls = ' class="n"' if i in numeric else ""
        return f"<{tag}{cls}>{escape(str(value))}</{tag}>"

    head = "".join(cell(i, h, "th") for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table id="{table_id}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def eligibility_section(eligibility: Eligibility | None, rejected_note: str = "") -> str:
    """The section's HTML (with a leading newline), or nothing when no rule was checked; `rejected_note` says how
    many rows of the files checked were rejected at validation, so not judged."""
    if eligibility is None or not eligibility.checks:
        return ""
    checks = [
        (code, c["check"], c.get("evaluated", ""), c.get("warnings", ""), c.get("not_evaluated", ""))
        for code, c in eligibility.checks.items()
    ]
    parts = [
        _table(
            "eligibility-checks",
            ["Criterion", "Check", "Subjects evaluated", "Disagreements", "Not evaluated because"],
            checks,
            numeric=(2, 3),
        )
    ]
    w = eligibility.warnings
    if len(w):
        rows = [
            (r.USUBJID, r.IETESTCD, r.data, r.data_says, r.checklist, f"{r.file} line {r.line}")
            for r in w.itertuples(index=False)
        ]
        headers = ["Subject", "Criterion", "The data", "Data say", "Checklist", "Checklist row"]
        parts.append(_table("eligibility-warnings", headers, rows, numeric=()))
    else:
        parts.append('<p class="note">No disagreement between the data and the checklist.</p>')
    parts.append(f'<p class="note">{escape(NOTE)}</p>')
    if rejected_note:
        parts.append(f'<p class="note rejected-note">{escape(rejected_note)}</p>')
    return "\n<h2>Eligibility rules checked against the data</h2>\n" + "\n".join(parts)

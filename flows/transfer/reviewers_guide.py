"""documents/csdrg.html: the transfer's reviewer's guide, in the sections of PHUSE's clinical Study Data Reviewer's
Guide (cSDRG) template, from the specs (study.yaml, the dataset specs, conformance.yaml) and the run (its datasets
and manifest). Every text is escaped, there is no script, and nothing depends on the clock: the same transfer gives
the same bytes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from flows.kernel.chunks import counts_of
from flows.mapping.annotations import column_annotations, not_submitted_because
from flows.spec.model import Specs
from flows.transfer.acrf import ACRF

GUIDE = "csdrg.html"
STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #bbb;padding:.2em .5em;"
    "text-align:left;vertical-align:top}th{background:#eee}td.n{text-align:right}"
)


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{v}</td>' if isinstance(v, int) else f"<td>{escape('' if v is None else str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def affected_subjects(datasets: Mapping[str, pd.DataFrame], how: Mapping[str, str]) -> list[str]:
    """USUBJIDs with a `later` date (DOMAIN.VARIABLE) after their last `than_last` date, compared on the date."""
    (ld, lv), (td, tv) = (str(how["later"]).split(".", 1), str(how["than_last"]).split(".", 1))
    if ld not in datasets or td not in datasets:
        return []
    later = datasets[ld][["USUBJID", lv]].dropna().astype(str)
    last = datasets[td][["USUBJID", tv]].dropna().astype(str)
    last = last.assign(day=last[tv].str.slice(0, 10)).groupby("USUBJID")["day"].max()
    joined = later.assign(day=later[lv].str.slice(0, 10)).join(last.rename("last"), on="USUBJID")
    return sorted(joined.loc[joined["day"] > joined["last"], "USUBJID"].unique().tolist())


def _standards(specs: Specs) -> list[tuple[str, str]]:
    sdtm = specs.study.data.get("sdtm", {})
    rows = [
        ("SDTM", str(sdtm.get("model_version", ""))),
        ("SDTM Implementation Guide (SDTMIG)", str(sdtm.get("ig_version", ""))),
        ("CDISC/NCI SDTM Controlled Terminology", specs.ct_release),
        ("Define-XML", "2.1"),
    ]
    for spec in specs.sdtm.values():
        for var in spec.variables:
            if var.dictionary:
                row = (str(var.dictionary["name"]), str(specs.study.lookup(var.dictionary["version_from"])))
                if row not in rows:
                    rows.append(row)
    return rows


def render_reviewers_guide(datasets: Mapping[str, pd.DataFrame], specs: Specs, manifest: Mapping[str, Any]) -> str:
    """The guide's HTML: 1 Introduction, 2 Protocol description, 3 Subject data description, 4 Data conformance
    summary, 5 Data flow, 6 Appendix."""
    study = specs.study.data
    sid = specs.study.studyid
    out = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>Clinical Study Data Reviewer's Guide: {escape(sid)}</title><style>{STYLE}</style></head><body>",
        "<h1>Clinical Study Data Reviewer&#39;s Guide</h1>",
        _p(f"Study {sid} ({study.get('registry_id', '')}): {study.get('title', '')}."),
        _p(f"Sponsor: {study.get('sponsor', '')}."),
        "<h2>1 Introduction</h2><h3>1.1 Purpose</h3>",
        _p(
            "This guide describes the SDTM tabulation datasets of this transfer: the standards they follow, how they "
            "were made from the collected data, and the conformance findings that remain with their explanation."
        ),
        '<p>It accompanies <a href="../define.xml">define.xml</a> (the metadata), '
        f'<a href="../{ACRF}">{ACRF}</a> (the annotated CRF) and <a href="../summary.html">summary.html</a> '
        "(the data review).</p>",
        "<h3>1.2 Study Data Standards and Dictionary Inventory</h3>",
        _table(["Standard or dictionary", "Version"], _standards(specs)),
        "<h3>1.3 Source Data Used for Dataset Creation</h3>",
        _p("The datasets are derived from the raw EDC exports below, one CRF form each (acrf.pdf shows each form)."),
        _table(["Raw file", "What one row is"], [(c.file, c.description) for c in specs.raw.values()]),
        "<h2>2 Protocol Description</h2><h3>2.1 Protocol Number and Title</h3>",
        _table(
            ["Item", "Value"],
            [
                ("Protocol number", sid),
                ("Registry identifier", study.get("registry_id")),
                ("Title", study.get("title")),
                ("Indication", study.get("indication")),
                ("Phase", study.get("phase")),
            ],
        ),
        "<h3>2.2 Protocol Design in Relation to Trial Design Datasets</h3>",
        _table(
            ["Design fact", "Value"],
            [
                (k.replace("_", " ").capitalize(), ", ".join(map(str, v)) if isinstance(v, list) else v)
                for k in ("study_type", "intervention_model", "blinding", "randomized", "control", "trial_types")
                if (v := study.get(k)) is not None
            ]
            + [("Planned enrollment", study.get("planned_enrollment"))],
        ),
        _table(
            ["ARMCD", "Arm"] + (["Planned dose"] if any("dose" in a for a in specs.study.arms) else []),
            [
                (a.get("armcd"), a.get("arm"), *([a.get("dose")] if any("dose" in b for b in specs.study.arms) else []))
                for a in specs.study.arms
            ],
        ),
        _table(
            ["Trial design dataset", "Label", "Records"],
            [
                (d, s.label, counts_of(datasets, d)[0])
                for d, s in specs.sdtm.items()
                if s.klass == "TRIAL DESIGN" and d in datasets
            ],
        ),
    ]
    out += _subject_data(datasets, specs, manifest)
    out += _conformance(datasets, specs)
    out += _data_flow(specs, manifest)
    out += _appendix(specs)
    out.append("</body></html>\n")
    return "\n".join(out)


def _subject_data(datasets: Mapping[str, pd.DataFrame], specs: Specs, manifest: Mapping[str, Any]) -> list[str]:
    cut = manifest.get("data_cutoff")
    as_of = str(manifest.get("data_as_of", ""))[:10]
    rows = []
    for domain, spec in specs.sdtm.items():
        if domain in datasets:
            records, subjects = counts_of(datasets, domain)
            rows.append((domain, spec.label, spec.klass, spec.structure, records, subjects))
    when = f"Data cut: {cut}." if cut else f"No data cut: the data are as of {as_of}."
    return [
        "<h2>3 Subject Data Description</h2><h3>3.1 Overview</h3>",
        _p(f"{when} Records dated after a cut are left out and counted per raw file in manifest.json."),
        "<h3>3.2 Datasets</h3>",
        _table(["Dataset", "Label", "Class", "Structure", "Records", "Subjects"], rows),
    ]


def _conformance(datasets: Mapping[str, pd.DataFrame], specs: Specs) -> list[str]:
    conf = specs.conformance or {}
    tool = conf.get("validator") or {}
    rows = []
    for f in conf.get("findings", []):
        affected = affected_subjects(datasets, f["affected"]) if f.get("affected") else None
        count = None if affected is None else f"{len(affected)}: {', '.join(affected)}" if affected else "0"
        rows.append((f["rule"], ", ".join(f["datasets"]), f["message"], count, " ".join(str(f["explanation"]).split())))
    return [
        "<h2>4 Data Conformance Summary</h2><h3>4.1 Conformance Inputs</h3>",
        _p(
            f"Validator: {tool.get('name', 'none named')} {tool.get('version', '')}, {tool.get('rules', '')}. "
            "Every dataset passed its own SDTM check (variable order, required values, lengths, controlled terms, "
            "unique keys) before this transfer was published; define.xml is Define-XML 2.1."
        ),
        "<h3>4.2 Issues Summary</h3>",
        _table(["Rule", "Datasets", "Message", "Subjects in this transfer", "Explanation"], rows)
        if rows
        else _p("No conformance findings are recorded for this study (specs/conformance.yaml)."),
    ]


def _data_flow(specs: Specs, manifest: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, contract in specs.raw.items():
        c = (manifest.get("inputs") or {}).get(contract.file, {})
        fed = [d for d, s in specs.sdtm.items() if name in s.raw_sources]
        rows.append(
            (
                contract.file,
                ", ".join(fed) or "none",
                *(int(c.get(k, 0)) for k in ("read", "valid", "rejected", "cut", "tabulated", "not_tabulated")),
                c.get("not_tabulated_because"),
            )
        )
    rejects = manifest.get("rejects") or {}
    by_rule = sorted((rejects.get("by_rule") or {}).items())
    warnings = manifest.get("eligibility_warnings") or []
    return [
        "<h2>5 Data Flow</h2>",
        _p(
            "Each raw file is read as its contract says it is written, every row validated against the contract "
            "(rejected rows are listed with file, line, column and rule in rejects.csv), the data cut applied, and "
            "every dataset derived from the valid rows by the mappings of its specification; trace.csv leads every "
            "record back to its raw file and line."
        ),
        _table(["Raw file", "Datasets", "Read", "Valid", "Rejected", "Cut", "Tabulated", "Not tabulated", "Why"], rows),
        _p(f"Rejected records: {int(rejects.get('records', 0))}."),
        _table(["Rule", "Records"], [(k, int(v)) for k, v in by_rule]) if by_rule else "",
        _p(f"Eligibility rules checked on the data disagreeing with the investigator's checklist: {len(warnings)}."),
    ]


def _appendix(specs: Specs) -> list[str]:
    notes = column_annotations(specs)
    rows = [
        (contract.file, col.name, col.description, not_submitted_because(contract, col.name, specs))
        for name, contract in specs.raw.items()
        for col in contract.columns
        if (name, col.name) not in notes
    ]
    return [
        "<h2>6 Appendix</h2><h3>6.1 CRF Fields Not Submitted</h3>",
        _table(["Raw file", "Field", "Question", "Why not submitted"], rows),
    ]


def write_reviewers_guide(
    datasets: Mapping[str, pd.DataFrame], specs: Specs, manifest: Mapping[str, Any], path: Path
) -> None:
    """Write the reviewer's guide (HTML, UTF-8)."""
    Path(path).write_text(render_reviewers_guide(datasets, specs, manifest), encoding="utf-8")

"""The Markdown report of one export run: what was read, validated, rejected and written, and where it went."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flows.raw.validate import Validation


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def run_report(
    studyid: str,
    outcome: str,
    *,
    validation: Validation | None = None,
    manifest: dict | None = None,
    transfer: Path | None = None,
    fingerprint: str | None = None,
    files: Mapping[str, str] | None = None,
) -> str:
    """Markdown for a run: the outcome line, then each part the run got as far as (read, rejects, written).

    `files` maps each raw contract name (the keys of validation.counts) to its file name (the manifest's keys).
    """
    lines = [f"# Export of {studyid}", "", f"**{outcome}**", ""]
    lines += [f"Transfer: `{transfer}`" if transfer else "Nothing published by this run.", ""]
    if fingerprint:
        lines += [f"Inputs fingerprint: `{fingerprint}`", ""]
    if validation is not None:
        inputs = (manifest or {}).get("inputs", {})
        header = ["file", "read", "valid", "rejected", "bytes", "sha256"]
        rows = []
        for name, counts in validation.counts.items():
            file = (files or {}).get(name, name)
            entry = inputs.get(file, {})
            sha = entry.get("sha256", "")
            rows.append([file, counts["read"], counts["valid"], counts["rejected"], entry.get("bytes", ""), sha[:12]])
        lines += ["## Read and validated", "", *_table(header, rows), ""]
        by_rule = validation.rejects["rule"].value_counts().sort_index()
        if len(by_rule):
            lines += ["## Rejected", "", *_table(["rule", "records"], [[k, v] for k, v in by_rule.items()])]
            lines += ["", "Every reject, with file, line, column and value, is in `rejects.csv` of the transfer.", ""]
    if manifest:
        outputs = manifest.get("outputs", {})
        written = [[rel, entry.get("rows", "")] for rel, entry in outputs.items()]
        lines += ["## Written", "", *_table(["file", "rows"], written), ""]
        if transfer is not None and transfer.is_dir():
            also = sorted(p.relative_to(transfer).as_posix() for p in transfer.rglob("*") if p.is_file())
            also = [f"`{rel}`" for rel in also if rel not in outputs]
            lines += [f"Also in the transfer: {', '.join(also)}", ""]
    return "\n".join(lines).rstrip() + "\n"

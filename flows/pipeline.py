"""The export as plain steps (read, validate, derive, write, publish) and `run_export`, which chains them.

Nothing here imports Prefect: flows/flow.py wraps these same steps as tasks.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from flows import __version__
from flows.cutoff import apply_cutoff, data_as_of
from flows.diff import diff_transfers, first_transfer, write_changes
from flows.errors import PipelineError, StructuralError
from flows.fingerprint import fingerprint, unchanged_since
from flows.lock import study_lock
from flows.mapping.engine import derive_datasets
from flows.package import write_sums, write_zip
from flows.publish import discard, latest_transfer, new_staging, publish, sha256_file, sweep_staging, utc_stamp
from flows.read import RawFile, read_raw
from flows.sdtm_schema import TRACE
from flows.specs import Specs
from flows.validate import Validation, validate_raw
from flows.writers import WRITERS
from flows.writers.context import WriteContext
from flows.writers.xpt import xpt_lengths

EXIT_CLEAN, EXIT_REJECTS, EXIT_FAILED = 0, 1, 2


@dataclass
class ExportResult:
    """What a run did: exit code, one-line summary, the transfer (if published) and the counts."""

    exit_code: int
    message: str
    transfer: Path | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejects: pd.DataFrame | None = None


def read_inputs(raw_dir: Path, specs: Specs) -> dict[str, RawFile]:
    """Read every raw file; report the structural problems of all files at once."""
    files, problems = {}, []
    for name, contract in specs.raw.items():
        try:
            files[name] = read_raw(raw_dir, contract)
        except StructuralError as exc:
            problems.append(str(exc))
    if problems:
        raise StructuralError(" | ".join(problems))
    return files


def trace_table(datasets: dict[str, pd.DataFrame], specs: Specs) -> pd.DataFrame:
    """One row per SDTM record that came from a raw row: domain, key, source file and line."""
    parts = []
    for domain, frame in datasets.items():
        if "_line" not in frame:
            continue
        seq = specs.sdtm[domain].seq
        parts.append(
            pd.DataFrame(
                {
                    "domain": domain,
                    "USUBJID": frame["USUBJID"],
                    "seq": frame[seq] if seq else pd.NA,
                    "file": frame["_file"],
                    "line": frame["_line"].astype("int64"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True).astype({"seq": "Int64"})


@dataclass(frozen=True)
class Prepared:
    """Everything a transfer is written from: the inputs, their validation, the cut and the datasets."""

    raw: dict[str, RawFile]
    validation: Validation
    datasets: dict[str, pd.DataFrame]
    cut: dict[str, int]
    cutoff: str | None
    created: datetime


def prepare(raw: dict[str, RawFile], validation: Validation, specs: Specs, cutoff: str | None = None) -> Prepared:
    """Apply the data cut to the valid rows and derive the datasets from what remains."""
    valid, cut = validation.valid, dict.fromkeys(validation.valid, 0)
    if cutoff:
        valid, cut = apply_cutoff(valid, specs, cutoff)
    facts = {"cutoff": cutoff} if cutoff else {}
    datasets = derive_datasets(valid, specs, facts)
    return Prepared(raw, validation, datasets, cut, cutoff, data_as_of(valid, specs, cutoff))


def write_outputs(prepared: Prepared, specs: Specs, staging: Path) -> dict[str, dict]:
    """Write every dataset in every format into the staging folder; return rows per file."""
    plain = {d: f.drop(columns=TRACE, errors="ignore") for d, f in prepared.datasets.items()}
    lengths = {d: xpt_lengths(f, specs.sdtm[d]) for d, f in plain.items()}
    ctx = WriteContext(specs.study.studyid, prepared.created, lengths, str(specs.study.data["sdtm"]["ig_version"]))
    outputs = {}
    for folder, ext, writer in WRITERS.values():
        (staging / folder).mkdir(exist_ok=True)
        for domain, frame in plain.items():
            path = staging / folder / f"{domain.lower()}.{ext}"
            writer(frame, specs.sdtm[domain], path, ctx)
            outputs[f"{folder}/{path.name}"] = {"rows": len(frame)}
    from flows.define import write_define
    from flows.define_html import write_define_html
    from flows.summary import write_summary

    (staging / "documents").mkdir()
    shutil.copyfile(specs.study.path, staging / "documents" / "study.yaml")
    write_define(plain, specs, lengths, prepared.created.isoformat(timespec="seconds"), staging / "define.xml")
    write_define_html(plain, specs, lengths, staging / "define.html")
    write_summary(plain, prepared.validation.rejects, specs, prepared.cutoff, staging / "summary.html")
    return outputs


def _not_tabulated_because(name: str, specs: Specs) -> str:
    """Why valid rows of a raw file are in no dataset: no dataset reads the file, or the contract's reason."""
    if not any((spec.records or {}).get("from") == name for spec in specs.sdtm.values()):
        return f"no dataset in specs/sdtm takes records from {specs.raw[name].file}"
    return specs.raw[name].not_tabulated


def write_manifest(
    staging: Path,
    prepared: Prepared,
    outputs: dict[str, dict],
    specs: Specs,
    stamp: str,
    fingerprint: str | None = None,
) -> dict:
    """manifest.json: inputs (sha256, rows read/valid/rejected/cut, balanced), outputs (rows, sha256), fingerprint."""
    validation, inputs = prepared.validation, {}
    traced = trace_table(prepared.datasets, specs).drop_duplicates(["file", "line"])["file"].value_counts()
    for name, f in prepared.raw.items():
        c = {**validation.counts[name], "cut": prepared.cut.get(name, 0), "tabulated": int(traced.get(f.file, 0))}
        c["not_tabulated"] = c["valid"] - c["cut"] - c["tabulated"]
        inputs[f.file] = {
            "sha256": f.sha256,
            "bytes": f.size,
            **c,
            "not_tabulated_because": _not_tabulated_because(name, specs) if c["not_tabulated"] else None,
            "balanced": c["read"] == c["valid"] + c["rejected"] and c["not_tabulated"] >= 0,
        }
    for rel, entry in outputs.items():
        entry["sha256"] = sha256_file(staging / rel)
    by_rule = validation.rejects["rule"].value_counts().sort_index()
    manifest = {
        "study": specs.study.studyid,
        "transfer": stamp,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pipeline_version": __version__,
        "ct_release": specs.ct_release,
        "data_cutoff": prepared.cutoff,
        "data_as_of": prepared.created.isoformat(timespec="seconds"),
        "inputs": inputs,
        "rejects": {"records": len(validation.rejects), "by_rule": {k: int(v) for k, v in by_rule.items()}},
        "outputs": dict(sorted(outputs.items())),
        "balanced": all(i["balanced"] for i in inputs.values()),
        "fingerprint": fingerprint,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def stage_transfer(
    prepared: Prepared, specs: Specs, study_dir: Path, fingerprint: str | None = None
) -> tuple[Path, str]:
    """Write everything of one transfer into a new staging folder; on any failure the folder is removed."""
    previous = latest_transfer(study_dir)
    staging, stamp = new_staging(study_dir), utc_stamp()
    try:
        outputs = write_outputs(prepared, specs, staging)
        prepared.validation.rejects.to_csv(staging / "rejects.csv", index=False, lineterminator="\n")
        outputs["rejects.csv"] = {"rows": len(prepared.validation.rejects)}
        trace = trace_table(prepared.datasets, specs)
        trace.to_csv(staging / "trace.csv", index=False, lineterminator="\n")
        outputs["trace.csv"] = {"rows": len(trace)}
        write_changes(diff_transfers(previous, staging) if previous else first_transfer(), staging)
        write_manifest(staging, prepared, outputs, specs, stamp, fingerprint)
        write_sums(staging)
        write_zip(staging, f"{specs.study.studyid}_{stamp}.zip", prepared.created)
    except BaseException:
        discard(staging)
        raise
    return staging, stamp


def summary_line(validation: Validation) -> str:
    read = sum(c["read"] for c in validation.counts.values())
    rejected = sum(c["rejected"] for c in validation.counts.values())
    return (
        f"{read} raw rows read, {read - rejected} valid, {rejected} rejected ({len(validation.rejects)} reject records)"
    )


def run_export(
    raw_dir: Path, out_dir: Path, specs: Specs, strict: bool = False, cutoff: str | None = None, force: bool = False
) -> ExportResult:
    """The whole export without orchestration: exit code 0 clean (or unchanged), 1 with rejects, 2 nothing published,
    3 another export of the study is running. Unchanged inputs publish nothing unless `force`."""
    study_dir = out_dir / specs.study.studyid
    try:
        with study_lock(study_dir, specs.study.studyid):
            sweep_staging(study_dir)
            current = fingerprint(raw_dir, specs, cutoff)
            if not force and (stamp := unchanged_since(study_dir, current)):
                return ExportResult(EXIT_CLEAN, f"unchanged since {stamp}")
            raw = read_inputs(raw_dir, specs)
            validation = validate_raw(raw, specs)
            summary = summary_line(validation)
            if strict and len(validation.rejects):
                return ExportResult(
                    EXIT_REJECTS, f"not published (--strict): {summary}", None, validation.counts, validation.rejects
                )
            prepared = prepare(raw, validation, specs, cutoff)
            staging, stamp = stage_transfer(prepared, specs, study_dir, current)
            transfer = publish(staging, study_dir, stamp)
    except PipelineError as exc:
        return ExportResult(exc.exit_code, str(exc))
    code = EXIT_REJECTS if len(validation.rejects) else EXIT_CLEAN
    return ExportResult(code, f"published {transfer}: {summary}", transfer, validation.counts, validation.rejects)

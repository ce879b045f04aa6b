"""The export as one ordered list of steps (fingerprint, read, validate, derive, write, publish) and `run_export`,
which walks them under the study's lock.

Nothing here imports Prefect: flows/schedule/flow.py walks the same STEPS through `run_export`, each step as a task.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from flows import __version__
from flows.kernel.distinct import shared_codes
from flows.kernel.errors import MAX_SHOWN, Interrupted, PipelineError, StructuralError, describe, naming, shorten
from flows.kernel.held import Rows
from flows.mapping.plan import analysis_raw_reads
from flows.raw.cutoff import apply_cutoff, data_as_of
from flows.raw.eligibility import Eligibility, evaluate_eligibility
from flows.raw.read import RawFile, Scan, check_raw_dir, read_raws, use_returning_pool
from flows.raw.validate import Validation, site_dates, site_today, validate_raw
from flows.run import progress
from flows.run.blocks import derive_in_blocks
from flows.run.fingerprint import fingerprint, unchanged_since
from flows.run.lock import study_lock
from flows.run.signals import settle, shielded
from flows.spec.model import DomainSpec, Specs
from flows.spec.sdtm_schema import TRACE
from flows.transfer.diff import diff_transfers, first_transfer, write_changes
from flows.transfer.num_type import AsWritten
from flows.transfer.package import Packer, write_sums, write_zip
from flows.transfer.publish import (
    LATEST,
    STAGING_PREFIX,
    discard,
    latest_transfer,
    new_staging,
    publish,
    sweep_staging,
    utc_stamp,
)
from flows.transfer.trace import write_trace
from flows.transfer.writers import WRITERS
from flows.transfer.writers.context import WriteContext
from flows.transfer.writers.csv import write_table
from flows.transfer.writers.lines import shared_distinct
from flows.transfer.writers.xpt import xpt_lengths

EXIT_CLEAN, EXIT_REJECTS, EXIT_FAILED = 0, 1, 2
BLOCK_SIZE = 10_000  # subjects derived at a time unless told: a study of more is derived and kept on disk in blocks
ADAM = "adam"  # the folder of a transfer that holds the analysis datasets, laid out as the transfer (xpt/, ...)


@dataclass
class ExportResult:
    """What a run did: exit code, one-line summary, the transfer (if published) and the counts."""

    exit_code: int
    message: str
    transfer: Path | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejects: pd.DataFrame | None = None
    stage: str | None = None  # the step the run ended in
    error: BaseException | None = None  # an unexpected failure (its traceback is shown with --debug)
    validation: Validation | None = None
    fingerprint: str | None = None


def read_inputs(
    raw_dir: Path, specs: Specs, scans: dict[str, Scan] | None = None, hold: bool = False
) -> dict[str, RawFile]:
    """Read every raw file (with its scan by file name from `scans`, when the fingerprint made it); report the
    structural problems of all files at once. With `hold`, the rows wait held compact (flows.kernel.held): the
    valid rows then stay held until their block of subjects is derived."""
    files, problems = read_raws(raw_dir, specs.raw, scans, hold)
    if problems:
        raise StructuralError(" | ".join(problems))
    return files


@dataclass(frozen=True)
class Prepared:
    """Everything a transfer is written from: the inputs, their validation, the cut and the datasets."""

    raw: dict[str, RawFile]
    validation: Validation
    datasets: Mapping[str, pd.DataFrame]  # a dict, or read from a spill folder one dataset at a time (Spilled)
    cut: dict[str, int]
    cutoff: str | None
    created: datetime
    eligibility: Eligibility = field(default_factory=Eligibility)  # the rules on the data against the checklist
    analysis: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # the ADaM datasets of specs/adam, from datasets


def prepare(
    raw: dict[str, RawFile],
    validation: Validation,
    specs: Specs,
    cutoff: str | None = None,
    today: date | None = None,
    block_size: int | None = None,
    workers: int = 1,
    spill: Path | None = None,
) -> Prepared:
    """Apply the data cut to the valid rows, check the eligibility rules on what remains and derive the datasets
    from it (the check first: its temporaries are gone before the datasets take their memory), `block_size` subjects
    at a time (default BLOCK_SIZE; flows/run/blocks.py, in `workers` processes): the same datasets whatever both are.
    With more than one block and a `spill` folder, the datasets wait there rather than in memory until they are
    written (flows/run/spill.py).

    The valid rows are used up: `validation.valid` is empty afterwards, and the raw rows' memory goes back before
    the datasets are sorted (hold a frame elsewhere to keep it). A data-as-of date after `today` is refused."""
    valid, cut = dict(validation.valid), dict.fromkeys(validation.valid, 0)
    validation.valid.clear()
    if cutoff:
        valid, cut = apply_cutoff(valid, specs, cutoff)
    created = data_as_of(valid, specs, cutoff)
    if today and created.date() > today:  # validation rejects every later date: a bug if one got through
        where = future_date(valid, specs, today) or f"data as of {created:%Y-%m-%d}"
        raise PipelineError(f"{where}: a date after today ({today}) would date the transfer")
    try:
        with shared_codes(validation.codes):  # the columns' codes, as validation worked them out
            eligibility = evaluate_eligibility(valid, specs)
            facts = {"cutoff": cutoff, "data_as_of": created.date().isoformat()}
            reads = sorted(analysis_raw_reads(specs))
            size = block_size or BLOCK_SIZE
            datasets, analysis = derive_in_blocks(valid, specs, facts, reads, size, workers, spill)
    finally:
        validation.codes.clear()  # the datasets are derived: the raw columns' codes are no more use
    return Prepared(raw, validation, datasets, cut, cutoff, created, eligibility, analysis)


def _write_formats(
    chunks: Iterable[pd.DataFrame],
    rows: int,
    spec: DomainSpec,
    root: Path,
    staging: Path,
    ctx: WriteContext,
    packer: Packer,
) -> dict[str, dict]:
    """One dataset of `rows` rows in every format under `root`, from consecutive chunks of its rows (at least one):
    each chunk written to every format before the next is read, each file finished as soon as its rows are all
    written and handed to `packer` (digested while the next is written); rows per file."""
    paths = [root / folder / f"{spec.domain.lower()}.{ext}" for folder, ext, _ in WRITERS.values()]
    with ExitStack() as opened:  # on a failure, every file opened is closed unfinished
        files = []
        for path, (_, _, writer) in zip(paths, WRITERS.values(), strict=True):
            with naming(path):
                files.append(writer(path, spec, ctx, rows))
            opened.callback(files[-1].abandon)
        for chunk in chunks:
            with shared_distinct():  # every format of a chunk, from one look at each column's distinct values
                for path, file in zip(paths, files, strict=True):
                    if file.closed and not len(chunk):  # an empty chunk after the last rows
                        continue
                    with naming(path):
                        file.write(chunk)
                        if done := file.written == rows:
                            file.close()
                    if done:
                        packer.add(path)
        for file in files:  # each closed once its rows were all written; else rows are missing: close says how many
            file.close()
    return {path.relative_to(staging).as_posix(): {"rows": rows} for path in paths}


def write_outputs(prepared: Prepared, specs: Specs, staging: Path, packer: Packer) -> dict[str, dict]:
    """Write every dataset in every format into the staging folder, each file handed to `packer` once written;
    return rows per file."""
    # one type per variable in every format and define.xml (whole numbers are integers); each dataset made as it is
    # read and let go after, not a copy of every dataset held at once
    plain = AsWritten(prepared.datasets, specs.sdtm, without=TRACE)
    analysis = AsWritten(prepared.analysis, specs.adam)
    spec_of = {**specs.sdtm, **specs.adam}
    both = [*prepared.datasets, *prepared.analysis]  # names: a spilled dataset is read when asked for

    def lengths_of(domain: str) -> dict[str, int]:  # text and Num lengths: same in every type
        datasets = prepared.analysis if domain in prepared.analysis else prepared.datasets
        known = getattr(datasets, "lengths", None)  # a spill knows them from its blocks
        found = known(domain) if known is not None else None
        return found if found is not None else xpt_lengths(datasets[domain], spec_of[domain])

    lengths = {d: lengths_of(d) for d in both}
    ctx = WriteContext(specs.study.studyid, prepared.created, lengths, str(specs.study.data["sdtm"]["ig_version"]))
    outputs = {}
    # SDTM in the transfer's folders, ADaM in adam/ laid out alike (eCTD keeps tabulations and analysis datasets
    # apart; an SDTM validator given xpt/ sees SDTM only)
    where = {d: staging for d in plain} | {d: staging / ADAM for d in analysis}
    for root in {staging, *where.values()}:
        for folder, _, _ in WRITERS.values():
            (root / folder).mkdir(parents=True, exist_ok=True)
    from flows.review.summary import write_summary
    from flows.transfer.acrf import ACRF, write_acrf
    from flows.transfer.define import define_metadata, define_sketch, write_define, write_stylesheet

    sketches: dict[str, list[pd.DataFrame]] = {}  # of a dataset in blocks, what define.xml reads, as it is written

    def sketched(domain: str, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            sketches.setdefault(domain, []).append(define_sketch([chunk], spec_of[domain]))
            yield chunk

    for domain in both:  # a dataset as written lives while its files are written only, a block at a time if in blocks
        written = analysis if domain in analysis else plain
        chunks, rows = written.chunks(domain), written.rows(domain)
        chunks = sketched(domain, chunks) if written.in_blocks(domain) else chunks
        outputs |= _write_formats(chunks, rows, spec_of[domain], where[domain], staging, ctx, packer)
    from flows.transfer.define_html import write_define_html

    (staging / "documents").mkdir()
    packer.add(Path(shutil.copyfile(specs.study.path, staging / "documents" / "study.yaml")))
    acrf = write_acrf(specs, staging / ACRF)  # the annotated CRF: define.xml points at its pages
    packer.add(staging / ACRF)
    outputs[ACRF] = {"pages": acrf.count}
    meta = define_metadata(plain, specs, lengths, sketches=sketches)  # what both define.xml and define.html say
    created = prepared.created.isoformat(timespec="seconds")
    write_define(plain, specs, lengths, created, staging / "define.xml", meta, acrf.variables)
    packer.add(staging / "define.xml")
    packer.add(write_stylesheet(staging))  # define.xml's xml-stylesheet: it opens in a browser
    write_define_html(plain, specs, lengths, staging / "define.html", meta)
    packer.add(staging / "define.html")
    if analysis:  # the ADaM datasets' own define.xml (ADaMIG) in adam/, beside them
        adam_meta = define_metadata(analysis, specs, lengths, analysis=True, sketches=sketches)
        write_define(analysis, specs, lengths, created, staging / ADAM / "define.xml", adam_meta)
        packer.add(staging / ADAM / "define.xml")
        packer.add(write_stylesheet(staging / ADAM))
        write_define_html(analysis, specs, lengths, staging / ADAM / "define.html", adam_meta)
        packer.add(staging / ADAM / "define.html")
    write_summary(
        plain,
        prepared.validation.rejects,
        specs,
        prepared.cutoff,
        staging / "summary.html",
        prepared.eligibility,
        as_of=prepared.created.date().isoformat(),
        rejected={name: c["rejected"] for name, c in prepared.validation.counts.items()},
        analysis=analysis,
    )
    packer.add(staging / "summary.html")
    return outputs


def _not_tabulated_because(name: str, specs: Specs) -> str:
    """Why valid rows of a raw file are in no dataset: no dataset reads the file, or the contract's reason."""
    if not any(name in spec.raw_sources for spec in specs.sdtm.values()):
        return f"no dataset in specs/sdtm takes records from {specs.raw[name].file}"
    return specs.raw[name].not_tabulated


def write_manifest(
    staging: Path,
    prepared: Prepared,
    outputs: dict[str, dict],
    specs: Specs,
    stamp: str,
    fingerprint: str | None,
    packer: Packer,
    traced: dict[str, int],
) -> dict:
    """manifest.json: inputs (sha256, rows read/valid/rejected/cut, physical lines, balanced), rejects, the
    eligibility rules checked on the data and their disagreements with the checklist (warnings), outputs (rows,
    sha256), fingerprint. An input balances when its records are valid or rejected and every physical data line
    lies in one of them: a quoting error that merges lines into one rejected record shows as `lines_rejected`.
    The hashes come from `packer`; `traced` counts each raw file's lines in the transfer's trace."""
    validation, inputs = prepared.validation, {}
    rejected_lines = validation.rejects.groupby("file")["line"].unique()
    for name, f in prepared.raw.items():
        c = {**validation.counts[name], "cut": prepared.cut.get(name, 0), "tabulated": int(traced.get(f.file, 0))}
        c["not_tabulated"] = c["valid"] - c["cut"] - c["tabulated"]
        bad = pd.Index(rejected_lines.get(f.file, []))
        lines = f.lines if f.lines >= 0 else c["read"]
        valid_lines = validation.lines[name]
        inputs[f.file] = {
            "sha256": f.sha256,
            "bytes": f.size,
            **c,
            "not_tabulated_because": _not_tabulated_because(name, specs) if c["not_tabulated"] else None,
            "lines": lines,
            "lines_rejected": f.lines_of(bad),
            "balanced": c["read"] == c["valid"] + c["rejected"]
            and c["not_tabulated"] >= 0
            and lines == valid_lines + f.lines_of(bad),
        }
    for rel, entry in outputs.items():
        entry["sha256"] = packer.digest(rel).sha256
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
        "eligibility_checks": prepared.eligibility.checks,
        "eligibility_warnings": prepared.eligibility.manifest(),
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
    from flows.transfer.reviewers_guide import GUIDE, write_reviewers_guide

    previous = latest_transfer(study_dir)
    staging, stamp = new_staging(study_dir), utc_stamp()
    try:
        with naming(staging), Packer(staging, spill_dir=study_dir) as packer:  # a write error names at least the folder
            outputs = write_outputs(prepared, specs, staging, packer)
            rejects = prepared.validation.rejects
            write_table(rejects, staging / "rejects.csv", text=[c for c in rejects.columns if c != "line"])
            outputs["rejects.csv"] = {"rows": len(rejects)}
            packer.add(staging / "rejects.csv")
            rows, traced = write_trace(prepared.datasets, specs, staging / "trace.csv")
            outputs["trace.csv"] = {"rows": rows}
            packer.add(staging / "trace.csv")
            write_changes(diff_transfers(previous, staging) if previous else first_transfer(), staging)
            manifest = write_manifest(staging, prepared, outputs, specs, stamp, fingerprint, packer, traced)
            guide = staging / "documents" / GUIDE  # the reviewer's guide reports the manifest's counts
            write_reviewers_guide(prepared.datasets, specs, manifest, guide)
            packer.add(guide)
            write_sums(staging, packer)
            write_zip(staging, f"{specs.study.studyid}_{stamp}.zip", prepared.created, packer)
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


# --- the run: one ordered list of steps, walked by the plain run and, each as a task, by the Prefect flow


@dataclass
class Run:
    """One export: what it was asked for, and what its steps made so far (read by the next step and the report)."""

    raw_dir: Path
    study_dir: Path
    specs: Specs
    strict: bool = False
    cutoff: str | None = None
    force: bool = False
    block_size: int | None = None  # subjects derived at a time (None: BLOCK_SIZE)
    workers: int = 1  # processes deriving the blocks
    spill: Path | None = None  # with blocks: the folder the derived datasets wait in until they are written
    stage: str = "starting"  # the step running, named in the one-line reason of a failure
    swept: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    scans: dict[str, Scan] = field(default_factory=dict)  # each raw file's scan, made with the fingerprint
    raw: dict[str, RawFile] | None = None
    validation: Validation | None = None
    summary: str = ""
    prepared: Prepared | None = None
    staging: Path | None = None
    stamp: str | None = None
    transfer: Path | None = None
    today: date = date.min  # the run's date at the study's sites (the latest of theirs), set when the run starts
    sites: dict[str, date] = field(default_factory=dict)  # each site's own date at the same instant

    def result(self, code: int, message: str, error: BaseException | None = None) -> ExportResult:
        v = self.validation
        counts, rejects = (v.counts, v.rejects) if v is not None else ({}, None)
        return ExportResult(code, message, self.transfer, counts, rejects, self.stage, error, v, self.fingerprint)


@dataclass(frozen=True)
class RunStep:
    """One step of the run: its name (the Prefect task's), what it does, and whether it is I/O worth a retry."""

    name: str
    func: Callable[[Run], ExportResult | None]  # None: go on; a result: the run ends here with it
    io: bool = False


def today(specs: Specs) -> date:
    """The date at the study's sites now (the latest of their dates): no data date and no cut-off may lie after it."""
    return site_today(specs)


def check_cutoff(cutoff: str | None, specs: Specs, now: date) -> None:
    if cutoff and date.fromisoformat(cutoff) > now:
        raise PipelineError(f"--cutoff {cutoff} is after today ({now} at the study's sites): a cut cannot be ahead")


def check_cutoff_has_data(valid: dict[str, Rows], specs: Specs, cutoff: str | None) -> None:
    """A cut before the first date of every subject-level file (before the first consent) leaves nothing to publish."""
    if not cutoff:
        return
    for name, contract in specs.raw.items():
        column = (contract.cut or {}).get("date")
        if contract.parent is None and column and name in valid and valid[name][column].notna().any():
            first = str(valid[name][column].str.slice(0, 10).min())
            if first > cutoff:
                raise PipelineError(
                    f"--cutoff {cutoff} is before any data: the first {column} in {contract.file} is {first}"
                )


def future_date(valid: dict[str, Rows], specs: Specs, after: date) -> str | None:
    """`file:line: column='value'` of the first valid date after `after`, if any (it would date the transfer)."""
    limit = after.isoformat()
    for name, contract in specs.raw.items():
        frame = valid.get(name)
        for col in contract.columns:
            if frame is None or col.type not in ("date", "datetime") or col.name not in frame:
                continue
            late = frame[col.name].str.slice(0, 10).gt(limit).fillna(False).astype(bool)
            if late.any():
                line = late.idxmax()
                return f"{contract.file}:{line}: {col.name}={frame[col.name].at[line]!r}"
    return None


def _fingerprint(run: Run) -> ExportResult | None:
    run.fingerprint = fingerprint(run.raw_dir, run.specs, run.cutoff, scans=run.scans)
    zone = run.specs.study.timezone
    if not run.force and (stamp := unchanged_since(run.study_dir, run.fingerprint, run.today, zone)):
        return run.result(EXIT_CLEAN, f"unchanged since {stamp}")
    return None


def _read(run: Run) -> None:
    run.raw = read_inputs(run.raw_dir, run.specs, run.scans, hold=True)
    run.scans = {}


def _validate(run: Run) -> ExportResult | None:
    run.validation = validate_raw(run.raw, run.specs, run.today, run.sites)
    run.summary = summary_line(run.validation)
    if run.strict and len(run.validation.rejects):
        return run.result(EXIT_REJECTS, f"not published (--strict): {run.summary}")
    return None


def _derive(run: Run) -> None:
    check_cutoff_has_data(run.validation.valid, run.specs, run.cutoff)
    run.raw = {name: f.without_rows() for name, f in run.raw.items()}  # validated: the valid rows are all we need
    # with more than one block, the datasets wait beside the transfers, in a folder swept like a staging one if left
    run.spill = run.study_dir / f"{STAGING_PREFIX}{utc_stamp()}-{os.getpid()}-blocks"
    args = (run.cutoff, run.today, run.block_size, run.workers, run.spill)
    run.prepared = prepare(run.raw, run.validation, run.specs, *args)


def _write(run: Run) -> None:
    run.staging, run.stamp = stage_transfer(run.prepared, run.specs, run.study_dir, run.fingerprint)


def _publish(run: Run) -> None:
    with shielded():  # a signal now would split the rename from the switch of `latest`: it waits until both are done
        run.transfer = publish(run.staging, run.study_dir, run.stamp)
        run.staging = None
        settle()  # published: a signal from now on changes nothing (the command line reports the publication)


STEPS: tuple[RunStep, ...] = (
    RunStep("fingerprint-inputs", _fingerprint, io=True),
    RunStep("read-raw-exports", _read, io=True),
    RunStep("validate-raw", _validate),
    RunStep("derive-sdtm", _derive),
    RunStep("write-transfer", _write),
    RunStep("publish-transfer", _publish, io=True),
)


def _direct(step: RunStep, run: Run) -> ExportResult | None:
    return step.func(run)


def check_output(study_dir: Path) -> None:
    """Refuse, before any work, an output root or study folder that is a file, and a `latest` that is not a link."""
    for folder in (study_dir.parent, study_dir):
        if folder.exists() and not folder.is_dir():
            raise PipelineError(f"{folder}: not a folder (--out must name a folder)")
    latest = study_dir / LATEST
    if latest.exists() and not latest.is_symlink():
        kind = "folder" if latest.is_dir() else "file"
        raise PipelineError(f"{latest}: a {kind}, not the link to the latest transfer; move it away")
    latest_transfer(study_dir)  # a `latest` that loops is refused here, before any work


def _missing_folders(folder: Path) -> list[Path]:
    """The folders a run would create to reach `folder`, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _walk(run: Run, call: Callable[[RunStep, Run], ExportResult | None]) -> ExportResult:
    run.today = today(run.specs)  # one date for the whole run: validation and the checks agree across midnight
    run.sites = site_dates(run.specs)  # validation holds a row to its site's date where that is before today
    check_cutoff(run.cutoff, run.specs, run.today)
    check_raw_dir(run.raw_dir)
    check_output(run.study_dir)
    made = _missing_folders(run.study_dir)
    try:
        run.stage = "lock"
        with study_lock(run.study_dir, run.specs.study.studyid):
            run.swept = sweep_staging(run.study_dir)
            try:
                for index, step in enumerate(STEPS, 1):
                    run.stage = step.name
                    progress.stage(index, len(STEPS), step.name)
                    if (ended := call(step, run)) is not None:
                        return ended
            finally:
                if run.staging is not None:
                    discard(run.staging)
                    run.staging = None
                if run.spill is not None:
                    discard(run.spill)
                    run.spill = None
    finally:
        if run.transfer is None:  # a run that published nothing leaves no empty folder behind
            for folder in made:
                with suppress(OSError):
                    folder.rmdir()
    return _published(run)


def _published(run: Run) -> ExportResult:
    code = EXIT_REJECTS if len(run.validation.rejects) else EXIT_CLEAN
    return run.result(code, f"published {run.transfer}: {run.summary}")


def run_export(
    raw_dir: Path,
    out_dir: Path,
    specs: Specs,
    strict: bool = False,
    cutoff: str | None = None,
    force: bool = False,
    call: Callable[[RunStep, Run], ExportResult | None] = _direct,
    block_size: int | None = None,
    workers: int = 1,
) -> ExportResult:
    """The whole export: STEPS in order under the study's lock; `call` runs a step (the flow: as a Prefect task).

    Exit code 0 clean (or unchanged), 1 with rejects, 2 nothing published, 3 another export of the study is running.
    Every failure, expected or not, ends here as one line naming the step; nothing is published, and no staging
    folder, lock or temporary file is left. Unchanged inputs publish nothing unless `force`. `block_size` subjects
    are derived at a time, in `workers` processes (the same outputs whatever both are). An interrupt
    (Interrupted, KeyboardInterrupt) cleans up the same way and is raised on.
    """
    use_returning_pool()
    run = Run(Path(raw_dir), Path(out_dir) / specs.study.studyid, specs, strict, cutoff, force, block_size, workers)
    try:
        return _walk(run, call)
    except Interrupted:
        if run.transfer is None:
            raise
        return _published(run)  # the signal came only after publishing: the run is done, and says so
    except PipelineError as exc:
        return run.result(exc.exit_code, shorten(str(exc), 4 * MAX_SHOWN))
    except Exception as exc:  # a bug or the environment (disk full, read-only, ...): one line, the traceback kept
        return run.result(EXIT_FAILED, f"{run.stage}: {describe(exc)}", exc)

"""The Prefect edge: `export_study` runs the pipeline's steps as tasks under the study's lock, publishes nothing
when the inputs are unchanged, retries transient I/O errors, and reports through Prefect's logger and artifacts."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from flows import pipeline
from flows.errors import PipelineError
from flows.fingerprint import fingerprint, unchanged_since
from flows.lock import LockedError, study_lock
from flows.publish import discard, latest_transfer, publish, sweep_staging
from flows.report import run_report
from flows.specs import SPECS_DIR, Specs, load_specs
from flows.validate import Validation

RETRY_DELAYS = [1, 4, 16]  # seconds: a share that hiccups usually answers again within these
# Tests only, inert unless set: while the file this names exists, a run holds the study lock in a task `test-hold`
# (at most HOLD_MAX seconds) before it reads anything, so that a crash test can kill it mid-run. See README.
HOLD_ENV = "S103_TEST_HOLD_FILE"
HOLD_MAX = 600


def _transient(task, task_run, state) -> bool:
    """Retry I/O errors (a share briefly unreachable), never a file that is wrong."""
    try:
        state.result()
    except OSError:
        return True
    except BaseException:
        return False
    return False


IO = {"retries": 3, "retry_delay_seconds": RETRY_DELAYS, "retry_condition_fn": _transient, "cache_policy": NO_CACHE}


@task(name="fingerprint-inputs", **IO)
def fingerprint_task(raw_dir: Path, specs: Specs, cutoff: str | None) -> str:
    return fingerprint(raw_dir, specs, cutoff)


@task(name="read-raw-exports", **IO)
def read_task(raw_dir: Path, specs: Specs) -> dict:
    return pipeline.read_inputs(raw_dir, specs)


@task(name="validate-raw", cache_policy=NO_CACHE)
def validate_task(raw: dict, specs: Specs) -> Validation:
    return pipeline.validate_raw(raw, specs)


@task(name="derive-sdtm", cache_policy=NO_CACHE)
def derive_task(raw: dict, validation: Validation, specs: Specs, cutoff: str | None) -> pipeline.Prepared:
    return pipeline.prepare(raw, validation, specs, cutoff)


@task(name="write-transfer", cache_policy=NO_CACHE)
def write_task(prepared: pipeline.Prepared, specs: Specs, study_dir: Path, current: str) -> tuple[Path, str]:
    return pipeline.stage_transfer(prepared, specs, study_dir, current)


@task(name="publish-transfer", **{**IO, "retries": 2})
def publish_task(staging: Path, study_dir: Path, stamp: str) -> Path:
    return publish(staging, study_dir, stamp)


@task(name="test-hold", cache_policy=NO_CACHE)
def hold_task(path: Path) -> None:
    deadline = time.monotonic() + HOLD_MAX
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def _report(studyid: str | None, outcome: str, **parts) -> None:
    key = f"export-{studyid.lower()}" if studyid else None
    create_markdown_artifact(key=key, markdown=run_report(studyid or "(specs not loaded)", outcome, **parts))


def _validation_table(validation: Validation, summary: str, studyid: str, files: dict[str, str]) -> None:
    rows = [{"file": files.get(name, name), **c} for name, c in validation.counts.items()]
    create_table_artifact(key=f"validation-{studyid.lower()}", table=rows, description=summary)


def _export(
    raw_dir: Path, study_dir: Path, specs: Specs, strict: bool, cutoff: str | None, force: bool
) -> pipeline.ExportResult:
    """The run under the lock: skip if unchanged, else read, validate, derive, write, publish and report."""
    logger, studyid = get_run_logger(), specs.study.studyid
    files = {name: c.file for name, c in specs.raw.items()}
    if swept := sweep_staging(study_dir):
        logger.warning("removed what an interrupted run left: %s", ", ".join(swept))
    current = fingerprint_task(raw_dir, specs, cutoff)
    if not force and (stamp := unchanged_since(study_dir, current)):
        message = f"unchanged since {stamp}"
        _report(studyid, f"Unchanged since {stamp}: {latest_transfer(study_dir)} was made from the same inputs")
        return pipeline.ExportResult(pipeline.EXIT_CLEAN, message)
    raw = read_task(raw_dir, specs)
    validation = validate_task(raw, specs)
    summary = pipeline.summary_line(validation)
    logger.info("%s", summary)
    _validation_table(validation, summary, studyid, files)
    result = dict(counts=validation.counts, rejects=validation.rejects)
    if strict and len(validation.rejects):
        message = f"not published (--strict): {summary}"
        _report(studyid, message, validation=validation, files=files, fingerprint=current)
        return pipeline.ExportResult(pipeline.EXIT_REJECTS, message, None, **result)
    prepared = derive_task(raw, validation, specs, cutoff)
    staging, stamp = write_task(prepared, specs, study_dir, current)
    try:
        transfer = publish_task(staging, study_dir, stamp)
    except BaseException:
        discard(staging)
        raise
    manifest = json.loads((transfer / "manifest.json").read_text(encoding="utf-8"))
    _report(
        studyid,
        f"Published {transfer.name}: {summary}",
        validation=validation,
        manifest=manifest,
        transfer=transfer.resolve(),
        fingerprint=current,
        files=files,
    )
    code = pipeline.EXIT_REJECTS if len(validation.rejects) else pipeline.EXIT_CLEAN
    return pipeline.ExportResult(code, f"published {transfer}: {summary}", transfer, **result)


def _run_name() -> str:
    """export-<STUDYID>-<date>-<time><UTC offset>-<run id>, the moment in the study's time zone and the first six
    characters of the run's id, so two runs of the same second differ: export-CART-20250321-20261126-020000+0800-3f2a1c.
    """
    run_id = str(flow_run.id or "")[:6] or "local"
    try:
        path = Path(flow_run.parameters.get("specs_dir") or SPECS_DIR) / "study.yaml"
        study = yaml.safe_load(path.read_text(encoding="utf-8"))
        moment = datetime.now(ZoneInfo(study["sites"][0]["timezone"]))
        return f"export-{study['studyid']}-{moment:%Y%m%d-%H%M%S%z}-{run_id}"
    except (OSError, LookupError, TypeError, ValueError, yaml.YAMLError):  # the run itself will say what is wrong
        return f"export-{datetime.now(UTC):%Y%m%d-%H%M%S%z}-{run_id}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    text = text[0] if text else ""
    return text if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {text}".rstrip(": ")


@flow(name="export_study", flow_run_name=_run_name, log_prints=False)
def export_study(
    raw_dir: str = "raw",
    out_dir: str = "output",
    strict: bool = False,
    cutoff: str | None = None,
    specs_dir: str = str(SPECS_DIR),
    force: bool = False,
) -> State:
    """Read, validate, derive, write and publish one SDTM transfer of the study, unless its inputs are unchanged."""
    logger, studyid = get_run_logger(), None
    try:
        specs = load_specs(Path(specs_dir))
        studyid = specs.study.studyid
        study_dir = Path(out_dir) / studyid
        with study_lock(study_dir, studyid):
            if (hold := os.environ.get(HOLD_ENV)) and Path(hold).exists():
                hold_task(Path(hold))
            result = _export(Path(raw_dir), study_dir, specs, strict, cutoff, force)
    except LockedError as exc:
        logger.warning("%s", exc)
        _report(studyid, f"Skipped: {exc}")
        return Completed(name="Skipped", message=str(exc), data=pipeline.ExportResult(exc.exit_code, str(exc)))
    except Exception as exc:
        reason = _one_line(exc)
        if isinstance(exc, PipelineError):
            logger.error("%s", reason)
        else:  # a bug or an environment problem: keep the traceback in the run's log
            logger.exception("export failed: %s", reason)
        _report(studyid, f"Failed: {reason}. The previous transfer and `latest` are unchanged.")
        return Failed(message=reason)
    logger.info("%s", result.message)
    return Completed(message=result.message, data=result)


def result_of(state: State) -> pipeline.ExportResult:
    """The ExportResult of a finished export_study run (a failed run: exit code 2 and its reason)."""
    if state.is_completed():
        return state.result()
    return pipeline.ExportResult(pipeline.EXIT_FAILED, state.message or f"export ended {state.name}")

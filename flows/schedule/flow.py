"""The Prefect edge: `export_study` walks the core's steps (pipeline.STEPS, through `pipeline.run_export`) each as a
task, so the plain run and the flow cannot drift apart; transient I/O errors are retried, and the run reports
through Prefect's logger (with the traceback of an unexpected failure) and artifacts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from flows.kernel.errors import PipelineError, describe, shorten
from flows.mapping.load import load_specs
from flows.raw.validate import Validation
from flows.run import pipeline
from flows.run.lock import LockedError
from flows.schedule.report import run_report
from flows.spec.model import Specs, Study
from flows.spec.read import SPECS_DIR
from flows.transfer.publish import latest_transfer

RETRY_DELAYS = [1, 4, 16]  # seconds: a share that hiccups usually answers again within these


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


def _task(step: pipeline.RunStep):
    """A step of the core's run as a Prefect task of the same name; I/O steps retry transient errors."""
    options = IO if step.io else {"cache_policy": NO_CACHE}
    return task(name=step.name, **options)(step.func)


TASKS = {step.name: _task(step) for step in pipeline.STEPS}


def _as_task(step: pipeline.RunStep, run: pipeline.Run) -> pipeline.ExportResult | None:
    return TASKS[step.name](quote(run))  # quoted: Prefect passes the run as it is, without looking inside


def _report(studyid: str | None, outcome: str, **parts) -> None:
    key = f"export-{studyid.lower()}" if studyid else None
    create_markdown_artifact(key=key, markdown=run_report(studyid or "(specs not loaded)", outcome, **parts))


def _validation_table(validation: Validation, summary: str, studyid: str, files: dict[str, str]) -> None:
    rows = [{"file": files.get(name, name), **c} for name, c in validation.counts.items()]
    create_table_artifact(key=f"validation-{studyid.lower()}", table=rows, description=summary)


def _export(raw_dir: Path, out_dir: Path, specs: Specs, strict: bool, cutoff: str | None, force: bool) -> State:
    """The core's run with each step as a task, then the run's report and validation table as artifacts."""
    logger, studyid = get_run_logger(), specs.study.studyid
    files = {name: c.file for name, c in specs.raw.items()}
    result = pipeline.run_export(raw_dir, out_dir, specs, strict, cutoff, force, call=_as_task)
    study_dir = out_dir / studyid
    validation = result.validation
    if validation is not None:
        summary = pipeline.summary_line(validation)
        logger.info("%s", summary)
        _validation_table(validation, summary, studyid, files)
    parts = dict(validation=validation, files=files, fingerprint=result.fingerprint)
    if result.exit_code == LockedError.exit_code:
        logger.warning("%s", result.message)
        _report(studyid, f"Skipped: {result.message}")
        return Completed(name="Skipped", message=result.message, data=result)
    if result.exit_code == pipeline.EXIT_FAILED:
        if result.error is not None:  # a bug or an environment problem: the traceback goes to the run's log
            logger.error("export failed: %s", result.message, exc_info=result.error)
        else:
            logger.error("%s", result.message)
        _report(studyid, f"Failed: {result.message}. The previous transfer and `latest` are unchanged.", **parts)
        return Failed(message=result.message, data=result)
    if result.transfer is not None:
        manifest = json.loads((result.transfer / "manifest.json").read_text(encoding="utf-8"))
        outcome = f"Published {result.transfer.name}: {pipeline.summary_line(validation)}"
        _report(studyid, outcome, manifest=manifest, transfer=result.transfer.resolve(), **parts)
    elif result.message.startswith("unchanged since "):
        _report(
            studyid,
            f"Unchanged since {result.message.split()[-1]}: {latest_transfer(study_dir)} was made from the same inputs",
        )
    else:
        _report(studyid, result.message, **parts)
    logger.info("%s", result.message)
    return Completed(message=result.message, data=result)


def _run_name() -> str:
    """export-<STUDYID>-<date>-<time><UTC offset>-<run id>, the moment in the time zone of the study's schedule and
    the last six characters of the run's id, so two runs of the same second differ (Prefect's ids are UUIDv7: their
    first characters are the time of creation, the same for runs created together):
    export-CART-20250321-20261126-020000+0800-9c41d7.
    """
    run_id = str(flow_run.id or "")[-6:] or "local"
    try:
        path = Path(flow_run.parameters.get("specs_dir") or SPECS_DIR) / "study.yaml"
        study = yaml.safe_load(path.read_text(encoding="utf-8"))
        moment = datetime.now(ZoneInfo(Study(study, path).schedule_timezone))
        return f"export-{study['studyid']}-{moment:%Y%m%d-%H%M%S%z}-{run_id}"
    except (OSError, LookupError, TypeError, ValueError, yaml.YAMLError):  # the run itself will say what is wrong
        return f"export-{datetime.now(UTC):%Y%m%d-%H%M%S%z}-{run_id}"


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
    logger = get_run_logger()
    try:
        specs = load_specs(Path(specs_dir))
    except PipelineError as exc:
        logger.error("%s", exc)
        _report(None, f"Failed: {exc}. The previous transfer and `latest` are unchanged.")
        return Failed(message=str(exc), data=pipeline.ExportResult(exc.exit_code, str(exc), stage="load-specs"))
    except Exception as exc:
        reason = f"load-specs: {describe(exc)}"
        logger.error("export failed: %s", reason, exc_info=exc)
        _report(None, f"Failed: {reason}. The previous transfer and `latest` are unchanged.")
        return Failed(message=reason, data=pipeline.ExportResult(pipeline.EXIT_FAILED, reason, stage="load-specs"))
    return _export(Path(raw_dir), Path(out_dir), specs, strict, cutoff, force)


def result_of(state: State) -> pipeline.ExportResult:
    """The ExportResult of a finished export_study run: the same exit codes as the plain run (a run that ended
    otherwise, e.g. crashed in Prefect itself: exit code 2 and its reason)."""
    data = state.result(raise_on_failure=False) if state.is_completed() or state.is_failed() else None
    if isinstance(data, pipeline.ExportResult):
        return data
    return pipeline.ExportResult(pipeline.EXIT_FAILED, shorten(state.message or f"export ended {state.name}"))

"""The Prefect edge: `export_study` runs the pipeline's steps as tasks, retries reads, logs and publishes artifacts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import pipeline
from flows.publish import discard, publish
from flows.specs import SPECS_DIR, Specs, load_specs
from flows.validate import Validation


@task(name="read-raw-exports", retries=3, retry_delay_seconds=[1, 4, 16], cache_policy=NO_CACHE)
def read_task(raw_dir: Path, specs: Specs) -> dict:
    return pipeline.read_inputs(raw_dir, specs)


@task(name="validate-raw", cache_policy=NO_CACHE)
def validate_task(raw: dict, specs: Specs) -> Validation:
    return pipeline.validate_raw(raw, specs)


@task(name="derive-sdtm", cache_policy=NO_CACHE)
def derive_task(raw: dict, validation: Validation, specs: Specs, cutoff: str | None) -> pipeline.Prepared:
    return pipeline.prepare(raw, validation, specs, cutoff)


@task(name="write-transfer", cache_policy=NO_CACHE)
def write_task(prepared: pipeline.Prepared, specs: Specs, study_dir: Path) -> tuple[Path, str]:
    return pipeline.stage_transfer(prepared, specs, study_dir)


@task(name="publish-transfer", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_task(staging: Path, study_dir: Path, stamp: str) -> Path:
    return publish(staging, study_dir, stamp)


def _artifacts(validation: Validation, transfer: Path | None, summary: str, studyid: str) -> None:
    rows = [{"file": f, **c} for f, c in validation.counts.items()]
    create_table_artifact(key=f"validation-{studyid.lower()}", table=rows, description=summary)
    by_rule = validation.rejects["rule"].value_counts().sort_index()
    lines = [
        f"# Export of {studyid}",
        "",
        summary,
        "",
        f"Transfer: `{transfer}`" if transfer else "Nothing published.",
        "",
    ]
    lines += ["| file | read | valid | rejected |", "|---|---|---|---|"]
    lines += [f"| {r['file']} | {r['read']} | {r['valid']} | {r['rejected']} |" for r in rows]
    if len(by_rule):
        lines += ["", "| reject rule | records |", "|---|---|", *[f"| {k} | {v} |" for k, v in by_rule.items()]]
    create_markdown_artifact(key=f"export-{studyid.lower()}", markdown="\n".join(lines))


def _run_name() -> str:
    return f"export-{load_specs().study.studyid}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(name="export_study", flow_run_name=_run_name, log_prints=False)
def export_study(
    raw_dir: str = "raw",
    out_dir: str = "output",
    strict: bool = False,
    cutoff: str | None = None,
    specs_dir: str = str(SPECS_DIR),
):
    """Read, validate, derive, write and publish one SDTM transfer of the study."""
    logger = get_run_logger()
    specs = load_specs(Path(specs_dir))
    study_dir = Path(out_dir) / specs.study.studyid
    raw = read_task(Path(raw_dir), specs)
    validation = validate_task(raw, specs)
    summary = pipeline.summary_line(validation)
    logger.info(summary)
    if strict and len(validation.rejects):
        _artifacts(validation, None, summary, specs.study.studyid)
        return pipeline.ExportResult(
            pipeline.EXIT_REJECTS, f"not published (--strict): {summary}", None, validation.counts, validation.rejects
        )
    prepared = derive_task(raw, validation, specs, cutoff)
    staging, stamp = write_task(prepared, specs, study_dir)
    try:
        transfer = publish_task(staging, study_dir, stamp)
    except BaseException:
        discard(staging)
        raise
    logger.info("published %s", transfer)
    _artifacts(validation, transfer, summary, specs.study.studyid)
    code = pipeline.EXIT_REJECTS if len(validation.rejects) else pipeline.EXIT_CLEAN
    return pipeline.ExportResult(
        code, f"published {transfer}: {summary}", transfer, validation.counts, validation.rejects
    )

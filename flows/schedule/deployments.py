"""The deployments of the export flow: prefect.yaml's, and one per study generated from it and the study's specs
(its cron and time zone from study.yaml, its specs and raw folder as parameters, a concurrency limit of one each);
served by `make serve`'s runner (`to_deployment`) or put in prefect.yaml's work pool for its workers."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from flows.kernel.errors import SpecError
from flows.mapping.load import load_specs
from flows.spec.model import Specs
from flows.spec.read import SPECS_DIR

PROJECT = Path(__file__).resolve().parents[2]
PREFECT_YAML = PROJECT / "prefect.yaml"
ENTRYPOINT = "flows/schedule/flow.py:export_study"
FLOW_NAME = "export_study"


def deployment_spec(path: Path = PREFECT_YAML) -> dict[str, Any]:
    """The entry of prefect.yaml's `deployments` whose entrypoint is the export flow."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for entry in data.get("deployments") or []:
        if entry.get("entrypoint") == ENTRYPOINT:
            return entry
    raise SpecError(f"{path}: no deployment with entrypoint {ENTRYPOINT}")


def zone_slug(timezone: str) -> str:
    """Asia/Shanghai -> asia-shanghai: how a schedule's slug names its time zone."""
    return timezone.lower().replace("/", "-").replace("_", "-")


def _daily_at(cron: str) -> tuple[int, int] | None:
    """(hour, minute) of a cron that runs once a day ('0 2 * * *' -> (2, 0)); None for any other cron."""
    fields = cron.split()
    if len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit() and fields[2:] == ["*", "*", "*"]:
        return int(fields[1]), int(fields[0])
    return None


def schedule_slug(cron: str, timezone: str) -> str:
    """How the UI names a schedule, with its zone: '0 2 * * *' in Asia/Shanghai -> daily-0200-asia-shanghai."""
    if at := _daily_at(cron):
        return f"daily-{at[0]:02}{at[1]:02}-{zone_slug(timezone)}"
    return "cron-" + re.sub(r"[^0-9a-z]+", "-", cron.lower().replace("*", "x")).strip("-") + "-" + zone_slug(timezone)


def _daily(cron: str) -> str:
    """'0 2 * * *' -> 'daily at 02:00'; any other cron -> "on cron '...'"."""
    at = _daily_at(cron)
    return f"daily at {at[0]:02}:{at[1]:02}" if at else f"on cron {cron!r}"


def check_schedule(spec: dict[str, Any], specs: Specs, path: Path = PREFECT_YAML) -> None:
    """Every schedule runs on the study's cron in the study's time zone (study.yaml `schedule`, sites[].timezone),
    never the machine's, and the schedule's slug and the deployment's description name the zone (the UI shows the
    cron without it)."""
    zone, cron, where = specs.study.schedule_timezone, specs.study.cron, f"{path}: deployments.{spec['name']}"
    for i, schedule in enumerate(spec.get("schedules") or []):
        if schedule.get("timezone") != zone:
            raise SpecError(
                f"{where}.schedules[{i}].timezone is {schedule.get('timezone')!r}, "
                f"but the study's time zone is {zone!r} ({specs.study.path.name} schedule.timezone or sites[].timezone)"
            )
        if cron is not None and schedule.get("cron") != cron:
            raise SpecError(
                f"{where}.schedules[{i}].cron is {schedule.get('cron')!r}, "
                f"but the study's is {cron!r} ({specs.study.path.name} schedule.cron)"
            )
        if not str(schedule.get("slug") or "").endswith(zone_slug(zone)):
            raise SpecError(f"{where}.schedules[{i}].slug must end with the time zone: ...-{zone_slug(zone)}")
    if spec.get("schedules") and zone not in str(spec.get("description") or ""):
        raise SpecError(f"{where}.description must name the schedule's time zone {zone}")


def study_deployment(template: dict[str, Any], specs_dir: Path) -> dict[str, Any]:
    """prefect.yaml's deployment for the study of specs_dir: for the repository's specs/ the deployment itself; for
    another, `<name>-<studyid>` on its own cron (study.yaml `schedule`, else the template's) in its own time zone,
    with its specs and the `raw/` beside them."""
    specs = load_specs(specs_dir)
    if specs_dir.resolve() == SPECS_DIR.resolve():
        check_schedule(template, specs)
        return template
    zone, studyid = specs.study.schedule_timezone, specs.study.studyid
    schedules = []
    for s in template.get("schedules") or []:
        cron = specs.study.cron or s["cron"]
        schedules.append({**s, "cron": cron, "timezone": zone, "slug": schedule_slug(cron, zone)})
    description = str(template.get("description") or "").partition("): ")[2]
    when = " and ".join(f"{_daily(s['cron'])} {zone}" for s in schedules) or "when triggered"
    spec = {
        **template,
        "name": f"{template['name']}-{studyid.lower()}",
        "description": f"{studyid}: SDTM transfer {when} (the study's time zone): {description}",
        "schedules": schedules,
        "parameters": {
            **(template.get("parameters") or {}),
            "raw_dir": str((specs_dir.parent / "raw").resolve()),
            "specs_dir": str(specs_dir.resolve()),
        },
    }
    check_schedule(spec, specs)
    return spec


def study_deployments(specs_dirs: list[Path] | None = None, out_dir: Path | None = None) -> list[dict[str, Any]]:
    """One deployment per study (spec folder; default: the repository's specs/), each with its own limit of 1;
    `out_dir`, when given, replaces prefect.yaml's output root (as an absolute path)."""
    template = deployment_spec()
    deployments = [study_deployment(template, Path(d)) for d in specs_dirs or [SPECS_DIR]]
    if out_dir is None:
        return deployments
    return [{**d, "parameters": {**d["parameters"], "out_dir": str(out_dir.resolve())}} for d in deployments]


def deploy_to_pool(deployments: list[dict[str, Any]], env: dict[str, str]) -> str:
    """prefect.yaml's process work pool (created when missing) and in it the studies' deployments (from
    study_deployments), through `prefect deploy --all` on a copy of prefect.yaml listing them; a line saying what it
    did."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    pool = deployments[0]["work_pool"]["name"]
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
    project = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="s103-deploy-") as folder:
        path = Path(folder) / "prefect.yaml"
        path.write_text(yaml.safe_dump({**project, "deployments": deployments}, sort_keys=False), encoding="utf-8")
        cmd = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(path)]
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        said = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        raise RuntimeError(f"prefect deploy exited with code {proc.returncode}: {said[-1] if said else ''}")
    names = ", ".join(f"{FLOW_NAME}/{d['name']}" for d in deployments)
    return f"deployed {names} to the work pool {pool!r} (its workers: prefect worker start --pool {pool})"


def to_deployment(spec: dict[str, Any]):
    """The served form of prefect.yaml's deployment: same name, schedules, parameters and concurrency limit."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.schedules import Cron

    from flows.schedule.flow import export_study

    schedules = [
        Cron(s["cron"], timezone=s.get("timezone"), active=bool(s.get("active", True)), slug=s.get("slug"))
        for s in spec.get("schedules") or []
    ]
    limit = spec.get("concurrency_limit")
    if isinstance(limit, dict):
        limit = ConcurrencyLimitConfig(**{k: v for k, v in limit.items() if v is not None})
    return export_study.to_deployment(
        name=spec["name"],
        schedules=schedules,
        parameters=spec.get("parameters") or {},
        concurrency_limit=limit,
        description=spec.get("description"),
        tags=spec.get("tags"),
    )

"""`make status`: the latest transfer of each study, an export in progress, and the last runs on the Prefect server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flows.mapping.load import load_specs
from flows.run.lock import LOCK_NAME, held_by
from flows.schedule.crash import CRASH_AUTOMATION
from flows.schedule.deployments import FLOW_NAME, study_deployments
from flows.schedule.server import configured_api_url, default_port, local_api_url
from flows.spec.read import SPECS_DIR
from flows.transfer.publish import latest_transfer


def transfer_lines(study_dir: Path) -> list[str]:
    """The latest transfer (stamp, time, rejects, fingerprint) and any export holding the study's lock."""
    lines = []
    transfer = latest_transfer(study_dir)
    if transfer is None:
        lines.append(f"latest transfer: none in {study_dir}")
    else:
        try:
            m = json.loads((transfer / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            m = {}
        rejects = m.get("rejects", {}).get("records", "?")
        lines.append(f"latest transfer: {transfer} (run at {m.get('run_at', '?')}, {rejects} reject records)")
        lines.append(f"  fingerprint {m.get('fingerprint') or 'not recorded'}")
    holder = held_by(study_dir / LOCK_NAME)
    if holder is not None:
        lines.append(f"export running: since {holder.describe()}")
    return lines


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}" if moment else "-"


def when_in(moment: datetime, zone: str | None) -> str:
    """A scheduled moment in the schedule's own time zone, as the run names give it, then in UTC."""
    if not zone:
        return _when(moment)
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M:%S%z} {zone} ({_when(moment)})"


def server_lines(api_url: str, runs: int, specs_dirs: list[Path] | None = None) -> list[str]:
    """Each study's deployment with its schedule and next run, whether crash detection is on, and the last runs of
    the export flow, from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    flow_name = FLOW_NAME
    lines = [f"Prefect server: {api_url}"]
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        if client.api_healthcheck() is not None:
            return [*lines, "  not reachable (start one with `make serve`)"]
        for spec in study_deployments(specs_dirs):
            try:
                dep = client.read_deployment_by_name(f"{flow_name}/{spec['name']}")
            except ObjectNotFound:
                lines.append(f"deployment {flow_name}/{spec['name']}: not deployed (run `make serve`)")
                continue
            scheds = [f"{s.schedule.cron} {s.schedule.timezone} ({'active' if s.active else 'paused'})"
                      for s in dep.schedules if hasattr(s.schedule, "cron")]  # fmt: skip
            lines.append(f"deployment {flow_name}/{dep.name}: {', '.join(scheds) or 'no schedule'}")
            upcoming = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )  # fmt: skip
            if upcoming:
                zone = next((s.schedule.timezone for s in dep.schedules if getattr(s.schedule, "timezone", None)), None)
                lines.append(f"  next run {when_in(upcoming[0].expected_start_time, zone)}")
        crash = [a for a in client.read_automations_by_name(CRASH_AUTOMATION) if a.enabled]
        lines.append(
            f"crash detection: {crash[0].description}"
            if crash
            else "crash detection: off on this server, a run whose process dies stays Running (`make serve` sets it up)"
        )
        recent = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED]))),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=runs,
        )  # fmt: skip
    recent.sort(key=lambda r: r.start_time or r.expected_start_time, reverse=True)
    lines.append(f"last {len(recent)} runs:" if recent else "no runs yet")
    for r in recent:
        took = f"{r.total_run_time.total_seconds():.1f} s" if r.total_run_time else "-"
        state = r.state.name if r.state else "?"
        message = (r.state.message or "") if r.state else ""
        lines.append(f"  {r.name:<50} {state:<10} {_when(r.start_time or r.expected_start_time)}  {took:>8}  {message}")
    return lines


def main(out_dir: Path, runs: int = 10, specs_dirs: list[Path] | None = None) -> int:
    for specs_dir in specs_dirs or [SPECS_DIR]:
        studyid = load_specs(specs_dir).study.studyid
        print(studyid)
        for line in transfer_lines(out_dir / studyid):
            print(line)
    for line in server_lines(configured_api_url() or local_api_url(default_port()), runs, specs_dirs):
        print(line)
    return 0

"""Crash detection: Prefect's zombie-run automation for the export flow. A run whose process, machine or server died
sends no more heartbeats; the automation marks it Crashed, which also frees its deployment's concurrency slot."""

from __future__ import annotations

from flows.schedule.deployments import FLOW_NAME

# Every flow run sends a heartbeat event this often (Prefect's minimum is 30 s, its default 180 s); the automation marks
# a Pending or Running run Crashed after MISSED_HEARTBEATS silent periods, which releases the deployment's concurrency
# slot.
HEARTBEAT_SECONDS = 30
MISSED_HEARTBEATS = 3
CRASH_AUTOMATION = f"{FLOW_NAME}: mark silent runs Crashed"
CRASH_DETECTION = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}


def crash_automation(heartbeat: int):
    """Prefect's zombie-run recipe for this flow: a run that sent a heartbeat (or went Pending) and then neither
    another heartbeat nor a final state within MISSED_HEARTBEATS heartbeats is marked Crashed."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    final = {f"prefect.flow-run.{name}" for name in ("Completed", "Failed", "Cancelled", "Crashed")}
    seconds = heartbeat * MISSED_HEARTBEATS
    return Automation(
        name=CRASH_AUTOMATION,
        description=f"a run of {FLOW_NAME} silent for {seconds} s (no heartbeat, no final state) is marked Crashed",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Pending"},
            expect={"prefect.flow-run.heartbeat", *final},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAME}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {seconds} s: its process, machine or the Prefect server died",
            )
        ],
    )


def ensure_crash_automation(heartbeat: int | None = None) -> str:
    """Create the crash automation on the configured server, or bring it up to date; a line saying what it does.
    `heartbeat`: the runs' heartbeat period in seconds (default: this process's Prefect setting)."""
    from prefect.automations import Automation
    from prefect.settings import get_current_settings

    wanted = crash_automation(heartbeat or get_current_settings().flows.heartbeat_frequency or HEARTBEAT_SECONDS)
    try:
        found = Automation.read(name=CRASH_AUTOMATION)
    except ValueError:
        wanted.create()
    else:
        if (found.trigger, found.actions, found.enabled) != (wanted.trigger, wanted.actions, True):
            wanted.id = found.id
            wanted.update()
    return f"automation {CRASH_AUTOMATION!r}: {wanted.description}"

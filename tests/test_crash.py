"""Tests of flows/schedule/crash.py: the crash automation is Prefect's zombie-run recipe, scoped to the export flow. The
crash scenarios themselves (SIGKILL of the server, the runner, everything) are server tests in tests/test_serve.py."""

from __future__ import annotations

from flows.schedule.crash import crash_automation


def test_crash_automation_is_prefects_zombie_recipe_scoped_to_the_export_flow():
    automation = crash_automation(30)
    trigger = automation.trigger
    assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 90 and trigger.threshold == 1
    assert trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Pending"}
    assert trigger.expect >= {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Crashed"}
    assert trigger.for_each == {"prefect.resource.id"}
    assert dict(trigger.match_related.root) == {
        "prefect.resource.role": "flow",
        "prefect.resource.name": "export_study",
    }
    (action,) = automation.actions
    assert action.type == "change-flow-run-state" and action.state == "CRASHED"

"""Tests of flows/schedule/deployments.py: prefect.yaml's deployment runs on the study's cron in the study's time zone,
and every other study gets a deployment of its own from its specs (cron, time zone, specs, raw folder, output root)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from flows.schedule.deployments import ENTRYPOINT, PREFECT_YAML, check_schedule, deployment_spec, study_deployments
from flows.spec.read import SPECS_DIR
from tests.conftest import ROOT

SECOND = ROOT / "tests" / "studies" / "PBO-2201" / "specs"  # the second study (America/New_York), raw/ beside it


def test_schedule_runs_nightly_in_the_study_time_zone(specs):
    spec = deployment_spec()
    (schedule,) = spec["schedules"]
    assert schedule["timezone"] == specs.study.timezone  # Asia/Shanghai, from specs/study.yaml sites[].timezone
    assert {s["timezone"] for s in specs.study.sites} == {schedule["timezone"]}
    assert schedule["cron"].split()[:2] == ["0", "2"] and schedule["cron"].split()[2:] == ["*", "*", "*"]  # 02:00
    check_schedule(spec, specs)


def test_deployment_parameters_and_one_run_at_a_time():
    spec = deployment_spec()
    assert spec["entrypoint"] == ENTRYPOINT and spec["parameters"] == {"raw_dir": "raw", "out_dir": "output"}
    assert spec["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


def test_prefect_reads_our_prefect_yaml():
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(yaml.safe_load(PREFECT_YAML.read_text()))
    assert [d.entrypoint for d in model.deployments] == [ENTRYPOINT]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"schedules": [{"cron": "0 2 * * *", "timezone": "UTC"}]},
            r"schedules\[0\]\.timezone is 'UTC', but the study's",
        ),
        ({"schedules": [{"cron": "0 2 * * *", "timezone": "Asia/Shanghai"}]}, r"slug must end with .*asia-shanghai"),
        ({"description": "Nightly SDTM transfer at 02:00"}, r"description must name .* Asia/Shanghai"),
    ],
    ids=["another zone", "no zone in the slug", "no zone in the description"],
)
def test_a_schedule_that_hides_or_changes_the_study_time_zone_is_refused(specs, change, error):
    from flows.kernel.errors import SpecError

    with pytest.raises(SpecError, match=error):
        check_schedule({**deployment_spec(), **change}, specs)


def test_one_deployment_per_study_from_its_own_specs(specs):
    first, second = study_deployments([SPECS_DIR, SECOND])
    assert first == deployment_spec()  # the repository's study: prefect.yaml's deployment as it is
    assert second["name"] == "nightly-pbo-2201"
    (schedule,) = second["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (first["schedules"][0]["cron"], "America/New_York")  # sites[0]
    assert schedule["slug"] == "daily-0200-america-new-york"
    assert second["description"].startswith("PBO-2201: ") and "America/New_York" in second["description"]
    assert "Asia/Shanghai" not in second["description"]
    assert second["parameters"] == {
        "raw_dir": str(SECOND.parent / "raw"),
        "out_dir": "output",
        "specs_dir": str(SECOND),
    }
    assert second["concurrency_limit"] == first["concurrency_limit"]  # one run at a time per study
    assert study_deployments() == [first]


def _study_copy(tmp_path: Path, schedule: str) -> Path:
    """The second study's specs and raw/ under tmp_path, with `schedule` (a line of YAML) in its study.yaml."""
    shutil.copytree(SECOND.parent, tmp_path / "PBO-2201")
    specs = tmp_path / "PBO-2201" / "specs"
    with (specs / "study.yaml").open("a", encoding="utf-8") as f:
        f.write(f"\n{schedule}\n")
    return specs


def test_a_study_runs_on_the_cron_and_time_zone_of_its_study_yaml(tmp_path):
    specs = _study_copy(tmp_path, 'schedule: {cron: "30 6 * * 1-5", timezone: Europe/Berlin}')
    (spec,) = study_deployments([specs])
    (schedule,) = spec["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == ("30 6 * * 1-5", "Europe/Berlin")  # not sites[0]'s New York
    assert schedule["slug"] == "cron-30-6-x-x-1-5-europe-berlin"
    assert spec["description"].startswith("PBO-2201: SDTM transfer on cron '30 6 * * 1-5' Europe/Berlin (the study")
    daily = _study_copy(tmp_path / "daily", 'schedule: {cron: "45 23 * * *"}')
    (schedule,) = study_deployments([daily])[0]["schedules"]
    assert (schedule["timezone"], schedule["slug"]) == ("America/New_York", "daily-2345-america-new-york")


def test_the_repository_study_yaml_and_prefect_yaml_name_the_same_cron(specs):
    from flows.kernel.errors import SpecError

    assert specs.study.cron == deployment_spec()["schedules"][0]["cron"]
    other = {**deployment_spec(), "schedules": [{**deployment_spec()["schedules"][0], "cron": "0 3 * * *"}]}
    with pytest.raises(SpecError, match=r"schedules\[0\]\.cron is '0 3 \* \* \*', but the study's is '0 2 \* \* \*'"):
        check_schedule(other, specs)


def test_an_output_root_given_to_serve_is_every_deployment_s_absolute_out_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    deployments = study_deployments([SPECS_DIR, SECOND], out_dir=Path("shared/out"))
    assert {d["parameters"]["out_dir"] for d in deployments} == {str(tmp_path / "shared" / "out")}
    assert deployment_spec()["parameters"]["out_dir"] == "output"  # prefect.yaml itself unchanged

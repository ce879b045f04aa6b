"""Resilience of the Prefect flow (flows/flow.py) on Prefect's offline test harness: reads retry transient I/O
errors only, a failed run ends Failed with its one-line reason and changes nothing, unchanged inputs publish
nothing, and a held lock is a clean skip."""

from __future__ import annotations

import os

import pytest

from flows import pipeline
from flows.errors import StructuralError
from flows.lock import study_lock
from tests.conftest import RAW


@pytest.fixture(scope="module")
def harness():
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError(5, "Input/output error"), True),  # a share that hiccups
        (PermissionError(13, "Permission denied"), True),  # an OSError too: may be a share remounting
        (StructuralError("dosing.csv: empty file (no header line)"), False),  # the file is wrong: retrying won't help
    ],
)
def test_only_io_errors_are_retried(error, retried):
    from prefect.states import Failed

    from flows.flow import _transient

    assert _transient(None, None, Failed(data=error)) is retried


def test_read_retried_after_a_transient_error_then_published(harness, tmp_path, monkeypatch):
    from flows.flow import export_study

    calls, read = [], pipeline.read_inputs

    def flaky(raw_dir, specs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return read(raw_dir, specs)

    monkeypatch.setattr(pipeline, "read_inputs", flaky)
    state = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), return_state=True)
    assert state.is_completed() and state.message.startswith("published "), state.message
    assert len(calls) == 2


def test_failed_run_keeps_previous_transfer_and_says_why_in_one_line(harness, raw_copy, tmp_path, specs):
    from flows.flow import export_study

    first = export_study(raw_dir=str(raw_copy), out_dir=str(tmp_path), return_state=True).result()
    study_dir = tmp_path / specs.study.studyid
    before = (os.readlink(study_dir / "latest"), sorted(p.name for p in study_dir.iterdir()))
    (raw_copy / "dosing.csv").write_text("")
    state = export_study(raw_dir=str(raw_copy), out_dir=str(tmp_path), return_state=True)
    assert state.is_failed() and state.message == "dosing.csv: empty file (no header line)"
    assert (os.readlink(study_dir / "latest"), sorted(p.name for p in study_dir.iterdir())) == before
    assert first.transfer == (study_dir / "latest").resolve()


def test_unchanged_then_locked(harness, tmp_path, specs):
    from flows.flow import export_study, result_of

    published = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), return_state=True).result()
    state = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), return_state=True)
    assert state.is_completed() and state.message == f"unchanged since {published.transfer.name}"
    study = specs.study.studyid
    with study_lock(tmp_path / study, study):
        state = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), force=True, return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert state.message.startswith(f"another export of {study} is running since ")
    assert result_of(state).exit_code == 3

"""Resilience of the Prefect flow (flows/schedule/flow.py) on Prefect's offline test harness: reads retry transient I/O
errors only, a failed run ends Failed with its one-line reason and changes nothing, unchanged inputs publish
nothing, and a held lock is a clean skip."""

from __future__ import annotations

import os

import pytest

from flows.kernel.errors import StructuralError
from flows.run import pipeline
from flows.run.lock import study_lock
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

    from flows.schedule.flow import _transient

    assert _transient(None, None, Failed(data=error)) is retried


def test_read_retried_after_a_transient_error_then_published(harness, tmp_path, monkeypatch):
    from flows.schedule.flow import export_study

    calls, read = [], pipeline.read_inputs

    def flaky(raw_dir, specs, scans=None, hold=False):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return read(raw_dir, specs, scans, hold)

    monkeypatch.setattr(pipeline, "read_inputs", flaky)
    state = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), return_state=True)
    assert state.is_completed() and state.message.startswith("published "), state.message
    assert len(calls) == 2


def test_failed_run_keeps_previous_transfer_and_says_why_in_one_line(harness, raw_copy, tmp_path, specs):
    from flows.schedule.flow import export_study

    first = export_study(raw_dir=str(raw_copy), out_dir=str(tmp_path), return_state=True).result()
    study_dir = tmp_path / specs.study.studyid
    before = (os.readlink(study_dir / "latest"), sorted(p.name for p in study_dir.iterdir()))
    (raw_copy / "dosing.csv").write_text("")
    state = export_study(raw_dir=str(raw_copy), out_dir=str(tmp_path), return_state=True)
    assert state.is_failed() and state.message == "dosing.csv: empty file (no header line)"
    assert (os.readlink(study_dir / "latest"), sorted(p.name for p in study_dir.iterdir())) == before
    assert first.transfer == (study_dir / "latest").resolve()


def test_unchanged_then_locked(harness, tmp_path, specs):
    from flows.schedule.flow import export_study, result_of

    published = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), return_state=True).result()
    state = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), return_state=True)
    assert state.is_completed() and state.message == f"unchanged since {published.transfer.name}"
    study = specs.study.studyid
    with study_lock(tmp_path / study, study):
        state = export_study(raw_dir=str(RAW), out_dir=str(tmp_path), force=True, return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert state.message.startswith(f"another export of {study} is running since ")
    assert result_of(state).exit_code == 3


def _fault(kind: str, tmp_path, monkeypatch) -> tuple[str, dict]:
    """An output root set up for one fault, and export keyword arguments."""
    import errno

    out = tmp_path / "out"
    tmp_path.mkdir(exist_ok=True)
    if kind == "out is a file":
        out.write_text("x")
    elif kind == "latest is a folder":
        (out / "CART-20250321" / "latest").mkdir(parents=True)
    elif kind == "disk full while writing":

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(out / "x"))

        monkeypatch.setattr(pipeline, "write_manifest", full)
    elif kind == "a bug":

        def bug(raw, specs, today=None, sites=None):
            raise TypeError("operation 'rsub' not supported for dtype 'str'")

        monkeypatch.setattr(pipeline, "validate_raw", bug)
    return str(out), {"cutoff": "2020-01-01"} if kind == "cut-off before any data" else {}


FAULTS = ["out is a file", "latest is a folder", "disk full while writing", "a bug", "cut-off before any data"]


@pytest.mark.parametrize("kind", FAULTS)
def test_same_exit_code_and_line_with_and_without_prefect(harness, tmp_path, monkeypatch, specs, kind):
    from flows.schedule.flow import export_study, result_of

    out, kwargs = _fault(kind, tmp_path / "plain", monkeypatch)
    plain = pipeline.run_export(RAW, out, specs, **kwargs)
    out_flow, kwargs = _fault(kind, tmp_path / "flow", monkeypatch)
    state = export_study(raw_dir=str(RAW), out_dir=out_flow, return_state=True, **kwargs)
    flowed = result_of(state)
    assert state.is_failed() and flowed.exit_code == plain.exit_code == 2
    assert flowed.message == plain.message.replace(str(tmp_path / "plain"), str(tmp_path / "flow"))
    assert state.message == flowed.message


def test_cli_through_prefect_one_line_no_traceback(harness, tmp_path, monkeypatch, capfd):
    """With PREFECT_API_URL set the export runs as the flow; a failing task's traceback stays in the run's log."""
    from prefect.settings import PREFECT_API_URL

    from flows import cli

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    out, _ = _fault("disk full while writing", tmp_path, monkeypatch)
    assert cli.main(["export", "--raw", str(RAW), "--out", out]) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == f"error: write-transfer: No space left on device (ENOSPC): {out}/x"


def test_sigterm_through_prefect_cleans_up_and_exits_143(harness, sample_export, tmp_path, monkeypatch, capfd):
    """Prefect turns SIGTERM into its own TerminationSignal inside a run: the core's cleanup runs on the way out and
    the command line still ends with 143."""
    import shutil
    import signal

    from prefect.settings import PREFECT_API_URL

    from flows import cli

    _, transfer = sample_export
    study = tmp_path / "CART-20250321"
    study.mkdir()
    shutil.copytree(transfer, study / transfer.name)
    (study / "latest").symlink_to(transfer.name)
    write = pipeline.write_outputs

    def write_then_sigterm(*args):
        written = write(*args)
        os.kill(os.getpid(), signal.SIGTERM)
        return written

    monkeypatch.setattr(pipeline, "write_outputs", write_then_sigterm)
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    assert cli.main(["export", "--raw", str(RAW), "--out", str(tmp_path), "--force"]) == 143
    assert capfd.readouterr().err.splitlines()[-1] == "interrupted (SIGTERM): nothing published; cleaned up"
    assert sorted(p.name for p in study.iterdir()) == sorted([transfer.name, "latest"])

"""flows.cli: the command line a person meets: versions, usage per subcommand, help on every option, the reject
summary, --debug, --quiet and --verbose, and one line for what fails outside an export."""

from __future__ import annotations

import argparse
import errno

import pandas as pd
import pytest

from flows import cli
from flows.run import pipeline
from tests.conftest import RAW, run_cli


def test_version_names_pipeline_and_libraries():
    proc = run_cli("--version")
    assert proc.returncode == 0
    line = proc.stdout.strip()
    assert line.startswith("s103-sdtm 0.1.0 (python 3.") and "\n" not in line
    for library in ("pandas", "pyarrow", "pandera", "prefect"):
        assert f" {library} " in line


def test_wrong_flag_shows_the_subcommand_usage():
    proc = run_cli("export", "--bogus")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: s103-sdtm export ")
    assert proc.stderr.rstrip().endswith("s103-sdtm export: error: unrecognized arguments: --bogus")


def test_every_option_has_help():
    _, subs = cli.parser()
    for name, sub in subs.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"


def test_diff_of_a_folder_that_is_no_transfer(tmp_path):
    proc = run_cli("diff", str(tmp_path), str(tmp_path))
    assert proc.returncode == 2 and proc.stderr == f"error: {tmp_path}: not a transfer folder (no parquet/)\n"


def test_unexpected_failure_outside_an_export_is_one_line(sample_export, monkeypatch, capsys):
    import flows.transfer.diff

    def fail(old, new):
        raise OSError(errno.EIO, "Input/output error", str(new / "parquet" / "dm.parquet"))

    monkeypatch.setattr(flows.transfer.diff, "diff_transfers", fail)
    _, transfer = sample_export
    assert cli.main(["diff", str(transfer), str(transfer)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: diff: Input/output error (EIO): {transfer.resolve()}/parquet/dm.parquet\n"


def rejects_frame() -> pd.DataFrame:
    causes = [("dosing.csv", 5, "cells_per_kg", "abc", "number", "must be a number")] * 2
    causes += [("enrollment.csv", 3, "race", "Z" * 5000, "codelist", "not in RACE")]
    cascades = [("assessments.csv", 10 + i, "subject", "0002", "parent_rejected", "row rejected") for i in range(30)]
    rows = cascades[:5] + causes + cascades[5:]
    return pd.DataFrame(rows, columns=["file", "line", "column", "value", "rule", "message"])


def test_rejects_on_stderr_root_causes_first_then_counts(capsys):
    cli.print_rejects(rejects_frame())
    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == ["  dosing.csv:5: cells_per_kg='abc': number: must be a number"] * 2
    assert "enrollment.csv:3: race='ZZZ" in lines[2] and len(lines[2]) < 200  # a long value is cut
    assert lines[3].startswith("  assessments.csv:10: ")  # cascades only after every root cause
    assert lines[10] == "  ... 23 more in rejects.csv"
    assert lines[11:] == [
        "rejects by file and rule (3 root causes):",
        "  dosing.csv: number: 2",
        "  enrollment.csv: codelist: 1",
        "cascades (parent_rejected: rows dropped with the row they depend on; 30 records):",
        "  assessments.csv: 30",
    ]


@pytest.fixture
def failing_validation(monkeypatch):
    def bug(raw, specs, today=None, sites=None):
        raise TypeError("operation 'rsub' not supported for dtype 'str'")

    monkeypatch.setattr(pipeline, "validate_raw", bug)


@pytest.mark.parametrize("debug", [False, True])
def test_traceback_only_with_debug(failing_validation, tmp_path, capsys, debug):
    argv = ["export", "--raw", str(RAW), "--out", str(tmp_path), "--quiet"] + (["--debug"] if debug else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    last = "error: validate-raw: TypeError: operation 'rsub' not supported for dtype 'str' (a bug: rerun with --debug"
    assert err.splitlines()[-1].startswith(last)
    assert ("Traceback (most recent call last)" in err) is debug
    assert debug or err.count("\n") == 1


def test_quiet_and_verbose(raw_copy, tmp_path, capsys):
    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    enrol.loc[0, "sex"] = "X"
    enrol.to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    assert cli.main(["export", "--raw", str(raw_copy), "--out", str(tmp_path / "q"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("published ") and err.count("\n") == 1  # the result line and nothing else
    assert cli.main(["export", "--raw", str(raw_copy), "--out", str(tmp_path / "v"), "--verbose"]) == 1
    err = capsys.readouterr().err
    steps = [line for line in err.splitlines() if line.startswith("[")]
    assert steps == [f"[{i}/6] {s.name}" for i, s in enumerate(pipeline.STEPS, 1)]
    assert err.count("  done in ") == 6 and "rejects by file and rule" in err


def test_a_configured_server_that_does_not_answer_is_named(tmp_path):
    from flows.schedule.server import free_port

    url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    proc = run_cli("export", "--raw", str(RAW), "--out", str(tmp_path / "out"), env={"PREFECT_API_URL": url})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "a bug" not in proc.stderr
    assert proc.stderr == (
        f"error: no Prefect server answers at {url} (PREFECT_API_URL): start it, or unset PREFECT_API_URL to export "
        "without a server\n"
    )
    assert not (tmp_path / "out").exists()


def test_synth_of_no_subjects_is_a_usage_error(tmp_path):
    proc = run_cli("synth", "--subjects", "0", "--out", str(tmp_path / "raw"))
    assert proc.returncode == 2 and "a bug" not in proc.stderr
    assert proc.stderr.rstrip().endswith("s103-sdtm synth: error: argument --subjects: must be at least 1: 0")
    assert not (tmp_path / "raw").exists()


def test_a_stopped_serve_does_not_say_nothing_was_published(monkeypatch, capsys):
    """Ctrl-C reaches `serve`'s runner too: its line must not deny what its runs published."""
    import flows.schedule.serve

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(flows.schedule.serve, "main", stopped)
    assert cli.main(["serve", "--runner-only"]) == 130
    assert capsys.readouterr().err == "interrupted (SIGINT): serve stopped\n"


def test_export_help_lists_the_exit_codes():
    proc = run_cli("export", "--help")
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0
    for code in ("0 published clean", "1 published with rejected rows", "2 nothing published", "3 another export",
                 "143 / 130 stopped by SIGTERM / SIGINT"):  # fmt: skip
        assert code in text, code

"""Tests of bench/load.py: the pieces (studies scheduled for one minute, the results section) and, on a real server,
a small load (three studies, two workers, SQLite) that must drain with every check passed, and a SIGTERM that must
leave no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import yaml

from flows.schedule.deployments import study_deployments
from flows.schedule.serve import _die_with_parent
from tests.conftest import ROOT, bench_script
from tests.test_serve import family, running

load = bench_script("load")


def test_copies_of_the_study_each_with_its_studyid_raw_set_and_deployment(tmp_path):
    specs_dirs = load.make_studies(tmp_path, 2, subjects=3)
    assert [d.parent.name for d in specs_dirs] == ["LOAD-01", "LOAD-02"]
    for d in specs_dirs:
        assert yaml.safe_load((d / "study.yaml").read_text())["studyid"] == d.parent.name
        assert sorted(p.name for p in (d.parent / "raw").iterdir()) == sorted(
            p.name for p in (ROOT / "raw").iterdir() if p.suffix == ".csv"
        )
    raws = [(d.parent / "raw" / "enrollment.csv").read_bytes() for d in specs_dirs]
    assert raws[0] != raws[1]  # a seed of its own each
    assert [d["name"] for d in study_deployments(specs_dirs)] == ["nightly-load-01", "nightly-load-02"]


def test_every_study_is_scheduled_for_the_same_minute_in_its_own_time_zone(tmp_path):
    specs_dirs = load.make_studies(tmp_path, 2, subjects=3)
    study = specs_dirs[1] / "study.yaml"
    study.write_text(study.read_text().replace('schedule: {cron: "0 2 * * *"', 'schedule: {cron: "0 2 * * *", '
                                               "timezone: America/New_York"))  # fmt: skip
    load.schedule_at(specs_dirs, datetime(2026, 11, 29, 9, 7, tzinfo=UTC))
    first, second = (s["schedules"][0] for s in study_deployments(specs_dirs))
    assert (first["cron"], first["timezone"]) == ("7 17 29 11 *", "Asia/Shanghai")  # 09:07 UTC
    assert (second["cron"], second["timezone"]) == ("7 4 29 11 *", "America/New_York")


def test_the_next_minute_leaves_the_lead_and_is_whole():
    before = datetime.now(UTC)
    minute = load._next_minute(30)
    assert minute.second == minute.microsecond == 0 and 30 <= (minute - before).total_seconds() <= 91


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# Bench\n\nintro\n", "# Bench\n\nintro\n\n## Load: x\n\nnew\n"),  # appended
        ("# Bench\n\n## Load: x\n\nold\n", "# Bench\n\n## Load: x\n\nnew\n"),  # replaced at the end
        ("# B\n\n## Load: x\n\nold\n\n## Notes\n\nkept\n", "# B\n\n## Load: x\n\nnew\n## Notes\n\nkept\n"),
    ],
    ids=["appended", "replaced at the end", "replaced, the rest kept"],
)
def test_the_load_section_replaces_only_itself(text, expected):
    assert load.replace_section(text, "## Load: x", "## Load: x\n\nnew\n") == expected


def test_bench_run_keeps_the_load_section_when_it_rewrites_the_file(tmp_path):
    run = bench_script("run")
    results = tmp_path / "results.md"
    results.write_text("# Export benchmark\n\nold table\n\n## Load: studies\n\n| sqlite | 20 |\n\n## Notes\n\n- x\n")
    assert run.kept_sections(results) == "\n## Load: studies\n\n| sqlite | 20 |\n"
    assert run.kept_sections(tmp_path / "none.md") == ""


def test_a_failed_check_is_named():
    locked = {"serve.log": ["sqlite3.OperationalError: database is locked", "x: database is locked"]}
    drain = load.Drain("sqlite", 20, 19, 19, 100.0, 1.0, 9.0, 12.0, 1, 0, locked, 0, 30.0, (1.0, 1.0, 1.0),
                       {"Completed": 19, "Crashed": 1})  # fmt: skip
    wrong = load.verdict(drain)
    assert wrong[0].startswith("sqlite: 19/20 Completed, 19 published")
    assert "sqlite: 1 deployment concurrency slots still held" in wrong
    assert "sqlite: lines saying 'database is locked' (2 in serve.log), e.g. `sqlite3.OperationalError: " in wrong[2]
    assert "**Checks failed:**" in load.section([drain], 20, 2, 8, "abc", [])


# --- a real server ------------------------------------------------------------------------------------------------


@pytest.mark.server
def test_three_studies_scheduled_for_one_minute_all_complete_on_two_workers(tmp_path):
    results = tmp_path / "results.md"
    results.write_text("# Export benchmark\n\nkept\n")
    before = family(os.getpid())
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code = load.main(["--studies", "3", "--databases", "sqlite", "--lead", "5", "--results", str(results)])
    text = results.read_text()
    assert text.startswith("# Export benchmark\n\nkept\n") and load.HEADING in text
    row = next(line for line in text.splitlines() if line.startswith("| sqlite |")).split(" | ")
    assert (row[1], row[2], row[7], row[8]) == ("3", "3", "0", "0")  # runs, completed, slots held, locks left
    # SQLite's server may log "database is locked" under concurrent writes (PrefectHQ/prefect#18934): the benchmark
    # reports it as a failed check (PostgreSQL's never does); here nothing else may have failed
    failed = next((line for line in text.splitlines() if line.startswith("**Checks failed:** ")), None)
    if failed is None:
        assert code == 0 and "Every check passed" in text
    else:
        assert code == 1 and failed.startswith("**Checks failed:** sqlite: lines saying 'database is locked' (")
        assert failed.count("sqlite: ") == 1, failed  # no other check failed
    assert [p for p in family(os.getpid()) - before if running(p)] == []
    assert signal.getsignal(signal.SIGINT) is handlers[0] and signal.getsignal(signal.SIGTERM) is handlers[1]


@pytest.mark.server
def test_sigterm_stops_every_process_the_load_started(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cmd = [sys.executable, str(ROOT / "bench" / "load.py"), "--studies", "2", "--databases", "sqlite", "--results", "-"]
    bench = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_die_with_parent(os.getpid()))  # fmt: skip
    try:
        line = bench.stdout.readline()  # after the deploy, with the server and both workers started
        assert "runs scheduled for" in line, line + bench.stderr.read()
        pids = family(bench.pid) - {bench.pid}
        assert len(pids) >= 4  # the supervisor, the server, two workers
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(90) == 130
        assert "interrupted (SIGTERM): every process stopped" in bench.stderr.read()
        deadline = time.monotonic() + 10
        while [p for p in pids if running(p)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p for p in pids if running(p)] == []
    finally:
        if bench.poll() is None:
            bench.kill()

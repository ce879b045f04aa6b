"""Tests of flows/schedule/serve.py and prefect.yaml: the schedule is the study's, and, on a real Prefect server started
by `python -m flows serve` in a temporary home, triggered runs publish once, rerun idempotently, never overlap, fail
without touching `latest`, and Ctrl-C leaves no process behind; a SIGKILL of the server, the runner, the supervisor or
everything mid-run leaves no dead schedule and no orphan; the same export runs on a PostgreSQL-backed server."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.schedule.deployments import deployment_spec
from flows.schedule.serve import _die_with_parent, database, prefect_env
from flows.schedule.server import answers, free_port, local_api_url, port_free
from tests.conftest import RAW, ROOT, bench_script, run_cli

SECOND = ROOT / "tests" / "studies" / "PBO-2201" / "specs"  # the second study (America/New_York), raw/ beside it

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "SQLite at /h/prefect.db"),  # the default: the server's home
        ({"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://u:pw@db:5433/p"}, "PostgreSQL at db:5433/p"),
        ({"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://db/p"}, "PostgreSQL at db:5432/p"),
        ({"PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:////x/y.db"}, "SQLite at /x/y.db"),
    ],
)  # fmt: skip
def test_the_database_line_names_the_server_database_without_its_password(env, expected):
    assert database(env, Path("/h")) == expected


def test_prefect_env_turns_heartbeats_on_and_keeps_leases_on_disk_for_a_local_server(monkeypatch):
    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    local, remote = prefect_env(Path("/h")), prefect_env(api_url="http://elsewhere/api")
    assert local["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == remote["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    assert local["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"].endswith(".filesystem")
    assert "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE" not in remote  # another server is configured by its owner
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")  # the operator's choice wins
    assert prefect_env()["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "60"


def test_a_child_started_by_spawn_dies_with_its_parent(tmp_path):
    """The parent-death signal: SIGKILL a middle process; its child, in a session of its own, gets SIGTERM."""
    script = (
        "import sys, time; from flows.schedule.serve import spawn; "
        "child = spawn([sys.executable, '-c', 'import time; time.sleep(60)'], env={}); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    middle = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(middle.stdout.readline())
    try:
        assert running(child) and os.getsid(child) == child  # its own session, as the runner's
        middle.kill()
        middle.wait()
        deadline = time.monotonic() + 10
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(child)
    finally:
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_a_taken_port_is_seen_and_nothing_answers_on_a_free_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert not port_free(taken.getsockname()[1])
    port = free_port()
    assert port_free(port) and not answers(local_api_url(port))


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


def test_serve_never_joins_a_server_nobody_named(tmp_path):
    """Something answers Prefect's health check on the port (another project's server): serve refuses to deploy."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health) as foreign:
        threading.Thread(target=foreign.serve_forever, daemon=True).start()
        port = foreign.server_address[1]
        proc = run_cli("serve", "--port", str(port), "--home", str(tmp_path / "home"))
        foreign.shutdown()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"error: a Prefect server that serve did not start answers at http://127.0.0.1:{port}/api: to use it, set "
        f"PREFECT_API_URL=http://127.0.0.1:{port}/api; to start one of our own, choose a free port with --port"
    )
    assert "serving" not in proc.stdout


def test_serve_against_a_configured_server_that_is_down_stops_at_once(tmp_path):
    url = local_api_url(free_port())
    proc = run_cli("serve", "--home", str(tmp_path / "home"), env={"PREFECT_API_URL": url})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"error: no Prefect server answers at {url} (PREFECT_API_URL or the Prefect profile)"
    )


# --- a real server --------------------------------------------------------------------------------------------


@dataclass
class Served:
    process: subprocess.Popen
    api: str
    home: Path
    log: Path
    deployment: dict

    def call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(5):
            request = urllib.request.Request(
                f"{self.api}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as exc:
                # Prefect on SQLite answers 500 when its database is briefly locked (PrefectHQ/prefect#18934):
                # the request was rolled back, so it is safe to send again (creates carry an idempotency key)
                if exc.code < 500 or attempt == 4:
                    raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:2000]!r}") from None
                time.sleep(0.5)

    def trigger(self, **parameters) -> str:
        body = {"parameters": parameters, "idempotency_key": str(uuid.uuid4())}
        return self.call("POST", f"/deployments/{self.deployment['id']}/create_flow_run", body)["id"]

    def wait(self, run_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/flow_runs/{run_id}")
            if run["state_type"] in FINAL:
                return run
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} not finished in {timeout} s; serve log:\n{self.log.read_text()[-3000:]}")

    def artifacts(self, run_id: str) -> dict[str, dict]:
        found = self.call("POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
        return {a["type"]: a for a in found}


def family(pid: int) -> set[int]:
    """pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


STARTED: list[subprocess.Popen] = []  # every `flows serve` of this module, stopped on an interrupted teardown


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@pytest.fixture(scope="module", autouse=True)
def sigterm_is_ctrl_c():
    """A SIGTERM to pytest stops this module's servers as Ctrl-C does: through the fixtures' teardown."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in STARTED:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)


def start_serve(home: Path, port: int, *args: str, **extra: str) -> Served:
    """`python -m flows serve` on port with the Prefect home `home` (log appended to home/serve.log); it gets SIGTERM
    if pytest dies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # pick a triggered run up within a second (default 10)
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="1",  # a queued run retries its slot every second
        **extra,
    )
    log = home / "serve.log"
    with log.open("a") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows", "serve", "--port", str(port), "--home", str(home), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    STARTED.append(process)
    return Served(process, f"http://127.0.0.1:{port}/api", home, log, {})


def wait_deployed(served: Served, timeout: float = 180) -> Served:
    """Wait until the served deployment is registered (the server answers and the runner has started)."""
    deadline = time.monotonic() + timeout
    while not served.deployment:
        code = served.process.poll()
        assert code is None, f"serve exited with {code}:\n{served.log.read_text()}"
        assert time.monotonic() < deadline, f"no deployment after {timeout} s:\n{served.log.read_text()}"
        try:
            served.deployment = served.call("GET", "/deployments/name/export_study/nightly")
        except (urllib.error.URLError, ConnectionError, AssertionError):  # not up yet, or 404 until registered
            time.sleep(0.5)
    return served


def stop_serve(served: Served, pids: set[int]) -> None:
    """Ctrl-C, then SIGKILL whatever of `pids` (what this test started) is still running."""
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGINT)
        try:
            served.process.wait(60)
        except subprocess.TimeoutExpired:
            served.process.kill()
    for pid in pids | family(served.process.pid):
        if pid != served.process.pid and running(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def served(tmp_path_factory, request):
    """`python -m flows serve` for two studies on a free port with a temporary Prefect home, until the deployments
    are registered.

    The crash scenarios, when selected, start first: they mostly wait for a missed heartbeat, so these tests run
    meanwhile."""
    if any(item.name.startswith("test_a_crash_leaves") for item in request.session.items):
        request.getfixturevalue("crashes")
    served = start_serve(
        tmp_path_factory.mktemp("prefect-home"), free_port(), "--specs", "specs", "--specs", str(SECOND)
    )
    pids: set[int] = set()
    try:
        wait_deployed(served)
        pids = family(served.process.pid)
        yield served
    finally:
        stop_serve(served, pids)


@pytest.mark.server
def test_served_deployment_has_the_schedule_of_prefect_yaml(served, specs):
    (schedule,) = served.deployment["schedules"]
    assert schedule["active"] and schedule["schedule"]["cron"] == deployment_spec()["schedules"][0]["cron"]
    assert schedule["schedule"]["timezone"] == specs.study.timezone
    assert schedule["slug"] == "daily-0200-asia-shanghai" and specs.study.timezone in served.deployment["description"]
    assert served.deployment["parameters"] == {"raw_dir": "raw", "out_dir": "output"}
    assert served.deployment["global_concurrency_limit"]["limit"] == 1
    assert "Prefect server ready in" in served.log.read_text()


@pytest.fixture(scope="module")
def first_run(served, tmp_path_factory) -> tuple[dict, Path]:
    """The first run triggered through the API, into a fresh output root: (flow run, output root)."""
    out = tmp_path_factory.mktemp("out")
    return served.wait(served.trigger(raw_dir=str(RAW), out_dir=str(out))), out


@pytest.mark.server
def test_triggered_run_completes_publishes_and_reports(served, first_run, specs):
    run, out = first_run
    assert run["state_type"] == "COMPLETED", run["state"]["message"]
    study = specs.study.studyid
    # unique and readable: study, date, time with seconds and UTC offset (study time), the run id's last characters
    assert re.fullmatch(rf"export-{study}-\d{{8}}-\d{{6}}\+0800-{run['id'][-6:]}", run["name"]), run["name"]
    transfer = (out / study / "latest").resolve()
    assert run["state"]["message"].startswith(f"published {out / study / transfer.name}: ")
    assert json.loads((transfer / "manifest.json").read_text())["fingerprint"].startswith("sha256:")
    artifacts = served.artifacts(run["id"])
    report = artifacts["markdown"]
    assert report["key"] == f"export-{study.lower()}"
    for part in (f"Transfer: `{transfer}`", "## Read and validated", "## Written", "| xpt/dm.xpt |"):
        assert part in report["data"], part
    table = artifacts["table"]
    assert table["key"] == f"validation-{study.lower()}"
    assert {row["file"] for row in json.loads(table["data"])} == {c.file for c in specs.raw.values()}
    deadline = time.monotonic() + 20  # run logs reach the API in batches, after the state
    while time.monotonic() < deadline:
        logs = served.call("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}})
        if any(g["message"].startswith("published ") and g["level"] == 20 for g in logs):  # INFO, in the UI
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no INFO log 'published ...' for the run: {[g['message'] for g in logs]}")
    tasks = served.call("POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    steps = [
        "fingerprint-inputs",
        "read-raw-exports",
        "validate-raw",
        "derive-sdtm",
        "write-transfer",
        "publish-transfer",
    ]
    assert sorted(t["name"].rsplit("-", 1)[0] for t in tasks) == sorted(steps)


@pytest.mark.server
def test_second_trigger_with_unchanged_inputs_publishes_nothing(served, first_run, specs):
    study_dir = first_run[1] / specs.study.studyid
    before = sorted(p.name for p in study_dir.iterdir())
    run = served.wait(served.trigger(raw_dir=str(RAW), out_dir=str(first_run[1])))
    stamp = (study_dir / "latest").resolve().name
    assert (run["state_type"], run["state"]["message"]) == ("COMPLETED", f"unchanged since {stamp}")
    assert sorted(p.name for p in study_dir.iterdir()) == before
    assert "Unchanged since" in served.artifacts(run["id"])["markdown"]["data"]


@pytest.mark.server
def test_one_off_cli_against_the_server_is_idempotent_too(served, first_run, specs):
    env = {"PREFECT_API_URL": served.api, "PREFECT_HOME": str(served.home), "PREFECT_LOGGING_LEVEL": "WARNING"}
    proc = run_cli("export", "--raw", str(RAW), "--out", str(first_run[1]), env=env)
    stamp = (first_run[1] / specs.study.studyid / "latest").resolve().name
    assert (proc.returncode, proc.stdout) == (0, f"unchanged since {stamp}\n"), proc.stderr


@pytest.mark.server
def test_two_concurrent_triggers_publish_exactly_one_transfer(served, specs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out-concurrent")
    ids = [served.trigger(raw_dir=str(RAW), out_dir=str(out)) for _ in range(2)]
    runs = [served.wait(i) for i in ids]
    assert [r["state_type"] for r in runs] == ["COMPLETED", "COMPLETED"], [r["state"] for r in runs]
    assert runs[0]["name"] != runs[1]["name"]  # the same second, told apart by the run id
    study_dir = out / specs.study.studyid
    transfers = [p for p in study_dir.iterdir() if not p.name.startswith(".") and p.name != "latest"]
    assert len(transfers) == 1 and (study_dir / "latest").resolve() == transfers[0]
    published, other = sorted((r["state"]["message"] for r in runs), key=lambda m: not m.startswith("published "))
    assert published.startswith("published ")
    # the deployment's concurrency limit queues the second run, which then finds nothing new; had it started
    # anyway, the study lock would have turned it away
    study = specs.study.studyid
    assert other == f"unchanged since {transfers[0].name}" or other.startswith(f"another export of {study} is running")


@pytest.mark.server
def test_failed_run_keeps_latest_and_ends_failed_with_the_reason(served, first_run, specs, tmp_path_factory):
    study_dir = first_run[1] / specs.study.studyid
    before = (os.readlink(study_dir / "latest"), sorted(p.name for p in study_dir.iterdir()))
    empty = tmp_path_factory.mktemp("no-raw")
    run = served.wait(served.trigger(raw_dir=str(empty), out_dir=str(first_run[1])))
    assert run["state_type"] == "FAILED"
    message = run["state"]["message"]
    assert "\n" not in message and f"missing file (expected in {empty})" in message
    assert (os.readlink(study_dir / "latest"), sorted(p.name for p in study_dir.iterdir())) == before
    assert "Failed: " in served.artifacts(run["id"])["markdown"]["data"]


@pytest.mark.server
def test_prefect_deploy_works_against_the_running_server(served, specs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=served.api, PREFECT_HOME=str(served.home), PREFECT_LOGGING_LEVEL="WARNING")
    pool = deployment_spec()["work_pool"]["name"]
    for cmd in (["work-pool", "create", pool, "--type", "process"], ["--no-prompt", "deploy", "--name", "nightly"]):
        proc = subprocess.run(
            [sys.executable, "-m", "prefect", *cmd], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    deployed = served.call("GET", "/deployments/name/export_study/nightly")
    assert (
        deployed["work_pool_name"] == pool and deployed["schedules"][0]["schedule"]["timezone"] == specs.study.timezone
    )
    assert deployed["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]


@pytest.mark.server
def test_the_second_study_has_its_own_deployment_schedule_and_transfer(served, tmp_path):
    second = served.call("GET", "/deployments/name/export_study/nightly-pbo-2201")
    assert second["schedules"][0]["schedule"]["timezone"] == "America/New_York"
    body = {"parameters": {"out_dir": str(tmp_path)}, "idempotency_key": str(uuid.uuid4())}
    run = served.wait(served.call("POST", f"/deployments/{second['id']}/create_flow_run", body)["id"])
    assert run["state_type"] == "COMPLETED" and run["state"]["message"].startswith("published "), run["state"]
    assert re.fullmatch(rf"export-PBO-2201-\d{{8}}-\d{{6}}[+-]\d{{4}}-{run['id'][-6:]}", run["name"]), run["name"]
    assert (tmp_path / "PBO-2201" / "latest" / "manifest.json").is_file()
    env = {"PREFECT_API_URL": served.api, "PREFECT_HOME": str(served.home), "PREFECT_LOGGING_LEVEL": "WARNING"}
    status = run_cli("status", "--out", str(tmp_path), "--specs", "specs", "--specs", str(SECOND), env=env).stdout
    assert "deployment export_study/nightly: 0 2 * * * Asia/Shanghai" in status
    assert "deployment export_study/nightly-pbo-2201: 0 2 * * * America/New_York" in status
    assert f"latest transfer: {tmp_path / 'PBO-2201'}" in status and run["name"] in status


@pytest.mark.server
def test_ctrl_c_stops_runner_then_server_and_leaves_no_process(served):
    pids = family(served.process.pid)
    assert len(pids) >= 3  # serve, the server, the runner
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(60) == 0
    assert [p for p in pids if running(p)] == []
    log = served.log.read_text()
    assert log.index("stopping: runner first, then server") < log.index("Server stopped!")


# --- crashes: nothing a killed process leaves behind blocks the schedule ----------------------------------------

RECOVERY_BOUND = 240  # seconds from a kill until the next triggered run has completed (measured: 30 to 130 s)
KINDS = ("server", "runner", "power")


@dataclass
class Crash:
    """What one crash scenario saw: the killed run and the next one (after recovery), times and leftovers."""

    killed: dict
    next_run: dict
    recovery: float
    survivors: list[int]  # processes still alive 15 s after a SIGKILL of `make serve` alone, a run in progress
    status: str  # `python -m flows status` after recovery
    log: str


def _role(pid: int, role: str) -> bool:
    try:
        return role in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False


def _wait_task_running(served: Served, run_id: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = served.call("POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
        if any(t["name"].startswith(name) and t["state_type"] == "RUNNING" for t in tasks):
            return
        time.sleep(0.5)
    raise AssertionError(f"task {name} of run {run_id} not running after {timeout} s:\n{served.log.read_text()}")


def _wait_answering(served: Served, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not answers(served.api):
        assert time.monotonic() < deadline, f"no server after {timeout} s:\n{served.log.read_text()}"
        time.sleep(0.5)


def _kill_supervisor_mid_run(served: Served, hold: Path, out: Path) -> list[int]:
    """SIGKILL `make serve` alone while a run is held: the processes of its stack still alive 15 s later."""
    hold.touch()
    try:
        _wait_task_running(served, served.trigger(raw_dir=str(RAW), out_dir=str(out)), "test-hold")
        pids = family(served.process.pid) - {served.process.pid}
        assert len(pids) >= 3, pids  # the server, the runner and its flow run
        served.process.kill()
        served.process.wait()
        deadline = time.monotonic() + 15
        while (survivors := sorted(p for p in pids if running(p))) and time.monotonic() < deadline:
            time.sleep(0.2)
        return survivors
    finally:
        hold.unlink()


def hold_env(hold: Path) -> dict[str, str]:
    """The environment of a stack whose runs wait while `hold` exists (the hook tests/hooks/sitecustomize.py)."""
    return {"S103_TEST_HOLD_FILE": str(hold), "PYTHONPATH": str(ROOT / "tests" / "hooks")}


def crash(kind: str, home: Path) -> Crash:
    """Serve, hold a run mid-way (the test hook), SIGKILL part of the stack, restart what a person would restart,
    trigger the next run and wait for it; at the end SIGKILL `make serve` alone with a run held (nothing it
    started may survive it)."""
    port, hold, out = free_port(), home / "hold", home / "out"
    hold.touch()
    served = wait_deployed(start_serve(home, port, **hold_env(hold)))
    pids = family(served.process.pid)
    try:
        first = served.trigger(raw_dir=str(RAW), out_dir=str(out))
        _wait_task_running(served, first, "test-hold")
        pids = family(served.process.pid)
        server = next(p for p in pids if _role(p, "prefect server start"))
        runner = next(p for p in pids if _role(p, "--runner-only"))
        killed_at = time.monotonic()
        if kind == "server":  # the supervisor restarts it
            os.killpg(server, signal.SIGKILL)
        elif kind == "runner":  # the runner and the flow run it started; the supervisor restarts the runner
            os.killpg(runner, signal.SIGKILL)
        elif kind == "power":  # every process at once, then `make serve` again
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            served.process.wait()
            served.process = start_serve(home, port, **hold_env(hold)).process
        hold.unlink()
        _wait_answering(served)
        second = served.wait(served.trigger(raw_dir=str(RAW), out_dir=str(out)), timeout=RECOVERY_BOUND + 60)
        recovery = time.monotonic() - killed_at
        killed = served.wait(first, timeout=60)
        env = {"PREFECT_API_URL": served.api, "PREFECT_HOME": str(home), "PREFECT_LOGGING_LEVEL": "WARNING"}
        status = run_cli("status", "--out", str(out), env=env).stdout
        pids |= family(served.process.pid)
        survivors = _kill_supervisor_mid_run(served, hold, out)
    finally:
        stop_serve(served, pids)
    return Crash(killed, second, recovery, survivors, status, served.log.read_text())


@pytest.fixture(scope="module")
def crashes(tmp_path_factory):
    """The crash scenarios, run side by side (each mostly waits for the crash to be noticed)."""
    with ThreadPoolExecutor(len(KINDS)) as pool:
        try:
            yield {kind: pool.submit(crash, kind, tmp_path_factory.mktemp(f"crash-{kind}")) for kind in KINDS}
        finally:  # after an interrupt, stop the servers so that the scenarios fail fast and the pool can close
            for process in STARTED:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)


@pytest.mark.server
@pytest.mark.parametrize("kind", KINDS)
def test_a_crash_leaves_no_dead_schedule(crashes, kind):
    seen = crashes[kind].result(timeout=600)
    context = f"{kind}: killed run {seen.killed['state']}\nnext {seen.next_run['state']}\nlog:\n{seen.log[-3000:]}"
    assert seen.next_run["state_type"] == "COMPLETED", context
    assert seen.recovery < RECOVERY_BOUND, context
    print(f"{kind}: next run completed {seen.recovery:.0f} s after the kill")
    # the killed run no longer pretends to run: a server restart alone lets it finish; otherwise it is Crashed
    # (the heartbeat automation) or, when its runner could still say so, Crashed or Cancelled by the runner
    expected = {"COMPLETED", "CRASHED"} if kind == "server" else {"CRASHED", "CANCELLED"}
    assert seen.killed["state_type"] in expected, context
    assert "crash detection: a run of export_study silent for 90 s" in seen.status
    line = next(line for line in seen.status.splitlines() if seen.killed["name"] in line)
    assert seen.killed["state_name"] in line and "Running" not in line, seen.status
    assert seen.survivors == [], f"processes that outlived their SIGKILLed supervisor: {seen.survivors}"


# --- PostgreSQL as the server's database ------------------------------------------------------------------------


LOAD = bench_script("load")  # its throwaway PostgreSQL cluster serves the tests too
postgres_bin = LOAD.postgres_bin


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster in a temporary folder on a free port (bench/load.py's postgres_cluster); its
    SQLAlchemy URL for Prefect, with a database `prefect`."""
    if postgres_bin() is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with LOAD.postgres_cluster() as url:
        yield url


def prefect_cli_env(api: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING")
    return env


@pytest.mark.server
def test_a_work_pool_of_two_workers_on_a_postgres_backed_server(postgres_url, tmp_path, specs):
    """`python -m flows serve --no-runner` on PostgreSQL, prefect.yaml's deployment for the process work pool, and
    two workers sharing one output folder: two runs, one transfer (the deployment's limit holds across workers)."""
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    served = start_serve(home, free_port(), "--no-runner", PREFECT_API_DATABASE_CONNECTION_URL=postgres_url)
    env, pool = prefect_cli_env(served.api, home), deployment_spec()["work_pool"]["name"]
    workers: list[subprocess.Popen] = []
    pids: set[int] = set()
    try:
        _wait_answering(served)
        for cmd in (["work-pool", "create", pool, "--type", "process"], ["--no-prompt", "deploy", "--name", "nightly"]):
            proc = subprocess.run(
                [sys.executable, "-m", "prefect", *cmd], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
        served.deployment = served.call("GET", "/deployments/name/export_study/nightly")
        with (home / "workers.log").open("a") as log:
            workers = [
                subprocess.Popen(
                    [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--name", f"worker-{i}"],
                    cwd=tmp_path, env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}, stdout=log,
                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent(os.getpid()),
                )
                for i in range(2)
            ]  # fmt: skip
        pids = family(served.process.pid)
        runs = [served.trigger(raw_dir=str(RAW), out_dir=str(out)) for _ in range(2)]
        finished = [served.wait(run, timeout=180) for run in runs]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        stop_serve(served, pids)
    assert [r["state_type"] for r in finished] == ["COMPLETED", "COMPLETED"], [r["state"] for r in finished]
    assert {r["work_pool_name"] for r in finished} == {pool}
    messages = sorted(r["state"]["message"] for r in finished)
    assert messages[0].startswith("published ") and messages[1].startswith("unchanged since "), messages
    assert (out / specs.study.studyid / "latest" / "manifest.json").is_file()
    log = served.log.read_text()
    assert "database: PostgreSQL at 127.0.0.1:" in log
    assert "automation 'export_study: mark silent runs Crashed': a run of export_study silent for 90 s" in log
    heartbeat = served.deployment["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]
    assert heartbeat == "30"  # flow runs started by workers send heartbeats too
    assert not list(home.glob("*.db")), "the server wrote a SQLite database instead"
    query = "select count(*) from flow_run where state_type = 'COMPLETED'"
    url = postgres_url.replace("+asyncpg", "")
    count = subprocess.run([str(postgres_bin() / "psql"), url, "-tAc", query], capture_output=True, text=True)
    assert count.stdout.strip() == "2", count.stderr

"""`make serve`: a local Prefect server (unless one is configured) and a runner serving prefect.yaml's deployment.

Each child runs in its own process group and gets SIGTERM when the supervisor dies (Linux parent-death signal); a
child that dies is restarted. On Ctrl-C the runner stops first (it pauses its schedule through the server), then the
server; whatever is left of either group is killed. Runs whose process or server died are marked Crashed by a Prefect
automation on their missing heartbeats, which also frees the deployment's concurrency slot.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import yaml

from flows.errors import SpecError
from flows.specs import SPECS_DIR, Specs, load_specs

PROJECT = Path(__file__).resolve().parents[1]
PREFECT_YAML = PROJECT / "prefect.yaml"
LOCAL_HOME = PROJECT / ".prefect"
HOST = "127.0.0.1"
ENTRYPOINT = "flows/flow.py:export_study"
FLOW_NAME = "export_study"
# Crash detection. Every flow run sends a heartbeat event this often (Prefect's minimum is 30 s, its default 180 s);
# the automation marks a Pending or Running run Crashed after MISSED_HEARTBEATS silent periods, which releases the
# deployment's concurrency slot. Deployment concurrency leases are kept on disk so that a restarted local server
# still knows them (in memory they would be lost with the server).
HEARTBEAT_SECONDS = 30
MISSED_HEARTBEATS = 3
CRASH_AUTOMATION = f"{FLOW_NAME}: mark silent runs Crashed"
CRASH_DETECTION = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}
LOCAL_SERVER = {"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem"}
STOP_GRACE = 5.0  # seconds a runner told to stop (SIGTERM) gets to stop its runs before its process group is killed
RESTARTS = 3  # a child that dies more often than this within RESTART_WINDOW seconds is not restarted again
RESTART_WINDOW = 300.0
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
# Prefect's own chatter stays at WARNING, but the runs' logs (flow and tasks) still reach the UI at INFO.
RUN_LOGS = {
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
}


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


def schedule_slug(cron: str, timezone: str) -> str:
    """How the UI names a schedule, with its zone: '0 2 * * *' in Asia/Shanghai -> daily-0200-asia-shanghai."""
    fields = cron.split()
    if len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit() and fields[2:] == ["*", "*", "*"]:
        return f"daily-{int(fields[1]):02}{int(fields[0]):02}-{zone_slug(timezone)}"
    return "cron-" + re.sub(r"[^0-9a-z]+", "-", cron.lower().replace("*", "x")).strip("-") + "-" + zone_slug(timezone)


def _daily(cron: str) -> str:
    """'0 2 * * *' -> 'daily at 02:00'; any other cron -> "on cron '...'"."""
    m, h, *rest = cron.split()
    daily = m.isdigit() and h.isdigit() and rest == ["*"] * 3
    return f"daily at {int(h):02}:{int(m):02}" if daily else f"on cron {cron!r}"


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


def deploy_to_pool(specs_dirs: list[Path] | None, env: dict[str, str], out_dir: Path | None = None) -> str:
    """prefect.yaml's process work pool (created when missing) and in it one deployment per study, through
    `prefect deploy --all` on a copy of prefect.yaml listing the studies' deployments; a line saying what it did."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    deployments = study_deployments(specs_dirs, out_dir)
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


def prefect_env(home: Path | None = None, api_url: str | None = None) -> dict[str, str]:
    """The environment of the server and runner children: quiet Prefect, run logs at INFO, heartbeats, optional home
    (a local server: leases on disk there) and API. The caller's environment wins over these defaults."""
    env = {**QUIET, **RUN_LOGS, **CRASH_DETECTION, **(LOCAL_SERVER if home is not None else {}), **os.environ}
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile; None when no server is configured."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def database(env: dict[str, str], home: Path) -> str:
    """Where a local server started with env keeps its data, for the start-up line (never a password):
    PREFECT_API_DATABASE_CONNECTION_URL (or the profile's) when set, else SQLite in its home."""
    from prefect.settings import get_current_settings
    from sqlalchemy.engine import make_url

    url = env.get("PREFECT_API_DATABASE_CONNECTION_URL") or env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL")
    if not url and (profile := get_current_settings().server.database.connection_url):
        url = profile.get_secret_value()
        url = None if url.startswith("sqlite") else url  # Prefect's default: SQLite in its own home, not ours
    if not url:
        return f"SQLite at {home / 'prefect.db'}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite at {parsed.database}"
    return f"PostgreSQL at {parsed.host}:{parsed.port or 5432}/{parsed.database}"


def default_port() -> int:
    from prefect.settings import get_current_settings

    return int(get_current_settings().server.api.port)


def local_api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when its parent dies, even a SIGKILLed one (Linux; elsewhere a no-op)."""

    def preexec() -> None:
        with suppress(AttributeError, OSError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os._exit(1)

    return preexec


def spawn(cmd: list[str], env: dict[str, str], log: IO | None = None) -> subprocess.Popen:
    """cmd in the project folder, in its own process group, SIGTERMed when this process dies."""
    return subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT if log else None,
                            start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))  # fmt: skip


def start_server(env: dict[str, str], port: int, log: IO | None = None, host: str = HOST) -> subprocess.Popen:
    """`prefect server start` on host:port, in its own process group, database under env's PREFECT_HOME."""
    return spawn([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)], env, log)


def answers(api_url: str) -> bool:
    """Whether a Prefect API answers its health check at api_url now."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as `prefect server start` checks it
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_healthy(api_url: str, timeout: float = 180.0, process: subprocess.Popen | None = None) -> float:
    """Seconds until GET <api>/health answers; RuntimeError if the process exits or the time runs out first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode} before answering")
        if answers(api_url):
            return time.monotonic() - start
        time.sleep(0.25)
    raise RuntimeError(f"no answer from {api_url}/health within {timeout:.0f} s")


def start_runner(
    env: dict[str, str], log: IO | None = None, specs_dirs: list[Path] | None = None, out_dir: Path | None = None
) -> subprocess.Popen:
    """`python -m flows serve --runner-only [--specs DIR ...] [--out DIR]` (serve_deployments), own process group."""
    studies = [arg for d in specs_dirs or [] for arg in ("--specs", str(d))]
    out = ["--out", str(out_dir.resolve())] if out_dir else []
    return spawn([sys.executable, "-m", "flows", "serve", "--runner-only", *studies, *out], env, log)


def stop(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Interrupt the process group, wait, then terminate and kill; nothing of the group is left running."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0)):
        if process.poll() is not None:
            break
        _signal_group(process, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    _signal_group(process, signal.SIGKILL)  # children it left behind (a flow run in progress)
    process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group was created for this child: its id is the child's pid


def to_deployment(spec: dict[str, Any]):
    """The served form of prefect.yaml's deployment: same name, schedules, parameters and concurrency limit."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.schedules import Cron

    from flows.flow import export_study

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


def _kill_own_group() -> None:
    """The runner's last resort: SIGKILL its process group (itself and its flow runs) if it leads one, else itself."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def serve_deployments(specs_dirs: list[Path] | None = None, out_dir: Path | None = None) -> int:
    """The runner: create or update the deployments on the configured server and run their flow runs until stopped.

    SIGTERM (also the parent-death signal) gives Prefect's graceful stop STOP_GRACE seconds, then kills the group.
    """
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    class PromptRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            threading.Timer(STOP_GRACE, _kill_own_group).start()
            super().handle_sigterm(*args, **kwargs)

    specs = study_deployments(specs_dirs, out_dir)
    print(ensure_crash_automation(), flush=True)
    runner = PromptRunner(pause_on_shutdown=True)
    for spec in specs:
        runner.add_deployment(to_deployment(spec))
    with suppress(KeyboardInterrupt, TerminationSignal):
        asyncio.run(runner.start())
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class Supervisor:
    """The children of `make serve` by role, each restarted when it dies, unless it dies too often."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.starters: dict[str, Callable[[], subprocess.Popen]] = {}
        self.restarts: dict[str, deque[float]] = {}

    def start(self, role: str, starter: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        self.starters[role], self.restarts[role] = starter, deque(maxlen=RESTARTS)
        self.children[role] = starter()
        return self.children[role]

    def watch(self) -> None:
        """Restart any child that exited; RuntimeError when one exited more than RESTARTS times in RESTART_WINDOW s."""
        for role, child in list(self.children.items()):
            if child.poll() is None:
                continue
            times, now = self.restarts[role], time.monotonic()
            if len(times) == RESTARTS and now - times[0] < RESTART_WINDOW:
                raise RuntimeError(
                    f"the {role} exited {RESTARTS + 1} times within {RESTART_WINDOW:.0f} s (code {child.returncode})"
                )
            times.append(now)
            print(f"the {role} exited with code {child.returncode}: restarting it", flush=True)
            stop(child)  # whatever its group left behind
            self.children[role] = self.starters[role]()

    def stop_all(self) -> None:
        for child in reversed(self.children.values()):
            stop(child)


def main(
    port: int | None = None,
    runner_only: bool = False,
    home: Path = LOCAL_HOME,
    host: str = HOST,
    runner: bool = True,
    specs_dirs: list[Path] | None = None,
    deploy: bool = False,
    out_dir: Path | None = None,
) -> int:
    """Serve until Ctrl-C: a local server (database in `home`, listening on `host`) if none is configured, and the
    runner of one deployment per study (spec folder; unless `runner` is False: a work pool's workers run the
    deployments, which `deploy` puts in the pool), their output root `out_dir` (default prefect.yaml's); then stop
    both."""
    if runner_only:
        return serve_deployments(specs_dirs, out_dir)
    names = [d["name"] for d in study_deployments(specs_dirs, out_dir)]  # fail here, not in the child
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (a background job)
        signal.signal(sig, _raise_interrupt)
    children = Supervisor()
    try:
        api_url = configured_api_url()
        if api_url:
            env = prefect_env()
            print(f"using the configured Prefect server {api_url}", flush=True)
        else:
            port = port or default_port()
            api_url = local_api_url(port)
            if answers(api_url):  # e.g. `prefect server start` in another terminal: use it, do not start a second
                env = prefect_env(api_url=api_url)
                print(f"using the Prefect server already running at {api_url}", flush=True)
            elif not port_free(port):
                raise RuntimeError(f"port {port} is taken by something that is not a Prefect server: use --port")
            else:
                home.mkdir(parents=True, exist_ok=True)
                env = prefect_env(home, api_url)
                print(f"database: {database(env, home)}", flush=True)

                def server() -> subprocess.Popen:
                    process = start_server(env, port, host=host)
                    seconds = wait_healthy(api_url, process=process)
                    shown = HOST if host in (HOST, "0.0.0.0") else host
                    print(f"Prefect server ready in {seconds:.1f} s: UI at http://{shown}:{port}", flush=True)
                    return process

                children.start("Prefect server", server)
        name = ", ".join(f"{FLOW_NAME}/{n}" for n in names)
        if runner:
            children.start("runner", lambda: start_runner(env, specs_dirs=specs_dirs, out_dir=out_dir))
            print(f"serving {name} on its schedule (prefect.yaml); Ctrl-C stops", flush=True)
        else:  # the runner child would set crash detection up: do it here, for the heartbeats of the workers' runs
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings({PREFECT_API_URL: api_url}):
                print(ensure_crash_automation(int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])), flush=True)
                if deploy:
                    print(deploy_to_pool(specs_dirs, env, out_dir), flush=True)
            if not children.children:  # a configured server: nothing to keep running here
                return 0
            print(f"no runner: workers of the work pool run {name} (`prefect deploy`); Ctrl-C stops", flush=True)
        while True:
            children.watch()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping: runner first, then server", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan a child mid-shutdown
        children.stop_all()

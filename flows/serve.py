"""`make serve`: a local Prefect server (unless one is configured) and a runner serving prefect.yaml's deployment.

Each child runs in its own process group; on Ctrl-C the runner stops first (it pauses its schedule through the
server, and hangs if the server is already gone), then the server; whatever is left of either group is killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import yaml

from flows.errors import SpecError
from flows.specs import Specs, load_specs

PROJECT = Path(__file__).resolve().parents[1]
PREFECT_YAML = PROJECT / "prefect.yaml"
LOCAL_HOME = PROJECT / ".prefect"
HOST = "127.0.0.1"
ENTRYPOINT = "flows/flow.py:export_study"
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


def check_schedule(spec: dict[str, Any], specs: Specs, path: Path = PREFECT_YAML) -> None:
    """Every schedule runs in the study's time zone (specs/study.yaml), never the machine's."""
    for i, schedule in enumerate(spec.get("schedules") or []):
        if schedule.get("timezone") != specs.study.timezone:
            raise SpecError(
                f"{path}: deployments.{spec['name']}.schedules[{i}].timezone is {schedule.get('timezone')!r}, "
                f"but the study's time zone is {specs.study.timezone!r} ({specs.study.path.name} sites[].timezone)"
            )


def prefect_env(home: Path | None = None, api_url: str | None = None) -> dict[str, str]:
    """The environment of the server and runner children: quiet Prefect, run logs at INFO, optional home and API."""
    env = {**QUIET, **RUN_LOGS, **os.environ}
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile; None when no server is configured."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def default_port() -> int:
    from prefect.settings import get_current_settings

    return int(get_current_settings().server.api.port)


def local_api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int, log: IO | None = None) -> subprocess.Popen:
    """`prefect server start` on HOST:port, in its own process group, database under env's PREFECT_HOME."""
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT if log else None,
                            start_new_session=True)  # fmt: skip


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


def start_runner(env: dict[str, str], log: IO | None = None) -> subprocess.Popen:
    """`python -m flows serve --runner-only` (serve_deployment) in its own process group."""
    cmd = [sys.executable, "-m", "flows", "serve", "--runner-only"]
    return subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT if log else None,
                            start_new_session=True)  # fmt: skip


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
        Cron(s["cron"], timezone=s.get("timezone"), active=bool(s.get("active", True)))
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


def serve_deployment() -> int:
    """The runner: create or update the deployment on the configured server and run its flow runs until stopped."""
    from prefect import serve

    spec = deployment_spec()
    check_schedule(spec, load_specs())
    serve(to_deployment(spec))
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(port: int | None = None, runner_only: bool = False, home: Path = LOCAL_HOME) -> int:
    """Serve until Ctrl-C: a local server (database in `home`) if none is configured, and the runner; then stop both."""
    if runner_only:
        return serve_deployment()
    check_schedule(deployment_spec(), load_specs())  # fail here, not in the child
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (a background job)
        signal.signal(sig, _raise_interrupt)
    children: list[subprocess.Popen] = []
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
                children.append(start_server(env, port))
                seconds = wait_healthy(api_url, process=children[0])
                print(f"Prefect server ready in {seconds:.1f} s: UI at http://{HOST}:{port}", flush=True)
        children.append(start_runner(env))
        name = deployment_spec()["name"]
        print(f"serving export_study/{name} on its schedule (prefect.yaml); Ctrl-C stops", flush=True)
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        return next(c.returncode for c in children if c.returncode is not None) or 1
    except KeyboardInterrupt:
        print("stopping: runner first, then server", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan a child mid-shutdown
        for child in reversed(children):
            stop(child)

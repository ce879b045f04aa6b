"""`make serve`: a local Prefect server (unless one is configured) and a runner serving one deployment per study
(flows/schedule/deployments.py); with --deploy no runner: the deployments go to prefect.yaml's work pool, for its
workers.

Each child runs in its own process group and gets SIGTERM when the supervisor dies (Linux parent-death signal); a
child that dies is restarted. On Ctrl-C the runner stops first (it pauses its schedule through the server), then the
server; whatever is left of either group is killed. Runs whose process or server died are marked Crashed by a Prefect
automation on their missing heartbeats, which also frees the deployment's concurrency slot.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from flows.schedule.crash import CRASH_DETECTION, ensure_crash_automation
from flows.schedule.deployments import FLOW_NAME, PROJECT, deploy_to_pool, study_deployments, to_deployment
from flows.schedule.server import HOST, LOCAL_HOME, answers, configured_api_url, default_port, local_api_url, port_free

# Deployment concurrency leases are kept on disk so that a restarted local server still knows them (in memory they
# would be lost with the server).
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


def prefect_env(home: Path | None = None, api_url: str | None = None) -> dict[str, str]:
    """The environment of the server and runner children: quiet Prefect, run logs at INFO, heartbeats, optional home
    (a local server: leases on disk there) and API. The caller's environment wins over these defaults."""
    env = {**QUIET, **RUN_LOGS, **CRASH_DETECTION, **(LOCAL_SERVER if home is not None else {}), **os.environ}
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


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
    deployments = study_deployments(specs_dirs, out_dir)  # fail here, not in the child
    names = [d["name"] for d in deployments]
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (a background job)
        signal.signal(sig, _raise_interrupt)
    children = Supervisor()
    try:
        api_url = configured_api_url()
        if api_url:
            if not answers(api_url):  # fail now, not after the runner's restarts
                raise RuntimeError(f"no Prefect server answers at {api_url} (PREFECT_API_URL or the Prefect profile)")
            env = prefect_env()
            print(f"using the configured Prefect server {api_url}", flush=True)
        else:
            port = port or default_port()
            api_url = local_api_url(port)
            if answers(api_url):  # another project's server, maybe: never deploy into a server nobody named
                raise RuntimeError(
                    f"a Prefect server that serve did not start answers at {api_url}: to use it, set "
                    f"PREFECT_API_URL={api_url}; to start one of our own, choose a free port with --port"
                )
            if not port_free(port):
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
                    print(deploy_to_pool(deployments, env), flush=True)
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

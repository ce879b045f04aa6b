"""`make bench-load`: many studies scheduled for the same minute on one machine, run by a process work pool of two
workers; the time to drain the queue with SQLite and with PostgreSQL as the Prefect server's database.

For each database: --studies copies of specs/ (their own STUDYID, a small synthetic raw set each, and a study.yaml
`schedule.cron` naming one and the same minute), a Prefect server started by `python -m flows serve --no-runner` on a
free port in a temporary home (PostgreSQL: a throwaway cluster, initdb/pg_ctl in a temporary folder on a free port),
one deployment per study in the work pool (`python -m flows serve --deploy`), and --workers `prefect worker start
--limit 1`. It waits until every run of that minute is final, then checks that each ended Completed and published a
transfer, that no deployment concurrency slot is still held, that no study lock is left, and that no log says
"database is locked". The figures go to a section of bench/results.md (the rest of the file is kept) and to stdout.
Every process it started is stopped on exit, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.run.lock import LOCK_NAME  # noqa: E402
from flows.schedule.serve import spawn, stop  # noqa: E402
from flows.schedule.server import answers, free_port  # noqa: E402
from flows.spec.model import Study  # noqa: E402
from flows.spec.read import SPECS_DIR  # noqa: E402
from flows.tools.synth import main as synth  # noqa: E402

STUDIES, WORKERS, SUBJECTS = 20, 2, 8
DATABASES = ("sqlite", "postgresql")
LEAD = 45  # seconds between the deployments being in place and the scheduled minute, at least
TIMEOUT = 1800  # seconds to wait for the queue to drain
POOL = "sdtm"  # prefect.yaml's work pool
HEADING = "## Load: studies scheduled for the same minute, a work pool of two workers"
LOCKED = "database is locked"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}


class Stopped(Exception):
    """SIGTERM or SIGINT: stop what was started and leave."""


def _stopped(signum, frame):
    raise Stopped(signal.Signals(signum).name)


# --- the studies --------------------------------------------------------------------------------------------------


def make_studies(root: Path, count: int, subjects: int) -> list[Path]:
    """count copies of specs/ under root/LOAD-NN/specs, each with its STUDYID and raw/ beside it (seed NN)."""
    folders = []
    for i in range(1, count + 1):
        studyid = f"LOAD-{i:02}"
        specs = root / studyid / "specs"
        shutil.copytree(SPECS_DIR, specs)
        path = specs / "study.yaml"
        text, n = re.subn(r"(?m)^studyid: \S+", f"studyid: {studyid}", path.read_text(encoding="utf-8"), count=1)
        assert n == 1, f"{path}: no top-level studyid"
        path.write_text(text, encoding="utf-8")
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet):
            synth(subjects, i, specs.parent / "raw", specs_dir=specs)
        folders.append(specs)
    return folders


def schedule_at(specs_dirs: list[Path], minute: datetime) -> None:
    """Set each study's schedule.cron to `minute` (a UTC time), written in the study's schedule time zone."""
    for specs in specs_dirs:
        path = specs / "study.yaml"
        study = yaml.safe_load(path.read_text(encoding="utf-8"))
        local = minute.astimezone(ZoneInfo(Study(study, path).schedule_timezone))
        cron = f"{local.minute} {local.hour} {local.day} {local.month} *"
        text, n = re.subn(r'(?m)^schedule: \{cron: "[^"]*"', f'schedule: {{cron: "{cron}"', path.read_text("utf-8"))
        assert n == 1, f"{path}: no one-line schedule: {{cron: ...}}"
        path.write_text(text, encoding="utf-8")


# --- the processes ------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """What one measurement started, stopped in reverse order whatever happens."""

    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        self.logs.append(log)
        with log.open("a") as out:
            process = spawn(cmd, env, out)  # its own process group, SIGTERMed should this script die
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Stop every process, a second Ctrl-C or SIGTERM notwithstanding (it would orphan the rest)."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for process in reversed(self.processes):
                stop(process, timeout=20)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def locked(self) -> dict[str, list[str]]:
        """The lines of each log that say 'database is locked', by log file name."""
        found: dict[str, list[str]] = {}
        for log in self.logs:
            lines = [line for line in log.read_text(errors="replace").splitlines() if LOCKED in line]
            if lines:
                found.setdefault(log.name, []).extend(lines)
        return found


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (the newest version), or of initdb on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    initdb = found[-1] if found else (Path(w) if (w := shutil.which("initdb")) else None)
    return initdb.parent if initdb else None


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster in a temporary folder on a free port (as `postgres` when run as root, since
    initdb refuses root), stopped and removed on exit; its SQLAlchemy URL for Prefect."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="s103-pg-"))  # not under the scratch folder, which only root may enter
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(folder, user)
        as_user = ["runuser", "-u", user, "--"]
    data, port = folder / "data", free_port()

    def pg(*cmd: str) -> None:
        proc = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name}: {(proc.stdout + proc.stderr).strip()[-500:]}")

    try:
        pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "prefect", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        pg(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "prefect")
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def api_call(api: str, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{api}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _wait(what: str, ready, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {process.returncode}: {_tail(log)}")
        if found := ready():
            return found
        time.sleep(0.5)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-1500:] if log and log.exists() else ""


# --- one measurement ----------------------------------------------------------------------------------------------


@dataclass
class Drain:
    database: str
    runs: int
    completed: int
    published: int
    drain: float  # seconds from the scheduled minute to the end of the last run
    first_start: float  # seconds from the minute to the first run's start
    run_median: float  # median run time (Running to final), seconds
    run_max: float
    slots_held: int  # deployment concurrency slots still held after the drain
    locks_left: int  # study lock files left in the output folders
    locked: dict[str, list[str]]  # lines saying "database is locked", by log (the server's, each worker's)
    late: int  # runs whose scheduled time was not the minute (there must be none)
    deploy: float  # seconds `flows serve --deploy` took for all the studies
    load: tuple[float, float, float]  # load average when the drain ended
    states: dict[str, int]


def measure(database: str, specs_dirs: list[Path], scratch: Path, workers: int, lead: float, timeout: float) -> Drain:
    """One server on `database`, the studies deployed for one minute, the workers; wait for the drain and check."""
    home, out = scratch / f"home-{database}", scratch / f"out-{database}"
    home.mkdir()
    stack = Stack()
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    with ExitStack() as resources:
        try:
            extra: dict[str, str] = {}
            if database == "postgresql":
                url = resources.enter_context(postgres_cluster())
                extra["PREFECT_API_DATABASE_CONNECTION_URL"] = url
            port = free_port()
            api = f"http://127.0.0.1:{port}/api"
            env = {**base, **QUIET, "PREFECT_HOME": str(home), **extra}
            serve_log = home / "serve.log"
            server = stack.start(
                [sys.executable, "-m", "flows", "serve", "--no-runner", "--port", str(port), "--home", str(home)],
                env, serve_log,
            )  # fmt: skip
            _wait("the Prefect server", lambda: answers(api), 240, server, serve_log)
            client_env = {**base, **QUIET, "PREFECT_HOME": str(home), "PREFECT_API_URL": api}
            minute = _next_minute(lead + 20 + 2 * len(specs_dirs))  # deploying takes about 2 s a study
            schedule_at(specs_dirs, minute)
            began = time.monotonic()
            cmd = [sys.executable, "-m", "flows", "serve", "--deploy", "--out", str(out)]
            cmd += [arg for d in specs_dirs for arg in ("--specs", str(d))]
            deploy = subprocess.run(cmd, cwd=REPO, env=client_env, capture_output=True, text=True, timeout=900)
            deployed = time.monotonic() - began
            if deploy.returncode != 0:
                raise RuntimeError(f"flows serve --deploy: {(deploy.stdout + deploy.stderr)[-1500:]}")
            if datetime.now(UTC) > minute - timedelta(seconds=5):
                raise RuntimeError(f"deploying took {deployed:.0f} s, past the scheduled minute: raise --lead")
            worker_env = {**client_env, "PREFECT_WORKER_QUERY_SECONDS": "1"}
            for i in range(workers):
                cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--name", f"load-{i + 1}",
                       "--limit", "1"]  # fmt: skip
                stack.start(cmd, worker_env, home / f"worker-{i + 1}.log")
            ids = _wait("the scheduled runs", lambda: _runs_at(api, minute, len(specs_dirs)), 120, server, serve_log)
            print(f"{database}: {len(ids)} runs scheduled for {minute:%H:%M} UTC, deployed in {deployed:.0f} s",
                  flush=True)  # fmt: skip
            seen: list[int] = []
            runs = _wait("the drain", lambda: _drained(api, ids, seen), timeout, server, serve_log)
            load = os.getloadavg()
            slots = _slots_held(api)
        finally:
            stack.stop()
    return _summary(database, runs, minute, out, slots, stack.locked(), deployed, load)


def _next_minute(lead: float) -> datetime:
    """The first whole minute at least `lead` seconds from now (UTC)."""
    at = datetime.now(UTC) + timedelta(seconds=lead)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _runs_at(api: str, minute: datetime, count: int) -> list[str] | None:
    """The ids of the runs scheduled for `minute`, once there is one per study."""
    body = {"flow_runs": {"expected_start_time": {"after_": minute.isoformat(), "before_": minute.isoformat()}}}
    found = [r["id"] for r in api_call(api, "POST", "/flow_runs/filter", body)]
    return found if len(found) >= count else None


def _drained(api: str, ids: list[str], seen: list[int]) -> list[dict] | None:
    """The runs once every one is final; prints how many are, when that changes."""
    runs = api_call(api, "POST", "/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}})
    done = sum(r["state_type"] in FINAL for r in runs)
    if done not in seen:
        seen.append(done)
        print(f"  {done}/{len(ids)} runs final", flush=True)
    return runs if done == len(ids) else None


def _slots_held(api: str) -> int:
    """Slots still held by the deployments' concurrency limits (each deployment's limit is one slot)."""
    deployments = api_call(api, "POST", "/deployments/filter", {})
    return sum((d.get("global_concurrency_limit") or {}).get("active_slots", 0) for d in deployments)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _summary(database: str, runs: list[dict], minute: datetime, out: Path, slots: int, locked: dict, deploy: float,
             load: tuple[float, float, float]) -> Drain:  # fmt: skip
    ends = [_when(r["end_time"]) for r in runs if r["end_time"]]
    starts = [_when(r["start_time"]) for r in runs if r["start_time"]]
    took = [r["total_run_time"] for r in runs]
    states: dict[str, int] = {}
    for r in runs:
        states[r["state_name"]] = states.get(r["state_name"], 0) + 1
    return Drain(
        database=database,
        runs=len(runs),
        completed=sum(r["state_type"] == "COMPLETED" for r in runs),
        published=sum((r["state"]["message"] or "").startswith("published ") for r in runs),
        drain=(max(ends) - minute).total_seconds() if ends else math.nan,
        first_start=(min(starts) - minute).total_seconds() if starts else math.nan,
        run_median=statistics.median(took) if took else math.nan,
        run_max=max(took) if took else math.nan,
        slots_held=slots,
        locks_left=len(list(out.glob(f"*/{LOCK_NAME}"))),
        locked=locked,
        late=sum(_when(r["expected_start_time"]) != minute for r in runs),
        deploy=deploy,
        load=load,
        states=states,
    )


# --- the report ---------------------------------------------------------------------------------------------------


def verdict(d: Drain) -> list[str]:
    """What went wrong in a measurement; empty when every check passed."""
    wrong = []
    if d.completed != d.runs or d.published != d.runs:
        wrong.append(f"{d.database}: {d.completed}/{d.runs} Completed, {d.published} published ({d.states})")
    if d.slots_held:
        wrong.append(f"{d.database}: {d.slots_held} deployment concurrency slots still held")
    if d.locks_left:
        wrong.append(f"{d.database}: {d.locks_left} study locks left")
    if d.locked:
        where = ", ".join(f"{len(lines)} in {name}" for name, lines in d.locked.items())
        first = " ".join(next(iter(d.locked.values()))[0].split())[:160]
        wrong.append(f"{d.database}: lines saying '{LOCKED}' ({where}), e.g. `{first}`")
    if d.late:
        wrong.append(f"{d.database}: {d.late} runs not scheduled for the minute")
    return wrong


def section(drains: list[Drain], studies: int, workers: int, subjects: int, commit: str, errors: list[str]) -> str:
    rows = [
        f"| {d.database} | {d.runs} | {d.completed} | {d.drain:.0f} | {d.first_start:.1f} | {d.run_median:.1f} | "
        f"{d.run_max:.1f} | {d.slots_held} | {d.locks_left} | {sum(map(len, d.locked.values()))} | {d.deploy:.0f} | "
        f"{' '.join(f'{x:.2f}' for x in d.load)} |"
        for d in drains
    ]
    wrong = [*errors, *(w for d in drains for w in verdict(d))]
    lines = [
        HEADING,
        "",
        f"`make bench-load` (bench/load.py), code {commit}, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{os.cpu_count()} cores shared with other work: {studies} copies of the study (own STUDYID, "
        f"{subjects} screened subjects each, own deployment, concurrency limit 1), every study.yaml "
        f"`schedule.cron` naming the same minute; `python -m flows serve --no-runner` with the database below, "
        f"`flows serve --deploy` (one deployment per study in the process work pool `{POOL}`), {workers} "
        f"`prefect worker start --limit 1` (one run at a time each, polling every second). *drain*: from the "
        "scheduled minute to the end of the last run; *first start*: to the first run's start; *run*: a run's "
        "time from Running to Completed; *slots held* after the drain (deployment concurrency limits), *locks "
        f"left* (`{LOCK_NAME}` files), *locked*: lines saying \"{LOCKED}\" in the server's and workers' logs; "
        "*deploy*: seconds to deploy all the studies; load average (1, 5, 15 min) when the drain ended.",
        "",
        "| database | runs | completed | drain s | first start s | run median s | run max s | slots held | "
        "locks left | locked | deploy s | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        (
            "Every check passed: every run Completed and published its transfer, no slot or lock held afterwards, "
            'no "database is locked".'
            if not wrong
            else "**Checks failed:** " + "; ".join(wrong)
        ),
        "",
    ]
    return "\n".join(lines)


def replace_section(text: str, heading: str, body: str) -> str:
    """text with the section under `heading` (to the next '## ' heading) replaced by body, or body appended."""
    start = text.find(heading + "\n")
    if start < 0:
        return text.rstrip("\n") + "\n\n" + body
    end = text.find("\n## ", start + len(heading))
    return text[:start] + body + (text[end + 1 :] if end >= 0 else "")


def load_error(exc: Exception) -> str:
    """An error as one line of the report."""
    return " ".join(str(exc).split())[:300]


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=STUDIES, help=f"studies scheduled for the minute (default {STUDIES})")
    p.add_argument("--workers", type=int, default=WORKERS, help=f"workers in the pool (default {WORKERS})")
    p.add_argument("--subjects", type=int, default=SUBJECTS, help=f"screened subjects per study (default {SUBJECTS})")
    p.add_argument("--databases", nargs="+", default=list(DATABASES), choices=DATABASES)
    p.add_argument("--lead", type=float, default=LEAD, help="seconds of margin before the scheduled minute")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds to wait for the drain")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results.md", help="'-': stdout only")
    args = p.parse_args(argv)
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    scratch = Path(tempfile.mkdtemp(prefix="s103-load-"))
    drains: list[Drain] = []
    errors: list[str] = []  # a database whose measurement could not be made: said in the section, the rest goes on
    try:
        specs_dirs = make_studies(scratch / "studies", args.studies, args.subjects)
        for database in args.databases:
            try:
                drains.append(measure(database, specs_dirs, scratch, args.workers, args.lead, args.timeout))
            except RuntimeError as exc:
                errors.append(f"{database}: {load_error(exc)}")
                print(f"error: {errors[-1]}", file=sys.stderr, flush=True)
                continue
            d = drains[-1]
            print(f"{database}: {d.completed}/{d.runs} Completed, drained {d.drain:.0f} s after the minute", flush=True)
    except (Stopped, KeyboardInterrupt) as exc:
        print(f"interrupted ({exc or 'SIGINT'}): every process stopped, nothing written", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for sig, handler in previous.items():  # as they were (main may run inside another program, e.g. a test)
            signal.signal(sig, handler)
    body = section(drains, args.studies, args.workers, args.subjects, _commit(), errors)
    print(body)
    if str(args.results) != "-":
        old = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
        args.results.write_text(replace_section(old, HEADING, body), encoding="utf-8")
    return 2 if errors else 1 if any(verdict(d) for d in drains) else 0


if __name__ == "__main__":
    raise SystemExit(main())

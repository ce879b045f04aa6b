"""`make bench`: export cost at 1k, 10k and 100k subjects against a pyarrow floor measured in the same run.

For each size the seeded generator writes raw CSVs under bench/data/<subjects>/ (kept while the generator and the
specs are unchanged). Each (size, mode, run) is one fresh subprocess, so its peak RSS is its own:

- floor: pyarrow reads the same CSVs (every column text, as the pipeline reads them) and writes one Parquet file per
  CSV, with no validation or derivation;
- core:  `pipeline.run_export` (read, validate, derive, write every format, publish), with stage timings;
- flow:  the Prefect flow `export_study`, in-process on `prefect_test_harness` (a temporary home and database);
- read:  `read_raws` of the 10,000-subject data (--read-size) in each EDC layout the pipeline reads: its own CSV,
  the vendor CSV (`;`, DDMONYYYY, decimal comma), SAS transport and ODM, converted once by flows/tools under
  bench/data/<subjects>-<layout>/ (kept while the raw CSVs, the converters and the specs are unchanged).

Each size runs --runs times per mode (medians), except the modes of ONE_RUN_FROM at and above their size (the 100k
flow: one run). Then one core run at --memory-size subjects (300,000) for the memory target, guarded: it runs only
when 3x (its size over the largest size's) the largest core run's transfer and peak RSS, with a margin, fit in the
free disk of --data and in MemAvailable; otherwise the report says why, with the numbers. Every run's transfer is
deleted as soon as the run is measured. BENCH_SIZES=1000,10000 (the default of --sizes) and BENCH_SKIP_300K=1 (the
default of --memory-size becomes 0) run a subset while developing.

Wall time is the export itself; start-up (imports, the test server) is reported beside it. The table (medians of
--runs runs) goes to stdout and bench/results.md with the machine and versions at the top, issue 23's targets
(each met or not, with the stage that holds one not met), the stage timings of the largest size, the memory run,
the before/after comparison (bench/before.json, measured once on the code before the optimisation with --code, on
the datasets of its day: shown for runs of the same --domains), the cold one-off CLI run on raw/ and the warm sample
export (`run_export` again in a process that has run it once). Every run is also kept in bench/results.json.
`--sample` measures only the sample's cold and warm runs and replaces their section of --results, leaving the rest
as it is; `--readers-only` does the same for the read in every layout.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts: its targets module beside this one

from targets import (  # noqa: E402
    ISSUE_SIZES,
    MEMORY_SIZE,
    TARGET_COLD,
    TARGET_WARM,
    Verdict,
    env_defaults,
    guard_memory_run,
    judge_memory,
    judge_sample,
    judge_time,
    runs_for,
    stages_of,
)

SEED = 20250321
RUNS = 3
MODES = ("floor", "core", "flow")
TIMEOUT = 900  # seconds per run; a run that outlives it is killed with its process group (test server included)
COLD_RUNS = 5
CORES = os.cpu_count() or 1
WARM_RUNS = 5
TARGETS = {"DM EX IE TI TS": (4.6, 3.7)}  # issue 9's (wall/floor, peak RSS/raw CSV) for its datasets alone
QUIET_PREFECT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
# floor: its read alone; core: packaging cost, bytes packed, the whole transfer on disk (the zip included) and the
# peak RSS before the export (imports and specs)
OPTIONAL = ("read", "pack_s", "out_mb", "transfer_mb", "start_rss_mb")


# ---------------------------------------------------------------------------------------------------------------
# Child side: one measured run, reported as JSON on the last line of stdout.


def _peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageClock:
    """Wraps named functions of the core's modules to time them; a nested call is timed under its caller."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.totals: dict[tuple[str, ...], float] = {}  # in order of first call, so callers come before callees
        self.peaks: dict[tuple[str, ...], float] = {}

    def wrap(self, owner, name: str, label) -> None:
        original = getattr(owner, name, None)
        if original is None or getattr(original, "_bench_wrapped", False):
            return

        def timed(*args, **kwargs):
            self.stack.append(label(args, kwargs) if callable(label) else label)
            path, start = tuple(self.stack), time.perf_counter()
            self.totals.setdefault(path, 0.0)
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[path] += time.perf_counter() - start
                self.peaks[path] = _peak_rss_mb()
                self.stack.pop()

        timed._bench_wrapped = True
        setattr(owner, name, timed)

    def report(self) -> list[dict]:
        return [
            {"stage": list(path), "seconds": round(sec, 4), "peak_rss_mb": round(self.peaks.get(path, 0.0), 1)}
            for path, sec in self.totals.items()
        ]


def _raw_file_of(args, kwargs) -> str:
    for a in (*args, *kwargs.values()):
        if hasattr(a, "file") and hasattr(a, "columns") and hasattr(a, "row_rules"):
            return a.name
    return ""


def instrument_core() -> StageClock:
    """Timers around the pure steps: read, validate (each check per file), derive per domain, each writer."""

    clock = StageClock()
    pipeline = importlib.import_module("flows.run.pipeline")
    validate = importlib.import_module("flows.raw.validate")
    writers = importlib.import_module("flows.transfer.writers")
    for name, label in [
        ("run_export", "export"),
        ("fingerprint", "fingerprint inputs"),
        ("read_inputs", "read"),
        ("validate_raw", "validate"),
        ("prepare", "derive"),
        ("apply_cutoff", "data cut"),
        ("data_as_of", "data as of"),
        ("evaluate_eligibility", "eligibility rules on the data"),
        ("stage_transfer", "write"),
        ("write_outputs", "datasets and documents"),
        ("xpt_lengths", "xpt lengths"),
        ("write_trace", "trace table"),  # trace.csv, written dataset by dataset, and its lines counted
        ("diff_transfers", "diff against previous"),
        ("write_changes", "changes"),
        ("write_manifest", "manifest"),
        ("write_sums", "SHA256SUMS"),
        ("write_zip", "zip"),
        ("publish", "publish"),
    ]:
        clock.wrap(pipeline, name, label)
    blocks = importlib.import_module("flows.run.blocks")  # derives the datasets, in blocks of subjects or whole
    for name, label in [
        ("derive_datasets", "datasets"),
        ("derive_analysis", "analysis datasets (ADaM)"),
        ("derive_study_level", "study-level datasets"),
        ("_split", "split into blocks"),
    ]:
        clock.wrap(blocks, name, label)
    spill = importlib.import_module("flows.run.spill")
    for name, label in [("write_frame", "spill: write"), ("read_table", "spill: read"), ("read_batch", "spill: read")]:
        clock.wrap(spill, name, label)
    engine = importlib.import_module("flows.mapping.engine")
    for name, label in [
        ("build_records", lambda a, k: f"{a[0].domain} records"),
        ("_evaluate", lambda a, k: f"{a[1].domain} variables"),
        ("_finish", lambda a, k: f"{a[0].domain} sort, --SEQ, conform + output check"),
    ]:
        clock.wrap(engine, name, label)
    for name in ("schema_rejects", "key_rejects", "row_rule_rejects", "child_rejects", "parent_rule_rejects", "typed"):
        clock.wrap(validate, name, lambda a, k, n=name: f"{n} {_raw_file_of(a, k)}".rstrip())
    for fmt, (_, _, writer) in writers.WRITERS.items():  # an appender: its chunks written, then its file finished
        clock.wrap(writer, "write", f"{fmt} writer")
        clock.wrap(writer, "close", f"{fmt} writer")
    for module, name, label in [
        ("flows.transfer.num_type", "retyped", "datasets as written (whole numbers as integers)"),
        ("flows.transfer.acrf", "write_acrf", "acrf.pdf"),
        ("flows.transfer.define", "define_metadata", "define.xml metadata"),
        ("flows.transfer.define", "write_define", "define.xml"),
        ("flows.transfer.define_html", "write_define_html", "define.html"),
        ("flows.review.summary", "write_summary", "summary.html"),
        ("flows.transfer.reviewers_guide", "write_reviewers_guide", "reviewer's guide"),
    ]:
        with contextlib.suppress(ImportError):
            clock.wrap(importlib.import_module(module), name, label)
    return clock


def child_floor(raw: Path, out: Path) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    ready, rows, reading = time.perf_counter(), 0, 0.0
    for path in sorted(raw.glob("*.csv")):
        with path.open("rb") as fh:
            header = fh.readline().decode("utf-8-sig").rstrip("\r\n").split(",")
        options = pv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.large_string()), strings_can_be_null=True, null_values=[""]
        )
        start = time.perf_counter()
        table = pv.read_csv(path, convert_options=options)
        reading += time.perf_counter() - start
        pq.write_table(table, out / f"{path.stem}.parquet", compression="zstd")
        rows += table.num_rows
    return {"ready": ready, "rows": rows, "read": reading}


def with_inputs(domains: list[str], specs) -> list[str]:
    """`domains` and every dataset their mappings read (e.g. EX's EPOCH reads SE, SE reads DM), in spec order."""
    from flows.mapping.plan import plan_domain, record_deps

    wanted, todo = set(), list(domains)
    while todo:
        d = todo.pop()
        if d in wanted:
            continue
        wanted.add(d)
        spec = specs.sdtm[d]
        reads = record_deps(spec, specs).union(*plan_domain(spec).deps.values())
        todo += [o for o, _ in reads if o in specs.sdtm and o not in wanted]
    return [d for d in specs.sdtm if d in wanted]


def bench_specs(domains: list[str] | None):
    """The study's specs, with only the SDTM datasets `domains` names and those they read (all without)."""
    from dataclasses import replace

    from flows.mapping.load import load_specs

    specs = load_specs()
    if not domains:
        return specs
    unknown = sorted(set(domains) - set(specs.sdtm))
    if unknown:
        raise SystemExit(f"--domains: no spec in specs/sdtm for {unknown} (known: {sorted(specs.sdtm)})")
    keep = with_inputs(domains, specs)
    return replace(specs, sdtm={d: s for d, s in specs.sdtm.items() if d in keep})


def child_core(raw: Path, out: Path, domains: list[str] | None = None) -> dict:
    from flows.run.pipeline import run_export

    specs = bench_specs(domains)
    clock = instrument_core()
    start_rss, ready = _peak_rss_mb(), time.perf_counter()
    result = run_export(raw, out, specs)
    done = time.perf_counter()
    if result.exit_code not in (0, 1):
        raise SystemExit(f"core export failed: {result.message}")
    info = {"ready": ready, "done": done, "rows": sum(c["read"] for c in result.counts.values())}
    info["start_rss_mb"] = start_rss  # what the process holds before the export: imports and specs
    return info | {"stages": clock.report()} | (packing_cost(result.transfer) if result.transfer else {})


def packing_cost(transfer: Path) -> dict:
    """What packaging a published transfer costs on one core, after the timed run: SHA-256, CRC-32 and deflate of
    every file but the zip, as the export's Packer does once per file (`pack_s`), the bytes packed (`out_mb`) and the
    whole transfer on disk, the zip included (`transfer_mb`: what the memory run's guard scales)."""
    from flows.transfer.package import Packer, transfer_files

    files = [rel for rel in transfer_files(transfer) if rel.suffix != ".zip"]
    start = time.perf_counter()
    with Packer(transfer) as packer:  # one worker thread, each file waited for: one core, no overlap
        size = sum(packer.digest(rel).size for rel in files)
    pack_s = time.perf_counter() - start
    on_disk = sum(p.stat().st_size for p in transfer.rglob("*") if p.is_file() and not p.is_symlink())
    return {"pack_s": pack_s, "out_mb": size / 2**20, "transfer_mb": on_disk / 2**20}


def child_flow(raw: Path, out: Path) -> dict:
    from prefect.testing.utilities import prefect_test_harness

    from flows.schedule.flow import export_study

    with prefect_test_harness(server_startup_timeout=120):
        ready = time.perf_counter()
        state = export_study(raw_dir=str(raw), out_dir=str(out), return_state=True)
        done = time.perf_counter()
        if not state.is_completed():
            raise SystemExit(f"flow export failed: {state.message}")
        result = state.result()
    if result.exit_code not in (0, 1):
        raise SystemExit(f"flow export failed: {result.message}")
    return {"ready": ready, "done": done, "rows": sum(c["read"] for c in result.counts.values())}


def child_cold(raw: Path, out: Path) -> dict:
    """What `python -m flows export` does, step by step: imports, specs, then the export's top-level stages."""
    started = time.perf_counter()
    import flows.cli  # noqa: F401  (what `python -m flows` imports first)

    cli = time.perf_counter()
    from flows.mapping.load import load_specs

    specs = load_specs()
    loaded = time.perf_counter()
    from flows.run.pipeline import run_export

    imported = time.perf_counter()
    clock = instrument_core()
    result = run_export(raw, out, specs)
    if result.exit_code not in (0, 1):
        raise SystemExit(f"export failed: {result.message}")
    steps = {"import flows.cli": cli - started, "load specs": loaded - cli, "import the core": imported - loaded}
    steps.update({s["stage"][-1]: s["seconds"] for s in clock.report() if len(s["stage"]) == 2})
    for s in clock.report():  # the documents, which import what they need when they are written
        if s["stage"][-1] in ("define.xml", "define.html", "summary.html"):
            steps[f"  of which {s['stage'][-1]}"] = s["seconds"]
    return {"ready": started, "rows": sum(c["read"] for c in result.counts.values()), "steps": steps}


def child_warm(raw: Path, out: Path) -> dict:
    """`run_export` of raw/ WARM_RUNS times in a process that has imported everything and run it once (untimed):
    each run with --force into the same folder, so each also diffs against the transfer before it. Then one more,
    instrumented, for where a warm run spends its time."""
    from flows.mapping.load import load_specs
    from flows.run.pipeline import run_export

    specs = load_specs()
    result = run_export(raw, out, specs, force=True)
    ready, times, cpu = time.perf_counter(), [], []
    for _ in range(WARM_RUNS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run_export(raw, out, specs, force=True)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if result.exit_code not in (0, 1):
            raise SystemExit(f"export failed: {result.message}")
    done = time.perf_counter()
    clock = instrument_core()
    importlib.import_module("flows.run.pipeline").run_export(raw, out, specs, force=True)  # the instrumented one
    steps = {
        "  " * (len(s["stage"]) - 2) + s["stage"][-1]: s["seconds"] for s in clock.report() if 2 <= len(s["stage"]) <= 3
    }
    rows = sum(c["read"] for c in result.counts.values())
    return {"ready": ready, "done": done, "rows": rows, "times": times, "cpu": cpu, "steps": steps}


def child_read(raw: Path, specs_dir: Path) -> dict:
    """`read_raws` of every raw file a spec folder's contracts name, as the export's read step calls it (with the
    export's memory pool), the specs loaded before the clock starts; the files' count and size on disk beside it."""
    from flows.mapping.load import load_specs
    from flows.raw.read import read_raws, use_returning_pool

    specs = load_specs(specs_dir)
    use_returning_pool()
    ready = time.perf_counter()
    files, problems = read_raws(raw, specs.raw)
    done = time.perf_counter()
    if problems:
        raise SystemExit(f"read failed: {problems[0]}")
    names = sorted({c.file for c in specs.raw.values()})
    size = sum((raw / name).stat().st_size for name in names)
    rows = sum(f.rows for f in files.values())
    return {"ready": ready, "done": done, "rows": rows, "files": len(names), "disk_mb": size / 2**20}


def child(mode: str, raw: Path, out: Path, domains: list[str] | None = None, specs: Path | None = None) -> None:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if mode == "read":
        info = child_read(raw, specs or REPO / "specs")
    else:
        run = {"floor": child_floor, "core": child_core, "flow": child_flow, "cold": child_cold, "warm": child_warm}
        info = run[mode](raw, out, domains) if mode == "core" else run[mode](raw, out)
    done = info.pop("done", time.perf_counter())
    ready = info.pop("ready")
    info.update(startup=ready - started, wall=done - ready, peak_rss_mb=_peak_rss_mb())
    print(json.dumps(info))


# ---------------------------------------------------------------------------------------------------------------
# Parent side: data, subprocesses, medians, the report.


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _data_stamp(subjects: int, seed: int) -> dict:
    sources = [REPO / "flows" / "tools" / "synth.py", REPO / "specs" / "study.yaml"]
    sources += sorted((REPO / "specs" / "raw").glob("*"))
    return {"subjects": subjects, "seed": seed, "sources": _digest(sources)}


def data_ready(subjects: int, seed: int, root: Path) -> bool:
    """Whether root/<subjects>/ holds the raw CSVs `ensure_data` would generate (its stamp is current)."""
    stamp_file = root / str(subjects) / "stamp.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(stamp_file.read_text()) == _data_stamp(subjects, seed)
    return False


def ensure_data(subjects: int, seed: int, root: Path) -> Path:
    """Raw CSVs of `subjects` screened subjects, generated again when the generator or the specs change."""
    folder = root / str(subjects)
    if data_ready(subjects, seed, root):
        return folder
    stamp = _data_stamp(subjects, seed)
    stamp_file = folder / "stamp.json"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "flows", "synth", "--subjects", str(subjects), "--seed", str(seed)]
    cmd += ["--out", str(folder)]
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL, env=_child_env(root, None))
    stamp_file.write_text(json.dumps(stamp) + "\n")
    print(f"generated {subjects:,} subjects in {time.perf_counter() - start:.1f} s -> {folder}", flush=True)
    return folder


LAYOUTS = {  # the layouts the read is measured in: name -> what the report calls it
    "csv": "CSV (the pipeline's own)",
    "vendor-csv": "vendor CSV (`;`, BOM, CRLF, DDMONYYYY, decimal comma, codes)",
    "xpt": "SAS transport (XPORT v5, one file per form)",
    "odm": "CDISC ODM 1.3.2 (one XML file)",
}
READ_SIZE = 10_000  # subjects whose raw data are read in every layout
CONVERTERS = ("layouts.py", "csv_layout.py", "layout_specs.py")  # flows/tools: what writes the other layouts


def ensure_layouts(raw: Path, root: Path) -> dict[str, tuple[Path, Path]]:
    """The raw CSVs in `raw` in each layout: layout -> (its raw folder, its spec folder). The pipeline's CSV is `raw`
    with the repository's specs; the others are written by the converters in flows/tools under
    root/<raw's name>-<layout>/ (raw/ and specs/, whose layout.yaml extends the repository's specs/), and written again
    when the raw CSVs, the converters or the specs change."""
    from flows.spec.read import base_of

    specs = REPO / "specs"
    sources = [*sorted(raw.glob("*.csv")), *(REPO / "flows" / "tools" / n for n in CONVERTERS)]
    sources += [specs / "study.yaml", *sorted((specs / "raw").glob("*"))]
    stamp = {"raw": str(raw.resolve()), "sources": _digest(sources)}
    folders = {layout: root / f"{raw.name}-{layout}" for layout in LAYOUTS if layout != "csv"}

    def fresh(*layouts: str) -> bool:
        files = [folders[la] / "stamp.json" for la in layouts]
        return all(f.is_file() and json.loads(f.read_text()) == stamp for f in files)

    def convert(layouts: tuple[str, ...], write) -> None:
        """`write(staging, extends)` writes the layouts in a folder beside theirs and says where each is; each is then
        moved in place, its layout.yaml checked to extend the repository's specs from there."""
        if fresh(*layouts):
            return
        start = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".{raw.name}-{layouts[0]}-", dir=root))
        try:
            extends = Path(os.path.relpath(specs.resolve(), (folders[layouts[0]] / "specs").resolve())).as_posix()
            made = write(staging, extends)
            for layout in layouts:
                shutil.rmtree(folders[layout], ignore_errors=True)
                made[layout].rename(folders[layout])
                folders[layout].chmod(0o755)  # a staging folder of mkdtemp's is the owner's only
                if base_of(folders[layout] / "specs") != specs.resolve():
                    raise RuntimeError(f"{folders[layout] / 'specs'}: its layout.yaml does not extend {specs}")
                (folders[layout] / "stamp.json").write_text(json.dumps(stamp) + "\n")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"converted {raw} to {', '.join(layouts)} in {time.perf_counter() - start:.1f} s", flush=True)

    def vendor_csv(staging: Path, extends: str) -> dict[str, Path]:
        from flows.tools.csv_layout import write_csv_layout

        write_csv_layout(raw, specs, staging)  # extends: the specs' path from staging/specs, as deep as the layout's
        return {"vendor-csv": staging}

    def xpt_and_odm(staging: Path, extends: str) -> dict[str, Path]:
        from flows.tools.layouts import write_layouts

        write_layouts(raw, specs, staging, extends)  # staging/S103-xpt and staging/S103-odm, extending `extends`
        return {"xpt": staging / "S103-xpt", "odm": staging / "S103-odm"}

    root.mkdir(parents=True, exist_ok=True)
    convert(("vendor-csv",), vendor_csv)
    convert(("xpt", "odm"), xpt_and_odm)  # one converter writes both
    return {"csv": (raw, specs)} | {layout: (f / "raw", f / "specs") for layout, f in folders.items()}


def _child_env(home: Path, code: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(QUIET_PREFECT, PREFECT_HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    if code:  # measure another checkout of the code (e.g. the one before an optimisation)
        env["PYTHONPATH"] = str(code)
    return env


def measure(
    mode: str,
    raw: Path,
    scratch: Path,
    timeout: float,
    code: Path | None = None,
    domains: list[str] | None = None,
    specs: Path | None = None,
) -> dict:
    """One run in a fresh process group; killed (with anything it started) if it outlives `timeout`."""
    work = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=scratch))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--raw", str(raw)]
    cmd += ["--out", str(work / "out")] + (["--domains", *domains] if domains else [])
    cmd += ["--specs", str(specs)] if specs else []
    start = time.perf_counter()
    try:
        with (work / "stdout").open("w") as out, (work / "stderr").open("w") as err:
            proc = subprocess.Popen(
                cmd, cwd=code or REPO, env=_child_env(work / "prefect", code), stdout=out, stderr=err,
                start_new_session=True,
            )  # fmt: skip
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{mode} on {raw}: killed after {timeout:.0f} s") from None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the run if it hung, or a server it left behind
                proc.wait()
        lines = (work / "stdout").read_text().strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{mode} on {raw}: exit {proc.returncode}\n{(work / 'stderr').read_text()[-3000:]}")
        result = json.loads(lines[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["process"] = time.perf_counter() - start
    return result


def _csv_mb(raw: Path) -> float:
    return sum(p.stat().st_size for p in raw.glob("*.csv")) / 2**20


def cold_cli(runs: int, scratch: Path) -> dict:
    """`python -m flows export --raw raw` in fresh processes (no Prefect server configured), and what it spends."""
    times = []
    for _ in range(runs):
        out = Path(tempfile.mkdtemp(prefix="cold-", dir=scratch))
        cmd = [sys.executable, "-m", "flows", "export", "--raw", "raw", "--out", str(out)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=_child_env(out / "prefect", None), capture_output=True, timeout=300)
        times.append(time.perf_counter() - start)
        shutil.rmtree(out, ignore_errors=True)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"cold CLI run failed: {proc.stderr.decode()[-2000:]}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    steps = measure("cold", REPO / "raw", scratch, 300)["steps"]
    warm = measure("warm", REPO / "raw", scratch, 300)
    return {"wall": statistics.median(times), "min": min(times), "runs": runs, "bare_python": bare,
            "steps": steps, "imports": _import_times(scratch), "warm": warm}  # fmt: skip


def _import_times(scratch: Path, top: int = 10) -> list[tuple[str, float]]:
    """Largest cumulative import times (python -X importtime) of a whole `python -m flows export` on raw/."""
    out = Path(tempfile.mkdtemp(prefix="imports-", dir=scratch))
    cmd = [sys.executable, "-X", "importtime", "-m", "flows", "export", "--raw", "raw", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_child_env(out / "prefect", None))
    shutil.rmtree(out, ignore_errors=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip()[1:], int(parts[1]) / 1e6))  # the name keeps its nesting indent
    top_level = [(name, sec) for name, sec in rows if not name.startswith(" ")]
    total = sum(sec for _, sec in top_level)
    return [("(all imports)", total), *sorted(top_level, key=lambda r: -r[1])[:top]]


def machine() -> list[str]:
    from importlib import metadata

    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for pkg in ("pandas", "pyarrow", "numpy", "pandera", "prefect", "pyreadstat"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    dirty = subprocess.run(["git", "status", "--porcelain", "flows"], capture_output=True, text=True, cwd=REPO)
    rev = (commit.stdout.strip() or "unknown") + (" + uncommitted changes to flows/" if dirty.stdout.strip() else "")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM; {platform.platform()}",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
        f"- Code: {rev}; run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {load:.2f} when the report was made",
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def medians(results: dict[tuple[int, str], list[dict]]) -> dict[tuple[int, str], dict]:
    out = {}
    for key, runs in results.items():
        out[key] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "startup", "peak_rss_mb", "process")}
        out[key].update({k: statistics.median(r[k] for r in runs) for k in OPTIONAL if all(k in r for r in runs)})
        out[key].update(rows=runs[0]["rows"], csv_mb=runs[0]["csv_mb"], runs=len(runs))
    return out


def result_rows(med: dict, sizes: list[int], modes: list[str]) -> list[list[str]]:
    rows = []
    for n in sizes:
        floor = med.get((n, "floor"))
        for mode in [m for m in modes if (n, m) in med]:
            m = med[(n, mode)]
            ratios = [f"{m[k] / floor[k]:.1f}x" if floor else "" for k in ("wall", "peak_rss_mb")]
            rows.append(
                [f"{n:,}", mode, f"{m['rows']:,}", f"{m['csv_mb']:.0f}", f"{m['wall']:.2f}",
                 f"{m['rows'] / m['wall']:,.0f}", f"{m['peak_rss_mb']:.0f}", f"{m['peak_rss_mb'] / m['csv_mb']:.1f}x",
                 *ratios, f"{m['startup']:.2f}", str(m["runs"])]
            )  # fmt: skip
    return rows


def stage_medians(runs: list[dict]) -> list[tuple[tuple[str, ...], float, float]]:
    """(stage path, median seconds, highest peak RSS MB after it) over the runs, in order of first call."""
    by_path: dict[tuple[str, ...], list[float]] = {}
    peaks: dict[tuple[str, ...], float] = {}
    for r in runs:
        for s in r.get("stages", []):
            by_path.setdefault(tuple(s["stage"]), []).append(s["seconds"])
            peaks[tuple(s["stage"])] = max(peaks.get(tuple(s["stage"]), 0.0), s["peak_rss_mb"])
    return [(path, statistics.median(v), peaks[path]) for path, v in by_path.items()]


def stage_rows(runs: list[dict]) -> list[list[str]]:
    """Median seconds per stage over the runs, nested stages indented under their callers."""
    found = stage_medians(runs)
    if not found:
        return []
    sec = {path: s for path, s, _ in found}
    peaks = {path: peak for path, _, peak in found}
    total = sec.get(("export",)) or sum(v for p, v in sec.items() if len(p) == 1)
    rows = []
    for path in sec:
        if path == ("export",):
            continue
        depth = len(path) - (2 if path[0] == "export" else 1)
        indent = "&nbsp;&nbsp;" * depth
        rows.append([indent + path[-1], f"{sec[path]:.2f}", f"{100 * sec[path] / total:.0f}%", f"{peaks[path]:.0f}"])
        children = [p for p in sec if len(p) == len(path) + 1 and p[: len(path)] == path]
        rest = sec[path] - sum(sec[c] for c in children)
        if children and rest > 0.02 * total:
            rows.append([indent + "&nbsp;&nbsp;(untimed rest)", f"{rest:.2f}", f"{100 * rest / total:.0f}%", ""])
    return rows


def verdicts(results: dict, sizes: list[int], cold: dict | None, memory: dict | None) -> list[Verdict]:
    """Issue 23's targets on this run: the core export at the largest size against the packaging bound, peak RSS at
    the largest size and at the memory run's, the sample warm and cold; each not met with the stage that holds it
    (the stage timings of that size's core runs; the sample's own steps)."""
    med = medians(results)
    n = max(sizes)

    def stages(size: int):
        return stages_of(stage_medians(results.get((size, "core"), [])))[0]

    found = [
        judge_time(n, med.get((n, "core")), med.get((n, "floor")), stages(n), CORES),
        judge_memory(n, med.get((n, "core")), stages(n)),
    ]
    if memory and memory["subjects"] != n:
        m = memory["subjects"]
        found.append(judge_memory(m, med.get((m, "core")), stages(m), missing=memory["why"]))
    return found + judge_sample(cold)


def targets(
    med: dict, sizes: list[int], domains: list[str] | None = None, judged: list[Verdict] | None = None,
    memory_size: int = 0,
) -> list[str]:  # fmt: skip
    """The Targets section: issue 23's verdicts `judged` for the whole export (issue 9's targets for its datasets
    alone), the packaging bound they are measured against, and what is checked by reading the code."""
    n = max(sizes)
    core, floor = med.get((n, "core")), med.get((n, "floor"))
    lines = []
    if domains:
        workload = " ".join(domains)
        if workload in TARGETS and core and floor:
            max_wall, max_rss = TARGETS[workload]
            wall, rss = core["wall"] / floor["wall"], core["peak_rss_mb"] / core["csv_mb"]
            verdict = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
            lines += [
                f"- Core export of {workload} within {max_wall}x the floor at {n:,} subjects: {core['wall']:.1f} s "
                f"against {floor['wall']:.1f} s, {wall:.1f}x: {verdict(wall <= max_wall)}.",
                f"- Peak memory within {max_rss}x the raw CSV size ({core['csv_mb']:.0f} MB, so "
                f"{max_rss * core['csv_mb']:.0f} MB): {core['peak_rss_mb']:.0f} MB, {rss:.1f}x: "
                f"{verdict(rss <= max_rss)}.",
            ]
    else:
        lines += [v.line() for v in judged or []]
        judged_at = sorted({n, memory_size} - {0})
        if judged and tuple(judged_at) != ISSUE_SIZES:
            lines.append(
                f"- Issue 23 states these targets at {' and '.join(f'{s:,}' for s in ISSUE_SIZES)} subjects; this run "
                f"judged them at {' and '.join(f'{s:,}' for s in judged_at)} (--sizes, --memory-size)."
            )
    if core and floor and "pack_s" in core and "read" in floor:
        bound = floor["read"] + core["pack_s"] / CORES
        lines.append(
            f"- The packaging lower bound, for any export that writes these outputs: the transfer holds "
            f"{core['out_mb']:,.0f} MB besides its zip, and packaging it (SHA-256, CRC-32 and deflate at the zip's "
            f"level, once per file, as the Packer does) takes {core['pack_s']:.1f} s on one core; reading the raw CSVs "
            f"takes the floor {floor['read']:.1f} s on all cores. On {CORES} cores no export can take less than "
            f"{floor['read']:.1f} + {core['pack_s']:.1f}/{CORES} = {bound:.1f} s, {bound / floor['wall']:.1f}x the "
            "floor, before validating, deriving or writing anything."
        )
    lines.append(
        "- No per-row Python loops in validation or derivation: checked by reading the code, not measured here "
        "(every check and rule runs once per distinct value or combination of the columns it reads)."
    )
    return lines


MEMORY = "## The memory run"


def memory_section(memory: dict, med: dict) -> list[str]:
    """The one core run for the memory target: its numbers, or why it did not run (the guard's estimates)."""
    m, guard = memory["subjects"], memory.get("guard")
    lines = [f"{MEMORY}: one core export of {m:,} subjects", ""]
    core = med.get((m, "core"))
    if core:
        lines.append(
            f"Ran: {core['wall']:.1f} s, peak RSS {core['peak_rss_mb']:,.0f} MB for {core['csv_mb']:,.0f} MB of raw "
            f"CSV ({core['peak_rss_mb'] / core['csv_mb']:.1f}x), a transfer of {core.get('transfer_mb', 0):,.0f} MB "
            "(deleted once measured)."
        )
    else:
        lines.append(f"Not run: {memory['why'].split(' (')[0] if guard else memory['why']}.")
    if guard:
        lines += [
            "",
            f"The guard, before the run: from the {guard['base_subjects']:,}-subject core run of this bench, scaled "
            f"by {m / guard['base_subjects']:g} and times a margin, it needs {guard['need_disk_mb']:,} MB of disk "
            f"({guard['free_disk_mb']:,} MB free where the bench writes) and {guard['need_rss_mb']:,} MB of memory "
            f"({guard['available_mb']:,} MB available).",
            *[f"- {r}" for r in guard["reasons"]],
        ]
    return [*lines, ""]


def before_after(before: dict, med: dict, sizes: list[int]) -> list[str]:
    """Core export before (bench/before.json) and now, per size, and the top-level stages at the largest size."""
    old = medians({(r["subjects"], r["mode"]): r["runs"] for r in before["results"]})
    rows = []
    for n in sizes:
        if (n, "core") in old and (n, "core") in med:
            b, a = old[(n, "core")], med[(n, "core")]
            rows.append([f"{n:,}", f"{b['wall']:.2f}", f"{a['wall']:.2f}", f"{b['wall'] / a['wall']:.1f}x",
                         f"{b['peak_rss_mb']:.0f}", f"{a['peak_rss_mb']:.0f}"])  # fmt: skip
    if not rows:
        return []
    lines = [f"## Before and after: core export ({before['label']})", ""]
    lines += [*_table(["subjects", "wall s before", "wall s now", "speed-up", "peak RSS MB before", "now"], rows), ""]
    n = max(sizes)
    old_runs = next((r["runs"] for r in before["results"] if r["subjects"] == n and r["mode"] == "core"), [])
    if old_runs:
        lines += [f"Top-level stages at {n:,} subjects, before (median of {len(old_runs)}):", ""]
        top = [r for r in stage_rows(old_runs) if not r[0].startswith("&nbsp;")]
        lines += [*_table(["stage", "seconds", "share", "peak RSS MB after"], top), ""]
    return lines


def report(results: dict, sizes: list[int], modes: list[str], cold: dict | None, before: dict | None,
           notes: list[str], domains: list[str] | None = None, readers: list[str] | None = None,
           judged: list[Verdict] | None = None, memory: dict | None = None) -> str:  # fmt: skip
    header = ["subjects", "mode", "raw rows", "CSV MB", "wall s", "rows/s", "peak RSS MB", "RSS/CSV", "wall/floor",
              "RSS/floor", "start-up s", "runs"]  # fmt: skip
    med = medians(results)
    lines = ["# Export benchmark", "", *machine(), ""]
    lines += [
        "Each cell is the median of its runs (*runs*); every run is a fresh process. *wall* is the export alone "
        "(floor: read every CSV and write one Parquet file per CSV with pyarrow; core: `run_export`, reading to "
        "publishing; flow: the Prefect flow `export_study` on `prefect_test_harness`). *start-up* is the process's "
        "imports (and, for the flow, starting the test server) before that. *rows/s* counts raw rows read. *peak RSS* "
        "is the process's own high-water mark (VmHWM; the flow's test server is a separate process).",
        "",
        *_table(header, result_rows(med, sorted({*sizes, *(n for n, _ in med)}), modes)),
        "",
    ]
    goals = targets(med, sizes, domains, judged, memory["subjects"] if memory else 0)
    if goals:
        lines += ["## Targets" + ("" if domains else " (issue 23)"), "", *goals, ""]
    largest = max(sizes)
    core_runs = results.get((largest, "core"), [])
    stages = stage_rows(core_runs)
    if stages:
        lines += [f"## Stage timings, core export of {largest:,} subjects (median of {len(core_runs)})", ""]
        lines += [*_table(["stage", "seconds", "share", "peak RSS MB after"], stages), ""]
    if memory:
        lines += memory_section(memory, med)
    if readers:
        lines += readers
    if before:
        lines += before_after(before, med, sizes)
    if cold:
        lines += sample_section(cold)
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


SAMPLE = "## Cold one-off run on raw/ (the sample)"


def sample_section(cold: dict, alone: bool = False) -> list[str]:
    """The sample's cold one-off CLI run and warm export: times, their targets, where each spends it. `alone`:
    measured by --sample, apart from the rest of the report, so it says which code and when."""
    warm = cold["warm"]
    median = statistics.median(warm["times"])
    warm_ok, cold_ok = ("met" if v.met else "not met" for v in judge_sample(cold))
    lines = [SAMPLE, ""]
    if alone:
        lines += [f"Measured apart from the sections above (`bench/run.py --sample`): {machine()[-1][2:]}", ""]
    lines += _table(
        ["run", "median s", "best s", "CPU s (median)", "runs", "target (median)"],
        [
            ["cold: `python -m flows export --raw raw --out <tmp>`, a fresh process", f"{cold['wall']:.2f}",
             f"{cold['min']:.2f}", "", str(cold["runs"]), f"under {TARGET_COLD} s: **{cold_ok}**"],
            ["warm: `run_export(raw, out, specs, force=True)` again in one process, after one untimed run",
             f"{median:.2f}", f"{min(warm['times']):.2f}", f"{statistics.median(warm['cpu']):.2f}",
             str(len(warm["times"])), f"under {TARGET_WARM} s: **{warm_ok}**"],
        ],
    )  # fmt: skip
    lines += [
        "",
        f"Both without a Prefect server configured; a bare `python -c pass` takes {cold['bare_python']:.2f} s. A warm "
        "run publishes a new transfer each time and diffs it against the one before. Where one cold run spends it:",
        "",
    ]
    steps = [[k.replace("  ", "&nbsp;&nbsp;"), f"{v:.2f}"] for k, v in cold["steps"].items()]
    lines += _table(["step", "seconds"], steps)
    lines += ["", "Where one warm run spends it (instrumented, so a little slower than the runs above):", ""]
    warm_steps = [[k.replace("  ", "&nbsp;&nbsp;"), f"{v:.3f}"] for k, v in warm["steps"].items()]
    lines += _table(["stage", "seconds"], warm_steps)
    lines += ["", "Largest imports of the cold run (`python -X importtime`, cumulative, top-level modules):", ""]
    lines += [*_table(["module", "seconds"], [[f"`{n}`", f"{s:.2f}"] for n, s in cold["imports"]]), ""]
    return lines


READERS = "## Reading the raw data by format"


def measure_readers(layouts: dict[str, tuple[Path, Path]], scratch: Path, runs: int, timeout: float) -> dict:
    """`runs` fresh `read` processes per layout, the layouts interleaved (drift in the machine's load hits them alike);
    with the load average before and after."""
    found: dict[str, list[dict]] = {}
    load_before = os.getloadavg()[0]
    for i in range(runs):
        for layout, (raw, specs) in layouts.items():
            r = measure("read", raw, scratch, timeout, specs=specs)
            found.setdefault(layout, []).append(r)
            print(
                f"read {layout:<10} run {i + 1}/{runs}: {r['wall']:7.2f} s  {r['peak_rss_mb']:7.0f} MB  "
                f"({r['rows']:,} rows, {r['disk_mb']:.0f} MB on disk)",
                flush=True,
            )
    data = layouts["csv"][0].parent  # the raw CSVs' folder holds the other layouts too
    return {"runs": found, "load": [load_before, os.getloadavg()[0]], "data": str(data)}


def _shown(path: str) -> str:
    """A path as the report shows it: from the repository when it is in it."""
    with contextlib.suppress(ValueError):
        return Path(path).resolve().relative_to(REPO).as_posix()
    return path


def readers_section(readers: dict, subjects: int, alone: bool = False) -> list[str]:
    """The read of every raw file in each layout: medians of the runs, against the pipeline's own CSV."""
    med = {}
    for layout, runs in readers["runs"].items():
        med[layout] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "peak_rss_mb", "startup")}
        med[layout] |= {k: runs[0][k] for k in ("files", "disk_mb", "rows")} | {"runs": len(runs)}
    base = med.get("csv")
    rows = [
        [LAYOUTS.get(layout, layout), str(m["files"]), f"{m['disk_mb']:.1f}", f"{m['rows']:,}", f"{m['wall']:.2f}",
         f"{m['peak_rss_mb']:.0f}", f"{m['wall'] / base['wall']:.1f}x" if base else "", str(m["runs"])]
        for layout, m in med.items()
    ]  # fmt: skip
    lines = [f"{READERS} ({subjects:,} subjects)", ""]
    if alone:
        lines += [f"Measured apart from the sections above (`bench/run.py --readers-only`): {machine()[-1][2:]}", ""]
    lines += [
        "Each run is a fresh process: `flows.raw.read.read_raws(raw_dir, specs.raw)` of every file the layout's "
        "contracts name, as the export's read step calls it (the specs loaded and the export's Arrow memory pool set "
        "before the clock starts), each value converted to the pipeline's one representation as it is read (ISO 8601 "
        "dates, decoded codes, decimal points). *wall* is that call alone, median of the runs; *peak RSS* the "
        "process's own high-water mark (VmHWM: imports and specs included). The data are the generator's "
        f"({_shown(readers['data'])}/{subjects}/), written in each other layout by the converters in flows/tools "
        f"(`csv_layout`, `layouts`) under {_shown(readers['data'])}/{subjects}-<layout>/, kept while the raw CSVs, the "
        "converters and the specs are unchanged.",
        "",
        *_table(["layout", "files", "MB on disk", "rows", "wall s", "peak RSS MB", "wall/CSV", "runs"], rows),
        "",
    ]
    before, after = readers["load"]
    note = f"Load average (1 min) {before:.2f} before these runs and {after:.2f} after, on {CORES} cores"
    if max(before, after) > 1:
        note += ": other work was running on this machine, so the times are longer than on an idle one"
    return [*lines, note + ".", ""]


def readers_only(args: argparse.Namespace) -> int:
    """--readers-only: the read in every layout, written over its section of --results (the rest kept) and under
    "readers" in --json."""
    args.data.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="runs-", dir=args.data))
    try:
        layouts = ensure_layouts(ensure_data(args.read_size, args.seed, args.data), args.data)
        readers = measure_readers(layouts, scratch, args.runs, args.timeout)
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    section = readers_section(readers, args.read_size, alone=True)
    old = args.results.read_text(encoding="utf-8") if args.results.is_file() else "# Export benchmark\n"
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(replace_section(old, READERS, section).rstrip("\n") + "\n", encoding="utf-8")
    dump = {}
    with contextlib.suppress(OSError, ValueError):
        dump = json.loads(args.json.read_text(encoding="utf-8"))
    dump["readers"] = {"subjects": args.read_size, **readers}
    args.json.write_text(json.dumps(dump, indent=1) + "\n", encoding="utf-8")
    print("\n".join(section))
    return 0


def replace_section(text: str, heading: str, section: list[str]) -> str:
    """`text` with the section under `heading` (up to the next `## `) replaced by `section`, or it appended."""
    start = text.find(heading)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + "\n".join(section)
    end = text.find("\n## ", start + len(heading))
    return text[:start] + "\n".join(section) + (text[end:] if end >= 0 else "")


KEPT = "## Load:"  # a section bench/load.py writes into the same file: kept when this report is rewritten


def kept_sections(path: Path) -> str:
    """The section of `path` that another benchmark wrote (from its heading to the next one), to append again."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    start = old.find(f"\n{KEPT}")
    if start < 0:
        return ""
    end = old.find("\n## ", start + 1)
    return "\n" + old[start + 1 : end + 1 if end >= 0 else None].rstrip("\n") + "\n"


def _interrupted(signum, frame):
    raise KeyboardInterrupt  # so that SIGTERM, like Ctrl-C, kills the run in progress and removes the scratch folder


def sample_only(data: Path, results: Path) -> int:
    """--sample: the cold and warm runs on raw/, written over their section of `results` (the rest kept)."""
    data.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="runs-", dir=data))
    try:
        cold = cold_cli(COLD_RUNS, scratch)
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    section = sample_section(cold, alone=True)
    old = results.read_text(encoding="utf-8") if results.is_file() else "# Export benchmark\n"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(replace_section(old, SAMPLE, section).rstrip("\n") + "\n", encoding="utf-8")
    print("\n".join(section))
    return 0


def runs_note(sizes: list[int], modes: list[str], runs: int) -> str:
    """How many runs each (size, mode) had, for the notes: `runs`, but one for the modes of ONE_RUN_FROM."""
    text = f"{runs} run{'s' * (runs != 1)} of {', '.join(modes)} at {', '.join(f'{n:,}' for n in sizes)} subjects"
    for mode in modes:
        once = [n for n in sizes if runs_for(n, mode, runs) < runs]
        if once:
            text += (
                f", but one run of {mode} at {', '.join(f'{n:,}' for n in once)} (minutes each: its cell is that run, "
                "not a median)"
            )
    return text


def _free_disk_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / 2**20


def _mem_available_mb() -> float:
    """MemAvailable of /proc/meminfo (the free physical memory where /proc is missing), in MB."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        lines = Path("/proc/meminfo").read_text().splitlines()
        return int(next(line for line in lines if line.startswith("MemAvailable:")).split()[1]) / 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2**20


def memory_run(args: argparse.Namespace, results: dict, scratch: Path) -> dict:
    """The one core run at --memory-size subjects for the memory target, added to `results` when its guard lets it
    run (data generated only then); what happened: its size, the guard's figures and why it did not run."""
    size = args.memory_size or MEMORY_SIZE
    memory: dict = {"subjects": size, "guard": None, "why": ""}
    largest = max(args.sizes)
    if not args.memory_size:
        memory["why"] = "no memory run was asked for (BENCH_SKIP_300K=1 or --memory-size 0)"
    elif args.domains:
        memory["why"] = "the core runs export only some datasets (--domains); the memory target is the whole export's"
    elif "core" not in args.modes:
        memory["why"] = "no core runs in this bench (--modes)"
    elif size in args.sizes:
        memory["why"] = "" if (size, "core") in results else "its core runs failed"  # measured with the sizes
    else:
        runs = results.get((largest, "core"))
        base = medians({(largest, "core"): runs})[(largest, "core")] if runs else None
        ready = data_ready(size, args.seed, args.data)
        guard = guard_memory_run(
            size, largest, base, ready, _free_disk_mb(scratch), _mem_available_mb(), args.timeout
        )  # fmt: skip
        memory["guard"] = guard.as_dict()
        if not guard.fits:
            short = ", ".join(r.split(":")[0] for r in guard.reasons)
            memory["why"] = f'skipped, the guard estimates it would not fit ({short}; see "{MEMORY[3:]}")'
            print(f"{size:>7,} subjects  core: skipped, {'; '.join(guard.reasons)}", flush=True)
            return memory
        raw = ensure_data(size, args.seed, args.data)
        r = measure("core", raw, scratch, guard.timeout, args.code)  # one run, its transfer deleted once measured
        r["csv_mb"] = _csv_mb(raw)
        results[(size, "core")] = [r]
        print(f"{size:>7,} subjects  core  run 1/1: {r['wall']:7.2f} s  {r['peak_rss_mb']:7.0f} MB", flush=True)
    return memory


def parser() -> argparse.ArgumentParser:
    """The bench's options; --sizes and --memory-size default to BENCH_SIZES and BENCH_SKIP_300K's (env_defaults)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes, memory_size = env_defaults(os.environ)
    p.add_argument("--sizes", type=int, nargs="+", default=sizes, help="subjects (default: BENCH_SIZES or 1k 10k 100k)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument(
        "--runs", type=int, default=RUNS, help=f"runs per size and mode (default {RUNS}; the 100k flow runs once)"
    )
    p.add_argument(
        "--memory-size",
        type=int,
        default=memory_size,
        help=f"subjects of the one guarded core run for the memory target (default {MEMORY_SIZE:,}; "
        "0, or BENCH_SKIP_300K=1: none)",
    )
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--data", type=Path, default=BENCH / "data")
    p.add_argument("--results", type=Path, default=BENCH / "results.md")
    p.add_argument("--json", type=Path, default=BENCH / "results.json", help="every run, for later comparison")
    p.add_argument("--before", type=Path, default=BENCH / "before.json", help="a --json of the code before")
    p.add_argument("--code", type=Path, help="measure the flows/ of another checkout (PYTHONPATH for the runs)")
    p.add_argument("--label", default="", help="what --json holds, e.g. the commit measured")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds before a run is killed")
    p.add_argument("--no-cold", action="store_true", help="skip the cold and warm runs on raw/")
    p.add_argument(
        "--sample", action="store_true", help="only the cold and warm runs on raw/: replace their section of --results"
    )
    p.add_argument("--no-readers", action="store_true", help="skip reading the raw data in every layout")
    p.add_argument(
        "--readers-only",
        action="store_true",
        help="only the read in every layout (CSV, vendor CSV, XPT, ODM): replace its section of --results",
    )
    p.add_argument("--read-size", type=int, default=READ_SIZE, help=f"subjects read in every layout ({READ_SIZE:,})")
    p.add_argument(
        "--domains", nargs="+", help="core runs export only these SDTM datasets (e.g. DM EX IE TI TS), same raw data"
    )
    p.add_argument("--child", choices=[*MODES, "cold", "warm", "read"], help=argparse.SUPPRESS)
    p.add_argument("--specs", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.child:
        child(args.child, args.raw, args.out, args.domains, args.specs)
        return 0

    signal.signal(signal.SIGTERM, _interrupted)
    if args.sample:
        return sample_only(args.data, args.results)
    if args.readers_only:
        return readers_only(args)
    begin = time.perf_counter()
    args.data.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="runs-", dir=args.data))
    results: dict[tuple[int, str], list[dict]] = {}
    try:
        for n in args.sizes:
            raw = ensure_data(n, args.seed, args.data)
            csv_mb = _csv_mb(raw)
            for i in range(args.runs):
                for mode in args.modes:  # modes interleaved, so drift in the machine's load hits them alike
                    if i >= (count := runs_for(n, mode, args.runs)):
                        continue
                    r = measure(mode, raw, scratch, args.timeout, args.code, args.domains)  # its transfer deleted
                    r["csv_mb"] = csv_mb
                    results.setdefault((n, mode), []).append(r)
                    print(
                        f"{n:>7,} subjects  {mode:<5} run {i + 1}/{count}: {r['wall']:7.2f} s  "
                        f"{r['peak_rss_mb']:7.0f} MB  (start-up {r['startup']:.2f} s)",
                        flush=True,
                    )
        memory = memory_run(args, results, scratch)
        readers = None
        if not (args.no_readers or args.code):  # another checkout's code may not read these layouts
            layouts = ensure_layouts(ensure_data(args.read_size, args.seed, args.data), args.data)
            readers = measure_readers(layouts, scratch, args.runs, args.timeout)
        cold = None if args.no_cold or args.code else cold_cli(COLD_RUNS, scratch)
    except KeyboardInterrupt:  # `measure` and subprocess.run have killed the run in progress (and its test server)
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    label = args.label or (f"code in {args.code}" if args.code else "this checkout")
    runs = [{"subjects": n, "mode": m, "runs": r} for (n, m), r in results.items()]
    judged = None if args.domains else verdicts(results, args.sizes, cold, memory)
    dump = {"label": label, "domains": args.domains, "results": runs, "memory": memory}
    dump["targets"] = [v.as_dict() for v in judged or []]
    if readers:
        dump["readers"] = {"subjects": args.read_size, **readers}
    args.json.write_text(json.dumps(dump, indent=1) + "\n", encoding="utf-8")
    before = json.loads(args.before.read_text()) if args.before.is_file() and not args.code else None
    if before and sorted(before.get("domains") or []) != sorted(args.domains or []):
        before = None  # measured on another workload (the datasets of its day): not comparable
    notes = [
        f"This run took {time.perf_counter() - begin:.0f} s in all, data generation included "
        f"({runs_note(args.sizes, args.modes, args.runs)}).",
        *(
            [
                f"Core runs export only the SDTM datasets {', '.join(args.domains)} (--domains) and those they read "
                f"({', '.join(with_inputs(args.domains, bench_specs(None)))}), from the same raw data."
            ]
            if args.domains
            else []
        ),
        "The generator's shares and spacing scale with the number of subjects (about 100 assessment rows and 17 "
        "eligibility rows per screened subject, as in the sample); the data have no rejects.",
    ]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    section = readers_section(readers, args.read_size) if readers else None
    text = report(results, args.sizes, args.modes, cold, before, notes, args.domains, section, judged, memory)
    args.results.write_text(text + kept_sections(args.results), encoding="utf-8")
    print()
    print(args.results.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

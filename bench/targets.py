"""Issue 23's targets judged on what `make bench` (bench/run.py) measured, and the guard of its memory run.

Pure functions of the medians, stage timings and machine figures they are given, so that the verdicts, the stage
named for a target not met and the guard's decision are tested on hand-computed numbers:

1. the core export at the largest size (100,000 subjects) within TARGET_BOUND x the packaging lower bound of the
   same run: the floor's read of the raw CSVs plus packaging the transfer (SHA-256, CRC-32, deflate once per file)
   shared by the cores;
2. peak RSS within TARGET_RSS x the raw CSV at the largest size and at the memory run's (300,000 subjects);
3. the sample export (raw/) under TARGET_WARM s warm (median of its warm runs) and TARGET_COLD s cold (median of
   fresh `python -m flows export` processes).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

SIZES = (1_000, 10_000, 100_000)
MEMORY_SIZE = 300_000  # subjects of the one core run for the memory target; 0: none
ONE_RUN_FROM = {"flow": 100_000}  # mode -> the size from which it runs once (a 100k flow run takes minutes)
MARGIN = 1.25  # the memory run's estimates: the largest core run's transfer, raw CSV and peak RSS scaled, times this
TARGET_BOUND = 2.5  # core export wall / packaging lower bound, at the largest size
TARGET_RSS = 2.5  # peak RSS / raw CSV, at the largest size and at the memory run's
TARGET_WARM = 1.0  # seconds: the sample export, warm (median)
TARGET_COLD = 1.5  # seconds: the sample export, cold (median of fresh processes)
ISSUE_SIZES = (100_000, 300_000)  # the sizes issue 23 states its targets at

Stage = tuple[tuple[str, ...], float, float]  # (stage path under the export, seconds, peak RSS MB after it)


# ---------------------------------------------------------------------------------------------------------------
# What to run


def runs_for(subjects: int, mode: str, runs: int) -> int:
    """Runs of a (size, mode): `runs`, or one for a mode of ONE_RUN_FROM at and above its size."""
    return min(runs, 1) if subjects >= ONE_RUN_FROM.get(mode, subjects + 1) else runs


def env_defaults(env: Mapping[str, str]) -> tuple[list[int], int]:
    """The default --sizes and --memory-size: BENCH_SIZES (subjects separated by commas, e.g. 1000,10000) or SIZES;
    MEMORY_SIZE, or 0 (no memory run) when BENCH_SKIP_300K is set to anything but 0."""
    sizes = list(SIZES)
    text = env.get("BENCH_SIZES", "").replace(" ", "")
    if text:
        try:
            sizes = [int(v) for v in text.split(",")]
        except ValueError:
            sizes = []
        if not sizes or min(sizes) < 1:
            raise SystemExit(f"BENCH_SIZES={env['BENCH_SIZES']!r}: subjects separated by commas, e.g. 1000,10000")
    skip = env.get("BENCH_SKIP_300K", "").strip() not in ("", "0")
    return sizes, 0 if skip else MEMORY_SIZE


# ---------------------------------------------------------------------------------------------------------------
# Which stage holds a target


def stages_of(report: list[tuple[tuple[str, ...], float, float]]) -> tuple[list[Stage], float]:
    """The stages under the export (its own path dropped from every path), in order of first call, and the export's
    seconds (the top-level stages' sum when the export itself was not timed)."""
    total, stages = None, []
    for path, sec, peak in report:
        if path == ("export",):
            total = sec
            continue
        stages.append((path[1:] if path[0] == "export" else path, sec, peak))
    return stages, total if total is not None else sum(sec for path, sec, _ in stages if len(path) == 1)


def _is_leaf(path: tuple[str, ...], stages: list[Stage]) -> bool:
    return not any(len(p) > len(path) and p[: len(path)] == path for p, _, _ in stages)


def time_holder(stages: list[Stage], total: float) -> str:
    """The top-level stage that takes the most seconds, and the stage under it that takes the most."""
    tops = [(path, sec) for path, sec, _ in stages if len(path) == 1]
    if not tops or total <= 0:
        return ""
    top, sec = max(tops, key=lambda t: t[1])
    text = f"{top[0]}, {sec:.1f} s of {total:.1f} s ({100 * sec / total:.0f}%)"
    leaves = [(p, s) for p, s, _ in stages if len(p) > 1 and p[0] == top[0] and _is_leaf(p, stages)]
    if leaves:
        leaf, leaf_sec = max(leaves, key=lambda t: t[1])
        text += f", most of it in {leaf[-1]} ({leaf_sec:.1f} s)"
    return text


def memory_holder(stages: list[Stage], start: float = 0.0) -> str:
    """The top-level stage that raises the peak RSS most (its peak after it against the highest before it, `start`
    before the first: what the process held before the export), and the stage under it that raises it most (against
    the highest peak after any stage timed before it); the process itself when no stage raises it as much."""
    best, before = None, start
    for path, _, peak in stages:
        if len(path) == 1:
            if best is None or peak - before > best[1]:
                best = (path[0], peak - before, before, peak)
            before = max(before, peak)
    if best is None or best[1] <= 0 or best[1] < start:
        return f"the process before the export (imports and specs: {start:,.0f} MB)" if start else ""
    top, rise, low, high = best
    text = f"{top}, which raises the peak RSS from {low:,.0f} to {high:,.0f} MB (+{rise:,.0f} MB)"
    inner, before = None, start
    for path, _, peak in stages:
        if _is_leaf(path, stages):
            if len(path) > 1 and path[0] == top and (inner is None or peak - before > inner[1]):
                inner = (path[-1], peak - before, peak)
            before = max(before, peak)
    if inner and inner[1] > 0:
        text += f"; most of it in {inner[0]} (+{inner[1]:,.0f} MB, to {inner[2]:,.0f} MB)"
    return text


def step_holder(steps: Mapping[str, float]) -> str:
    """The largest top-level step of a sample run (names indented by two spaces per level below it; the cold run's
    `  of which ...` lines are parts of another step), and its largest step one level down."""
    tops: list[tuple[str, float, dict[str, float]]] = []
    for name, sec in steps.items():
        if not name.startswith(" "):
            tops.append((name, sec, {}))
        elif tops and not name.lstrip().startswith("of which") and not name.startswith("   "):
            tops[-1][2][name.strip()] = sec
    if not tops:
        return ""
    name, sec, children = max(tops, key=lambda t: t[1])
    text = f"{name}, {sec:.2f} s"
    if children:
        child, child_sec = max(children.items(), key=lambda t: t[1])
        text += f", most of it in {child} ({child_sec:.2f} s)"
    return text


# ---------------------------------------------------------------------------------------------------------------
# The verdicts


@dataclass(frozen=True)
class Verdict:
    """One target: as issue 23 states it, what this run measured, met or not (None: not measured) and, when not
    met, the stage that holds it."""

    target: str
    measured: str
    met: bool | None
    holder: str = ""

    def line(self) -> str:
        if self.met is None:
            return f"- {self.target}: not judged: {self.measured}."
        text = f"- {self.target}: {self.measured}: **{'met' if self.met else 'not met'}**."
        if not self.met and self.holder:
            text += f" Held by {self.holder}."
        return text

    def as_dict(self) -> dict:
        return {"target": self.target, "measured": self.measured, "met": self.met, "holder": self.holder}


def judge_time(subjects: int, core: dict | None, floor: dict | None, stages: list[Stage], cores: int) -> Verdict:
    """Target 1: the core export's wall against the packaging lower bound of the same run, the floor's read plus the
    packaging of the transfer on one core (`pack_s`) shared by `cores`."""
    target = f"Core export of {subjects:,} subjects within {TARGET_BOUND}x the packaging lower bound"
    if not core:
        return Verdict(target, f"no core run at {subjects:,} subjects", None)
    if not floor or "read" not in floor or "pack_s" not in core:
        return Verdict(target, f"the bound needs the floor's read and the transfer's packaging at {subjects:,}", None)
    bound = floor["read"] + core["pack_s"] / cores
    ratio = core["wall"] / bound
    measured = (
        f"{core['wall']:.1f} s against a bound of {floor['read']:.1f} + {core['pack_s']:.1f}/{cores} = {bound:.1f} s, "
        f"{ratio:.1f}x"
    )
    return Verdict(target, measured, ratio <= TARGET_BOUND, time_holder(stages, core["wall"]))


def judge_memory(subjects: int, core: dict | None, stages: list[Stage], missing: str = "") -> Verdict:
    """Target 2 at one size: the core run's peak RSS against TARGET_RSS x its raw CSV; `missing` says why there is
    no run (e.g. the memory run skipped by its guard)."""
    target = f"Peak RSS within {TARGET_RSS}x the raw CSV at {subjects:,} subjects"
    if not core:
        return Verdict(target, missing or f"no core run at {subjects:,} subjects", None)
    limit, ratio = TARGET_RSS * core["csv_mb"], core["peak_rss_mb"] / core["csv_mb"]
    measured = (
        f"{core['peak_rss_mb']:,.0f} MB against {core['csv_mb']:,.0f} MB of CSV (so at most {limit:,.0f} MB), "
        f"{ratio:.1f}x"
    )
    return Verdict(target, measured, ratio <= TARGET_RSS, memory_holder(stages, core.get("start_rss_mb", 0.0)))


def judge_sample(cold: dict | None) -> list[Verdict]:
    """Target 3: the sample's warm runs (median) and cold fresh processes (median), each under its limit."""
    warm_target = f"The sample export (raw/) under {TARGET_WARM} s warm"
    cold_target = f"The sample export (raw/) under {TARGET_COLD} s cold"
    if not cold:
        return [Verdict(t, "the sample was not run (--no-cold)", None) for t in (warm_target, cold_target)]
    times = cold["warm"]["times"]
    warm = statistics.median(times)
    return [
        Verdict(f"{warm_target} (median of {len(times)})", f"{warm:.2f} s", warm < TARGET_WARM,
                f"a warm run's {step_holder(cold['warm']['steps'])}"),
        Verdict(f"{cold_target} (`python -m flows export`, median of {cold['runs']} fresh processes)",
                f"{cold['wall']:.2f} s", cold["wall"] < TARGET_COLD, f"a cold run's {step_holder(cold['steps'])}"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# The memory run's guard


@dataclass(frozen=True)
class Guard:
    """Whether the memory run fits: its needs estimated from the largest core run of the same bench (scaled by the
    ratio of subjects, times MARGIN) against the free disk of the data folder and MemAvailable, in MB."""

    subjects: int
    base_subjects: int
    need_disk_mb: float
    free_disk_mb: float
    need_rss_mb: float
    available_mb: float
    timeout: float  # seconds: twice the estimated wall, at least the bench's --timeout
    reasons: tuple[str, ...]  # why it does not fit; empty when it does

    @property
    def fits(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict:
        return {
            "subjects": self.subjects, "base_subjects": self.base_subjects, "need_disk_mb": round(self.need_disk_mb),
            "free_disk_mb": round(self.free_disk_mb), "need_rss_mb": round(self.need_rss_mb),
            "available_mb": round(self.available_mb), "timeout": round(self.timeout), "fits": self.fits,
            "reasons": list(self.reasons),
        }  # fmt: skip


def guard_memory_run(
    subjects: int,
    base_subjects: int,
    base: dict | None,
    data_ready: bool,
    free_disk_mb: float,
    available_mb: float,
    timeout: float,
) -> Guard:
    """The guard of a core run of `subjects` from `base`, the medians of the core run at `base_subjects`: disk for
    its transfer (zip included) and, unless `data_ready`, its raw CSVs; memory for its peak RSS."""
    if not base or "transfer_mb" not in base:
        why = f"no core run at {base_subjects:,} subjects measured its transfer, to estimate the run from"
        return Guard(subjects, base_subjects, 0.0, free_disk_mb, 0.0, available_mb, timeout, (why,))
    scale = subjects / base_subjects
    transfer = scale * base["transfer_mb"] * MARGIN
    raw = 0.0 if data_ready else scale * base["csv_mb"] * MARGIN
    need_disk, need_rss = transfer + raw, scale * base["peak_rss_mb"] * MARGIN
    reasons = []
    if need_disk > free_disk_mb:
        parts = f"its transfer {scale:g} x {base['transfer_mb']:,.0f} MB x {MARGIN} = {transfer:,.0f} MB"
        if raw:
            parts += f" and its raw CSVs (to generate) {scale:g} x {base['csv_mb']:,.0f} MB x {MARGIN} = {raw:,.0f} MB"
        reasons.append(f"disk: {parts}, {need_disk:,.0f} MB in all, with {free_disk_mb:,.0f} MB free")
    if need_rss > available_mb:
        reasons.append(
            f"memory: peak RSS {scale:g} x {base['peak_rss_mb']:,.0f} MB x {MARGIN} = {need_rss:,.0f} MB, with "
            f"{available_mb:,.0f} MB available (MemAvailable)"
        )
    wall = 2 * scale * base["wall"]
    return Guard(subjects, base_subjects, need_disk, free_disk_mb, need_rss, available_mb, max(timeout, wall),
                 tuple(reasons))  # fmt: skip

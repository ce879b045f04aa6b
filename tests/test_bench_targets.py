"""Tests of bench/targets.py: issue 23's verdicts on hand-computed medians, the stage named for a target not met, the
memory run's guard, and which runs the bench makes."""

from __future__ import annotations

import pytest

from tests.conftest import bench_script

targets = bench_script("targets")

# One core export as the bench's stage clock reports it (paths under the export, in order of first call): seconds,
# and the peak RSS (MB) after each stage. The process held 200 MB before the export.
STAGES = [
    (("read",), 2.0, 1400.0),  # +1,200 MB over the 200 MB before the export
    (("derive",), 10.0, 4000.0),  # +2,600 MB over read's 1,400: the top-level stage that raises the peak most
    (("derive", "QS records"), 1.0, 3000.0),  # +1,600 over read's 1,400: the largest rise under derive
    (("derive", "QS variables"), 6.0, 3900.0),  # +900 over 3,000
    (("write",), 18.0, 4100.0),  # the slowest top-level stage
    (("write", "xpt writer"), 9.0, 4100.0),  # the slowest stage under it
    (("write", "csv writer"), 5.0, 4100.0),
]


def test_stages_of_drops_the_export_from_every_path_and_gives_its_seconds():
    report = [(("export",), 31.0, 4100.0), (("export", "read"), 2.0, 1400.0), (("export", "read", "x"), 1.0, 900.0)]
    assert targets.stages_of(report) == ([(("read",), 2.0, 1400.0), (("read", "x"), 1.0, 900.0)], 31.0)
    assert targets.stages_of([(("read",), 2.0, 1.0), (("write",), 3.0, 1.0)])[1] == 5.0  # no export: the sum


def test_the_time_target_is_the_wall_against_the_floor_read_plus_packaging_shared_by_the_cores():
    floor = {"wall": 3.0, "read": 1.0}
    met = targets.judge_time(100_000, {"wall": 30.0, "pack_s": 22.0}, floor, STAGES, cores=2)
    assert met.met is True  # bound 1.0 + 22.0/2 = 12.0 s; 30.0/12.0 = 2.5x, at the limit
    assert met.measured == "30.0 s against a bound of 1.0 + 22.0/2 = 12.0 s, 2.5x"
    assert met.line() == (
        "- Core export of 100,000 subjects within 2.5x the packaging lower bound: 30.0 s against a bound of "
        "1.0 + 22.0/2 = 12.0 s, 2.5x: **met**."
    )
    slow = targets.judge_time(100_000, {"wall": 31.0, "pack_s": 22.0}, floor, STAGES, cores=2)  # 2.58x
    assert slow.met is False
    assert slow.line().endswith(
        "2.6x: **not met**. Held by write, 18.0 s of 31.0 s (58%), most of it in xpt writer (9.0 s)."
    )
    on_one = targets.judge_time(100_000, {"wall": 31.0, "pack_s": 22.0}, floor, STAGES, cores=1)
    assert "1.0 + 22.0/1 = 23.0 s, 1.3x" in on_one.measured and on_one.met is True


@pytest.mark.parametrize(
    ("core", "floor", "why"),
    [
        (None, {"read": 1.0}, "no core run at 100,000 subjects"),
        ({"wall": 9.0}, {"read": 1.0}, "the bound needs the floor's read and the transfer's packaging at 100,000"),
        ({"wall": 9.0, "pack_s": 2.0}, None, "the bound needs the floor's read"),
    ],
)
def test_the_time_target_is_not_judged_without_its_measures(core, floor, why):
    verdict = targets.judge_time(100_000, core, floor, STAGES, cores=2)
    assert verdict.met is None and why in verdict.line() and "not judged" in verdict.line()


def test_the_memory_target_names_the_stage_that_raises_the_peak_most():
    core = {"peak_rss_mb": 1800.0, "csv_mb": 500.0, "start_rss_mb": 200.0}  # limit 2.5 x 500 = 1,250 MB
    verdict = targets.judge_memory(100_000, core, STAGES)
    assert verdict.met is False
    assert verdict.line() == (
        "- Peak RSS within 2.5x the raw CSV at 100,000 subjects: 1,800 MB against 500 MB of CSV (so at most 1,250 MB), "
        "3.6x: **not met**. Held by derive, which raises the peak RSS from 1,400 to 4,000 MB (+2,600 MB); most of it "
        "in QS records (+1,600 MB, to 3,000 MB)."
    )
    assert targets.judge_memory(100_000, core | {"peak_rss_mb": 1250.0}, STAGES).met is True  # 2.5x: at the limit


def test_the_memory_target_names_the_process_itself_when_no_stage_raises_the_peak_as_much():
    small = [(("read",), 0.1, 250.0), (("write",), 0.5, 300.0)]  # +50 and +50 over the 200 MB held before
    assert targets.memory_holder(small, 200.0) == "the process before the export (imports and specs: 200 MB)"
    assert targets.memory_holder(small, 0.0) == "read, which raises the peak RSS from 0 to 250 MB (+250 MB)"


def test_the_memory_target_at_a_size_not_run_says_why():
    verdict = targets.judge_memory(300_000, None, [], missing="the guard estimates it would not fit: memory")
    assert verdict.met is None
    assert verdict.line() == (
        "- Peak RSS within 2.5x the raw CSV at 300,000 subjects: not judged: the guard estimates it would not fit: "
        "memory."
    )


def _cold(warm: list[float], cold: float) -> dict:
    warm_steps = {"read": 0.02, "validate": 0.3, "  schema_rejects dm": 0.1, "write": 0.5, "  manifest": 0.1,
                  "  datasets and documents": 0.4}  # fmt: skip
    cold_steps = {"import flows.cli": 0.02, "load specs": 0.4, "datasets": 0.3, "  of which summary.html": 0.5}
    return {"wall": cold, "runs": 5, "steps": cold_steps, "warm": {"times": warm, "steps": warm_steps}}


def test_the_sample_targets_are_medians_under_their_limits_with_the_step_that_holds_them():
    warm, cold = targets.judge_sample(_cold([0.9, 1.1, 0.8, 1.2, 0.95], 1.6))  # warm median 0.95 s
    assert warm.met is True and warm.measured == "0.95 s"
    assert warm.target == "The sample export (raw/) under 1.0 s warm (median of 5)"
    assert cold.met is False and cold.line() == (
        "- The sample export (raw/) under 1.5 s cold (`python -m flows export`, median of 5 fresh processes): 1.60 s: "
        "**not met**. Held by a cold run's load specs, 0.40 s."  # `of which` lines are parts of a step, not steps
    )
    slow, fast = targets.judge_sample(_cold([1.0, 1.0, 1.0, 1.1, 0.9], 1.49))  # warm median 1.0 s: not under 1.0
    assert slow.met is False and fast.met is True
    assert slow.holder == "a warm run's write, 0.50 s, most of it in datasets and documents (0.40 s)"
    assert all(v.met is None for v in targets.judge_sample(None))


def test_the_guard_skips_a_run_whose_disk_or_memory_would_not_fit_and_says_with_what_numbers():
    base = {"transfer_mb": 17600.0, "csv_mb": 540.0, "peak_rss_mb": 11300.0, "wall": 265.0}  # the 100k core run
    guard = targets.guard_memory_run(300_000, 100_000, base, False, 50_000.0, 22_000.0, 900.0)
    # disk: 3 x 17,600 x 1.25 = 66,000 MB of transfer + 3 x 540 x 1.25 = 2,025 MB of raw CSV = 68,025 > 50,000
    # memory: 3 x 11,300 x 1.25 = 42,375 MB > 22,000
    assert not guard.fits
    assert (guard.need_disk_mb, guard.need_rss_mb) == (68_025.0, 42_375.0)
    assert guard.reasons == (
        "disk: its transfer 3 x 17,600 MB x 1.25 = 66,000 MB and its raw CSVs (to generate) 3 x 540 MB x 1.25 = "
        "2,025 MB, 68,025 MB in all, with 50,000 MB free",
        "memory: peak RSS 3 x 11,300 MB x 1.25 = 42,375 MB, with 22,000 MB available (MemAvailable)",
    )
    assert guard.timeout == 1590.0  # twice 3 x 265 s, more than the bench's 900 s
    generated = targets.guard_memory_run(300_000, 100_000, base, True, 67_000.0, 43_000.0, 900.0)
    assert generated.fits and generated.need_disk_mb == 66_000.0  # the raw CSVs are there: the transfer alone
    assert generated.as_dict()["fits"] is True and generated.as_dict()["reasons"] == []


def test_the_guard_lets_a_run_that_fits_run():
    base = {"transfer_mb": 5729.0, "csv_mb": 539.0, "peak_rss_mb": 4231.0, "wall": 63.0}
    guard = targets.guard_memory_run(300_000, 100_000, base, True, 45_000.0, 21_000.0, 900.0)
    assert guard.fits and guard.reasons == ()  # disk 3 x 5,729 x 1.25 = 21,484; memory 3 x 4,231 x 1.25 = 15,866
    assert round(guard.need_disk_mb) == 21_484 and round(guard.need_rss_mb) == 15_866
    assert guard.timeout == 900.0  # 2 x 3 x 63 s = 378 s: the bench's timeout
    just = targets.guard_memory_run(300_000, 100_000, base, True, 21_483.0, 21_000.0, 900.0)
    assert not just.fits and just.reasons[0].startswith("disk:")  # 1 MB short


def test_the_guard_without_a_core_run_to_scale_does_not_run():
    guard = targets.guard_memory_run(300_000, 100_000, None, True, 1e9, 1e9, 900.0)
    assert not guard.fits
    assert guard.reasons == ("no core run at 100,000 subjects measured its transfer, to estimate the run from",)


@pytest.mark.parametrize(
    ("subjects", "mode", "runs", "expected"),
    [
        (10_000, "flow", 3, 3),  # cheap: medians of 3
        (100_000, "flow", 3, 1),  # minutes a run: once
        (300_000, "flow", 3, 1),
        (100_000, "core", 3, 3),  # the time target's run: medians of 3
        (100_000, "floor", 3, 3),
        (100_000, "flow", 1, 1),
    ],
)
def test_runs_for(subjects, mode, runs, expected):
    assert targets.runs_for(subjects, mode, runs) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ([1_000, 10_000, 100_000], 300_000)),
        ({"BENCH_SIZES": "1000, 10000"}, ([1_000, 10_000], 300_000)),
        ({"BENCH_SIZES": "", "BENCH_SKIP_300K": "1"}, ([1_000, 10_000, 100_000], 0)),
        ({"BENCH_SKIP_300K": "0"}, ([1_000, 10_000, 100_000], 300_000)),
    ],
)
def test_env_defaults(env, expected):
    assert targets.env_defaults(env) == expected


@pytest.mark.parametrize("sizes", ["ten", "1000,,10000", "0"])
def test_env_defaults_reject_a_bad_list_of_sizes_in_one_line(sizes):
    with pytest.raises(SystemExit, match=r"BENCH_SIZES=.*subjects separated by commas"):
        targets.env_defaults({"BENCH_SIZES": sizes})

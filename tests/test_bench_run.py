"""Tests of bench/run.py's report: the targets of each workload and the lower bound that packaging sets."""

from __future__ import annotations

import pytest

from tests.conftest import bench_script

run = bench_script("run")


def _medians(core_wall: float, pack: float | None = None) -> dict:
    floor = {"wall": 3.0, "peak_rss_mb": 1200.0, "csv_mb": 500.0, "read": 1.0}
    core = {"wall": core_wall, "peak_rss_mb": 1800.0, "csv_mb": 500.0}
    if pack is not None:
        core |= {"pack_s": pack, "out_mb": 4096.0}
    return {(100, "floor"): floor, (100, "core"): core}


def _run(wall: float, rss: float, **more) -> dict:
    return {"wall": wall, "startup": 0.5, "peak_rss_mb": rss, "process": wall + 1, "rows": 1000, "csv_mb": 500.0} | more


STAGES = [  # as the stage clock reports a core run: under the export, in order of first call
    {"stage": ["export"], "seconds": 30.0, "peak_rss_mb": 1800.0},
    {"stage": ["export", "read"], "seconds": 4.0, "peak_rss_mb": 900.0},
    {"stage": ["export", "derive"], "seconds": 8.0, "peak_rss_mb": 1700.0},  # +800 MB: holds the memory target
    {"stage": ["export", "write"], "seconds": 18.0, "peak_rss_mb": 1800.0},  # holds the time target
]


def _results() -> dict:
    """Two floor runs and three core runs at 100 subjects: medians floor read 1.1 s, core 40.0 s, 1,800 MB."""
    floor = [_run(3.0, 1200.0, read=1.0), _run(3.2, 1200.0, read=1.2)]
    core = [_run(w, 1800.0, pack_s=22.0, out_mb=4096.0, transfer_mb=5000.0, start_rss_mb=200.0, stages=STAGES)
            for w in (39.0, 40.0, 41.0)]  # fmt: skip
    return {(100, "floor"): floor, (100, "core"): core}


def test_the_whole_export_is_judged_by_issue_23s_targets_each_not_met_with_the_stage_that_holds_it(monkeypatch):
    monkeypatch.setattr(run, "CORES", 2)
    memory = {"subjects": 300, "guard": None, "why": "no memory run was asked for (BENCH_SKIP_300K=1)"}
    judged = run.verdicts(_results(), [100], None, memory)
    lines = run.targets(run.medians(_results()), [100], None, judged, 300)
    assert lines[0] == (  # bound: the floor's median read 1.1 s + 22.0 s of packaging on 2 cores; 40.0 / 12.1 = 3.3x
        "- Core export of 100 subjects within 2.5x the packaging lower bound: 40.0 s against a bound of "
        "1.1 + 22.0/2 = 12.1 s, 3.3x: **not met**. Held by write, 18.0 s of 40.0 s (45%)."
    )
    assert lines[1] == (
        "- Peak RSS within 2.5x the raw CSV at 100 subjects: 1,800 MB against 500 MB of CSV (so at most 1,250 MB), "
        "3.6x: **not met**. Held by derive, which raises the peak RSS from 900 to 1,700 MB (+800 MB)."
    )
    assert lines[2] == (
        "- Peak RSS within 2.5x the raw CSV at 300 subjects: not judged: no memory run was asked for "
        "(BENCH_SKIP_300K=1)."
    )
    assert "under 1.0 s warm: not judged: the sample was not run" in lines[3]
    assert "under 1.5 s cold: not judged" in lines[4]
    assert lines[5] == (
        "- Issue 23 states these targets at 100,000 and 300,000 subjects; this run judged them at 100 and 300 "
        "(--sizes, --memory-size)."
    )
    assert "lower bound, for any export" in lines[6] and "per-row Python loops" in lines[7]
    assert [v["met"] for v in map(run.Verdict.as_dict, judged)] == [False, False, None, None, None]


def test_issue_9s_datasets_are_judged_by_its_own_targets_against_the_floor():
    part = run.targets(_medians(13.0), [100], ["DM", "EX", "IE", "TI", "TS"])
    assert part[0].endswith("13.0 s against 3.0 s, 4.3x: **met**.")  # issue 9: 4.6x the floor
    assert part[1].endswith("1800 MB, 3.6x: **met**.")  # and 3.7x the CSV
    assert not any("lower bound" in line for line in part)  # no packaging measured, no bound
    assert not any("packaging lower bound:" in line for line in part)  # issue 23's targets are the whole export's


def test_the_packaging_bound_adds_the_floor_read_to_packaging_shared_by_the_cores(monkeypatch):
    monkeypatch.setattr(run, "CORES", 2)
    bound = next(line for line in run.targets(_medians(30.0, pack=22.0), [100]) if "lower bound" in line)
    assert "the transfer holds 4,096 MB besides its zip" in bound
    assert "1.0 + 22.0/2 = 12.0 s, 4.0x the floor" in bound


def test_one_flow_run_at_100k_is_said_in_the_notes():
    note = run.runs_note([10_000, 100_000], ["floor", "core", "flow"], 3)
    assert note == (
        "3 runs of floor, core, flow at 10,000, 100,000 subjects, but one run of flow at 100,000 (minutes each: its "
        "cell is that run, not a median)"
    )
    assert run.runs_note([1_000], ["core"], 3) == "3 runs of core at 1,000 subjects"
    assert run.runs_note([100_000], ["core", "flow"], 1) == "1 run of core, flow at 100,000 subjects"


def _args(tmp_path, memory_size: int = 300, **more):
    argv = ["--sizes", "100", "--memory-size", str(memory_size), "--data", str(tmp_path), "--timeout", "60"]
    args = run.parser().parse_args(argv)
    return run.argparse.Namespace(**(vars(args) | more))


def test_the_sizes_and_the_memory_run_default_to_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_SIZES", "1000,10000")
    monkeypatch.setenv("BENCH_SKIP_300K", "1")
    args = run.parser().parse_args([])
    assert args.sizes == [1000, 10000] and args.memory_size == 0
    monkeypatch.delenv("BENCH_SIZES")
    monkeypatch.delenv("BENCH_SKIP_300K")
    args = run.parser().parse_args([])
    assert args.sizes == [1_000, 10_000, 100_000] and args.memory_size == 300_000


def test_the_memory_run_is_skipped_with_the_guards_numbers_when_it_would_not_fit(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "_free_disk_mb", lambda path: 10_000.0)  # 3 x 5,000 x 1.25 = 18,750 MB needed
    monkeypatch.setattr(run, "_mem_available_mb", lambda: 64_000.0)  # 3 x 1,800 x 1.25 = 6,750 MB: fits
    monkeypatch.setattr(run, "measure", lambda *a, **k: pytest.fail("the guard let a run that does not fit run"))
    results = _results()
    memory = run.memory_run(_args(tmp_path), results, tmp_path)
    assert set(results) == {(100, "floor"), (100, "core")} and not (tmp_path / "300").exists()  # no data generated
    assert memory["why"] == 'skipped, the guard estimates it would not fit (disk; see "The memory run")'
    assert memory["guard"]["need_disk_mb"] == 18_750 + 1_875  # and its raw CSVs 3 x 500 x 1.25
    assert memory["guard"]["reasons"][0].startswith("disk: its transfer 3 x 5,000 MB x 1.25 = 18,750 MB")
    section = "\n".join(run.memory_section(memory, run.medians(results)))
    assert section.startswith(
        f"{run.MEMORY}: one core export of 300 subjects\n\nNot run: skipped, the guard estimates it would not fit.\n"
    )
    assert "needs 20,625 MB of disk (10,000 MB free where the bench writes)" in section
    assert "\n- disk: its transfer 3 x 5,000 MB x 1.25 = 18,750 MB" in section
    verdict = run.verdicts(results, [100], None, memory)[2]
    assert verdict.line() == (
        "- Peak RSS within 2.5x the raw CSV at 300 subjects: not judged: skipped, the guard estimates it would not "
        'fit (disk; see "The memory run").'
    )


def test_the_memory_run_runs_once_with_the_guards_timeout_when_it_fits(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "_free_disk_mb", lambda path: 1e6)
    monkeypatch.setattr(run, "_mem_available_mb", lambda: 1e6)
    monkeypatch.setattr(run, "ensure_data", lambda n, seed, root: tmp_path / str(n))
    monkeypatch.setattr(run, "_csv_mb", lambda raw: 1500.0)
    calls = []

    def measured(mode, raw, scratch, timeout, *rest, **kw):
        calls.append((mode, raw.name, timeout))
        return _run(95.0, 3000.0, csv_mb=None)

    monkeypatch.setattr(run, "measure", measured)
    results = _results()
    memory = run.memory_run(_args(tmp_path), results, tmp_path)
    assert calls == [("core", "300", 240.0)]  # twice 3 x the 40 s median core run: more than --timeout 60
    assert memory["why"] == "" and memory["guard"]["fits"] is True
    assert len(results[(300, "core")]) == 1 and results[(300, "core")][0]["csv_mb"] == 1500.0
    judged = run.verdicts(results, [100], None, memory)
    assert judged[2].line().startswith("- Peak RSS within 2.5x the raw CSV at 300 subjects: 3,000 MB against 1,500 MB")
    assert judged[2].met is True  # 2.0x


@pytest.mark.parametrize(
    ("more", "why"),
    [
        ({"memory_size": 0}, "no memory run was asked for (BENCH_SKIP_300K=1 or --memory-size 0)"),
        ({"domains": ["DM"]}, "the core runs export only some datasets (--domains)"),
        ({"modes": ["floor"]}, "no core runs in this bench (--modes)"),
    ],
)
def test_the_memory_run_is_not_asked_for(tmp_path, monkeypatch, more, why):
    monkeypatch.setattr(run, "measure", lambda *a, **k: pytest.fail("ran"))
    memory = run.memory_run(_args(tmp_path, **more), _results(), tmp_path)
    assert memory["subjects"] == (300 if more.get("memory_size", 300) else run.MEMORY_SIZE)
    assert memory["why"].startswith(why) and memory["guard"] is None


def test_packing_cost_packs_every_file_but_the_zip(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "dm.csv").write_bytes(b"x" * 2**20)
    (tmp_path / "S_1.zip").write_bytes(b"z" * 2**21)
    cost = run.packing_cost(tmp_path)
    assert cost["out_mb"] == 1.0 and cost["pack_s"] > 0
    assert cost["transfer_mb"] == 3.0  # the transfer on disk, the zip included


def _cold(warm_times: list[float]) -> dict:
    warm = {"times": warm_times, "cpu": warm_times, "steps": {"validate": 0.3, "  schema_rejects dm": 0.1}}
    return {"wall": 4.0, "min": 3.5, "runs": 5, "bare_python": 0.03, "steps": {"load specs": 0.6}, "imports": [],
            "warm": warm}  # fmt: skip


def test_the_sample_export_is_judged_by_its_medians_against_the_targets():
    met = "\n".join(run.sample_section(_cold([0.9, 0.8, 1.2, 0.85, 0.95])))  # median 0.9 s; cold 4.0 s
    assert "| 0.90 | 0.80 | 0.90 | 5 | under 1.0 s: **met** |" in met
    assert "| 4.00 | 3.50 |  | 5 | under 1.5 s: **not met** |" in met
    assert "&nbsp;&nbsp;schema_rejects dm" in met  # the instrumented run's nesting
    not_met = "\n".join(run.sample_section(_cold([1.4, 1.5, 1.0, 1.7, 1.8])))  # median 1.5 s
    assert "under 1.0 s: **not met**" in not_met


def test_sample_replaces_only_its_own_section():
    old = (
        f"# Export benchmark\n\n## Targets\n\nkept\n\n{run.SAMPLE}\n\nold numbers\n\n## Load: 20 studies\n\nkept too\n"
    )
    new = run.replace_section(old, run.SAMPLE, [run.SAMPLE, "", "new numbers", ""])
    assert "old numbers" not in new and "new numbers" in new
    assert new.index("## Targets") < new.index("new numbers") < new.index("## Load: 20 studies")
    assert new.count("kept") == 2
    appended = run.replace_section("# Export benchmark\n", run.SAMPLE, [run.SAMPLE, "", "numbers"])
    assert appended.endswith(f"{run.SAMPLE}\n\nnumbers")


def test_readers_only_reads_every_layout_in_fresh_processes_and_replaces_only_its_section(tmp_path, monkeypatch):
    monkeypatch.setattr(run.signal, "signal", lambda *a: None)  # main's SIGTERM handler: not in the test process
    data, results, dump = tmp_path / "data", tmp_path / "results.md", tmp_path / "results.json"
    results.write_text(f"# Export benchmark\n\n## Targets\n\nkept\n\n{run.READERS} (9 subjects)\n\nold\n\n## Notes\n")
    dump.write_text('{"label": "earlier", "results": []}')
    argv = ["--readers-only", "--read-size", "50", "--runs", "1", "--data", str(data), "--results", str(results)]
    assert run.main([*argv, "--json", str(dump)]) == 0

    text = results.read_text()
    assert "old" not in text and text.index("## Targets") < text.index(run.READERS) < text.index("## Notes")
    section = text[text.index(run.READERS) : text.index("## Notes")]
    assert section.startswith(f"{run.READERS} (50 subjects)")
    table = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    header, rows = table[0], table[1:]
    assert header[1:7] == ["files", "MB on disk", "rows", "wall s", "peak RSS MB", "wall/CSV"]
    assert [r[0].removeprefix("| ") for r in rows] == list(run.LAYOUTS.values())
    assert [r[1] for r in rows] == ["6", "8", "6", "1"]  # a CSV or XPT file per form (the vendor: one per instrument)
    assert len({r[3] for r in rows}) == 1  # the same rows in every layout
    assert rows[0][6] == "1.0x" and all(float(r[4]) > 0 and float(r[5]) > 0 for r in rows)

    saved = run.json.loads(dump.read_text())
    assert saved["label"] == "earlier" and set(saved["readers"]["runs"]) == set(run.LAYOUTS)
    for layout in ("vendor-csv", "xpt", "odm"):  # the converted layouts, extending the repository's specs
        specs = data / f"50-{layout}" / "specs"
        assert (specs / "layout.yaml").is_file() and (data / f"50-{layout}" / "stamp.json").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in data.glob("50-*/stamp.json")}
    run.ensure_layouts(data / "50", data)  # unchanged inputs: kept as they are
    assert {p: p.stat().st_mtime_ns for p in data.glob("50-*/stamp.json")} == stamps

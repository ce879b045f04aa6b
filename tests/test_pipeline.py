"""flows.run.pipeline's run: one boundary for every failure. Each fault ends in one line naming the step, the cause and
the path, exit code 2, nothing published, and no staging folder, lock, temporary file or empty folder left.

Faults a test machine cannot make for real (a full or read-only file system; chmod does not stop root) are a
simulated OSError at the call where they would happen."""

from __future__ import annotations

import errno
import os
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.kernel.pandas_arrow import arrow_data
from flows.run import lock, pipeline
from flows.run.pipeline import STEPS, run_export
from tests.conftest import RAW, STUDYID, run_cli


def leftovers(out: Path) -> list[str]:
    """What a run may leave in the study folder beside transfers and `latest`: staging, locks, temporary files."""
    study = out / STUDYID
    return sorted(p.name for p in study.iterdir() if p.name.startswith(".")) if study.is_dir() else []


@pytest.fixture(scope="module")
def published(tmp_path_factory, specs):
    """An output root holding one transfer, and what `latest` points at."""
    out = tmp_path_factory.mktemp("published")
    result = run_export(RAW, out, specs)
    assert result.exit_code == 0, result.message
    return out, os.readlink(out / STUDYID / "latest")


def unchanged(out: Path, target: str) -> None:
    assert os.readlink(out / STUDYID / "latest") == target
    assert leftovers(out) == []
    assert sorted(p.name for p in (out / STUDYID).iterdir()) == sorted([target, "latest"])


def test_steps_are_the_task_names_of_the_readme():
    assert [s.name for s in STEPS] == [
        "fingerprint-inputs",
        "read-raw-exports",
        "validate-raw",
        "derive-sdtm",
        "write-transfer",
        "publish-transfer",
    ]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert all(f"`{s.name}`" in readme for s in STEPS)


def test_out_is_a_file(tmp_path, specs):
    (tmp_path / "out").write_text("not a folder")
    result = run_export(RAW, tmp_path / "out", specs)
    assert (result.exit_code, result.message) == (2, f"{tmp_path / 'out'}: not a folder (--out must name a folder)")
    assert (tmp_path / "out").read_text() == "not a folder"


def test_a_missing_raw_folder_is_named_once(tmp_path, specs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_export(Path("nowhere"), tmp_path / "out", specs)
    assert (result.exit_code, result.message) == (
        2,
        f"nowhere: no such folder (--raw, the folder of the raw exports; looked at {tmp_path / 'nowhere'})",
    )
    assert not (tmp_path / "out").exists()


def test_latest_that_loops_is_refused(tmp_path, specs):
    (tmp_path / STUDYID).mkdir()
    (tmp_path / STUDYID / "latest").symlink_to("latest")
    result = run_export(RAW, tmp_path, specs)
    latest = tmp_path / STUDYID / "latest"
    assert (result.exit_code, result.message) == (
        2,
        f"{latest}: a link that leads nowhere (a loop), not the link to the latest transfer; move it away",
    )
    assert [p.name for p in (tmp_path / STUDYID).iterdir()] == ["latest"]


def test_latest_is_a_folder(tmp_path, specs):
    (tmp_path / STUDYID / "latest").mkdir(parents=True)
    result = run_export(RAW, tmp_path, specs)
    latest = tmp_path / STUDYID / "latest"
    assert result.exit_code == 2
    assert result.message == f"{latest}: a folder, not the link to the latest transfer; move it away"
    assert [p.name for p in (tmp_path / STUDYID).iterdir()] == ["latest"]  # no staging left behind


@pytest.mark.parametrize(
    ("target", "error", "stage", "cause"),
    [
        ("write_manifest", errno.ENOSPC, "write-transfer", "No space left on device (ENOSPC)"),
        ("new_staging", errno.EROFS, "write-transfer", "Read-only file system (EROFS)"),
        ("read_inputs", errno.EIO, "read-raw-exports", "Input/output error (EIO)"),
        ("fingerprint", errno.EISDIR, "fingerprint-inputs", "Is a directory (EISDIR)"),
        ("publish", errno.ENOSPC, "publish-transfer", "No space left on device (ENOSPC)"),
    ],
)
def test_file_system_faults_end_in_one_line(published, specs, monkeypatch, target, error, stage, cause):
    out, before = published
    where = str(out / STUDYID / "x")

    def fail(*args, **kwargs):
        raise OSError(error, os.strerror(error), where)

    monkeypatch.setattr(pipeline, target, fail)
    result = run_export(RAW, out, specs, force=True)
    assert (result.exit_code, result.message, result.stage) == (2, f"{stage}: {cause}: {where}", stage)
    assert isinstance(result.error, OSError)  # kept for --debug
    unchanged(out, before)


def test_full_disk_in_pyarrow_names_the_file(published, specs, monkeypatch):
    """pyarrow reports a full disk with the errno in its text and no file name: the line names the file."""
    out, before = published
    from flows.transfer import writers

    def full(frame, spec, path, ctx):
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    folder, ext, _ = writers.WRITERS["parquet"]
    monkeypatch.setitem(writers.WRITERS, "parquet", (folder, ext, full))
    result = run_export(RAW, out, specs, force=True)
    assert result.exit_code == 2
    assert re.fullmatch(r"write-transfer: No space left on device \(ENOSPC\): .*/\.staging-[^/]+/parquet/\w+\.parquet",
                        result.message), result.message  # fmt: skip
    unchanged(out, before)


def test_failed_link_switch_discards_the_staging_folder(published, specs, monkeypatch):
    out, before = published
    from flows.transfer import publish

    def no_replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(src), None, str(dst))

    monkeypatch.setattr(publish.os, "replace", no_replace)
    result = run_export(RAW, out, specs, force=True)
    assert result.exit_code == 2 and result.message.startswith("publish-transfer: No space left on device (ENOSPC): ")
    assert " -> " in result.message and result.message.endswith("/latest")
    unchanged(out, before)


def test_a_bug_is_one_line_with_its_step(published, specs, monkeypatch):
    out, before = published

    def bug(raw, specs, today=None, sites=None):
        raise TypeError("operation 'rsub' not supported for dtype 'str'\nmore lines")

    monkeypatch.setattr(pipeline, "validate_raw", bug)
    result = run_export(RAW, out, specs, force=True)
    assert result.exit_code == 2
    assert result.message == (
        "validate-raw: TypeError: operation 'rsub' not supported for dtype 'str' "
        "(a bug: rerun with --debug for the traceback)"
    )
    unchanged(out, before)


def test_full_disk_leaves_no_lock_file(tmp_path, specs, monkeypatch):
    """On a completely full disk the lock file is created empty, then writing who holds it fails."""

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device", "(lock)")

    monkeypatch.setattr(lock, "_write", full)
    result = run_export(RAW, tmp_path / "out", specs)
    assert result.exit_code == 2 and result.message.startswith("lock: No space left on device (ENOSPC): ")
    assert not (tmp_path / "out").exists()  # nor the folders the run made


def test_cutoff_after_today(tmp_path, specs, monkeypatch):
    monkeypatch.setattr(pipeline, "today", lambda specs: date(2026, 11, 1))
    result = run_export(RAW, tmp_path / "out", specs, cutoff="2026-11-02")
    assert result.exit_code == 2
    assert (
        result.message == "--cutoff 2026-11-02 is after today (2026-11-01 at the study's sites): a cut cannot be ahead"
    )
    assert not (tmp_path / "out").exists()


def test_cutoff_before_any_data(tmp_path, specs):
    result = run_export(RAW, tmp_path / "out", specs, cutoff="2020-01-01")
    first = pd.read_csv(RAW / "enrollment.csv", dtype=str)["consent_date"].min()
    assert (result.exit_code, result.stage) == (2, "derive-sdtm")
    assert (
        result.message == f"--cutoff 2020-01-01 is before any data: the first consent_date in enrollment.csv is {first}"
    )
    assert not (tmp_path / "out").exists()  # no empty study folder


def test_data_dated_after_today_is_a_reject_not_a_failed_run(tmp_path, specs, monkeypatch):
    """A date in the future is a row-level reject (exit 1), not a stopped run; the transfer is dated by the valid rows
    only, so never after today (XPT header, define.xml, manifest's data_as_of)."""
    monkeypatch.setattr(pipeline, "today", lambda specs: date(2025, 9, 1))
    result = run_export(RAW, tmp_path / "out", specs)
    assert result.exit_code == 1, result.message
    future = result.rejects[result.rejects["rule"] == "date_in_future"]
    assert len(future) and future["message"].eq("must not be after today (2025-09-01 at the study's sites)").all()
    assert (future["value"].str.slice(0, 10) > "2025-09-01").all()
    for file, line, column, value in future[["file", "line", "column", "value"]].itertuples(index=False):
        assert pd.read_csv(RAW / file, dtype=str).loc[line - 2, column] == value
    import json

    manifest = json.loads((result.transfer / "manifest.json").read_text())
    assert manifest["data_as_of"][:10] <= "2025-09-01"


def test_strict_run_leaves_no_empty_folder(raw_copy, tmp_path, specs):
    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    enrol.loc[0, "sex"] = "X"
    enrol.to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    result = run_export(raw_copy, tmp_path / "out", specs, strict=True)
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


def test_formulas_are_neutralised_and_long_values_cut_on_stderr(raw_copy, tmp_path):
    """Spreadsheet formulas reach rejects.csv with a leading quote; a lot -2-3 fails the lot pattern; a 1 MB value
    is cut on stderr and whole in rejects.csv."""
    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    enrol.loc[0, "race"] = '=HYPERLINK("http://x","y")'
    enrol.loc[1, "race"] = "@SUM(A1)"
    enrol.loc[2, "race"] = "+cmd|' /C calc'!A0"
    enrol.loc[3, "race"] = "Z" * 1_000_000
    enrol.to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    dosing = pd.read_csv(raw_copy / "dosing.csv", dtype=str, keep_default_na=False)
    dosing.loc[5, "lot"] = "-2-3"
    dosing.to_csv(raw_copy / "dosing.csv", index=False, lineterminator="\n")
    out = tmp_path / "out"
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    assert max(len(line) for line in proc.stderr.splitlines()) < 400
    rejects = pd.read_csv(out / STUDYID / "latest" / "rejects.csv", dtype=str, keep_default_na=False)
    values = set(rejects["value"])
    assert {'\'=HYPERLINK("http://x","y")', "'@SUM(A1)", "'+cmd|' /C calc'!A0", "'-2-3"} <= values
    assert "Z" * 1_000_000 in values
    lot = rejects[rejects["column"] == "lot"]
    assert lot[["line", "rule"]].values.tolist() == [["7", "pattern"]]
    ex = pd.read_csv(out / STUDYID / "latest" / "csv" / "ex.csv", dtype=str)
    assert not ex["EXLOT"].str.startswith("-").any()


def test_manifest_counts_the_lines_an_unbalanced_quote_swallowed(raw_copy, tmp_path, specs):
    lines = (raw_copy / "enrollment.csv").read_text().split("\n")
    lines[10] = lines[10].replace(",", ',"', 1)  # line 11 opens a quote that is never closed
    (raw_copy / "enrollment.csv").write_text("\n".join(lines))
    result = run_export(raw_copy, tmp_path, specs)
    assert result.exit_code == 1
    import json

    manifest = json.loads((result.transfer / "manifest.json").read_text())
    entry = manifest["inputs"]["enrollment.csv"]
    physical = len(lines) - 2  # the header, and the empty string after the last line end
    assert (entry["lines"], entry["read"], entry["valid"], entry["rejected"]) == (physical, 10, 9, 1)
    assert entry["lines_rejected"] == physical - 9 and entry["balanced"] is True
    reject = result.rejects[result.rejects["rule"] == "field_count"]
    assert reject["message"].str.contains(f"over lines 11-{physical + 1}: {physical - 9} physical lines").all()


def test_prepare_uses_up_the_valid_rows(specs):
    """The raw rows' memory goes back once the datasets are derived: nothing of the pipeline keeps them alive."""
    import weakref

    raw = pipeline.read_inputs(RAW, specs)
    validation = pipeline.validate_raw(raw, specs)
    name = next(n for n, c in specs.raw.items() if c.file == "assessments.csv")
    text = next(c for c in validation.valid[name] if validation.valid[name][c].dtype == "str")
    data = weakref.ref(arrow_data(validation.valid[name][text]))
    read = {n: f.rows for n, f in raw.items()}
    raw = {n: f.without_rows() for n, f in raw.items()}
    prepared = pipeline.prepare(raw, validation, specs)
    assert validation.valid == {} and data() is None
    assert {n: f.rows for n, f in raw.items()} == read and all(f.frame.empty for f in raw.values())
    held = [arrow_data(f.frame[c]).get_total_buffer_size() for f in raw.values() for c in f.frame]
    assert max(held) <= 8  # one offset each: an empty slice of the rows would keep all their bytes
    assert len(prepared.datasets["QS"]) > 0


def test_a_later_date_that_escaped_validation_names_its_row(specs):
    """Validation rejects every date after today; were one let through (a bug), deriving stops on it, by name."""
    raw = pipeline.read_inputs(RAW, specs)
    validation = pipeline.validate_raw(raw, specs)  # today: the clock's, later than every sample date
    with pytest.raises(
        pipeline.PipelineError, match=r"^\w+\.csv:\d+: \w+='20\d\d-[-\d]+': a date after today \(2025-09-01\)"
    ):
        pipeline.prepare(raw, validation, specs, today=date(2025, 9, 1))


class _Files:
    """A packer that notes the files handed to it."""

    def __init__(self) -> None:
        self.added: list[Path] = []

    def add(self, path: Path) -> None:
        assert path.is_file()
        self.added.append(path)


@pytest.mark.parametrize("sizes", [(7,), (0, 5, 1, 40, 0, 3)], ids=["rows of 7", "uneven, empty ones among them"])
def test_datasets_written_in_chunks_are_the_files_of_the_whole_datasets(sample_written, tmp_path, monkeypatch, sizes):
    """_write_formats from chunks (chunks of one length too: each chunk's distinct values are its own) writes the
    four files it writes from the whole dataset, each finished before it is handed to the packer."""
    from flows.transfer.writers import WRITERS, lines
    from tests.conftest import row_chunks

    monkeypatch.setattr(lines, "SMALL", 4)  # the sample's columns by distinct value, as a big study's are
    frames, spec_of, ctx = sample_written
    for how in ("whole", "chunks"):
        for folder, _, _ in WRITERS.values():
            (tmp_path / how / folder).mkdir(parents=True)
    for domain in ("DM", "AE", "VS", "ADSL"):
        frame = frames[domain].iloc[:200]
        files = {how: _Files() for how in ("whole", "chunks")}
        outputs = pipeline._write_formats([frame], len(frame), spec_of[domain], tmp_path / "whole", tmp_path / "whole",
                                          ctx, files["whole"])  # fmt: skip
        chunks = [*row_chunks(frame, sizes), frame.iloc[:0]]  # an empty chunk after the last rows too
        chunked = pipeline._write_formats(chunks, len(frame), spec_of[domain], tmp_path / "chunks", tmp_path / "chunks",
                                          ctx, files["chunks"])  # fmt: skip
        assert outputs == chunked == {f"{folder}/{domain.lower()}.{ext}": {"rows": len(frame)} for folder, ext, _ in
                                      WRITERS.values()}  # fmt: skip
        assert [p.relative_to(tmp_path / "chunks") for p in files["chunks"].added] == list(map(Path, outputs))
        for name in outputs:
            assert (tmp_path / "chunks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_a_dataset_short_of_its_rows_is_an_error_and_no_file_is_handed_on(sample_written, tmp_path):
    from flows.transfer.writers import WRITERS

    frames, spec_of, ctx = sample_written
    for folder, _, _ in WRITERS.values():
        (tmp_path / folder).mkdir()
    files, frame = _Files(), frames["DM"]
    with pytest.raises(ValueError, match=f"{len(frame) - 1} rows in 1 chunks, {len(frame)} declared"):
        pipeline._write_formats([frame.iloc[1:]], len(frame), spec_of["DM"], tmp_path, tmp_path, ctx, files)
    assert files.added == []

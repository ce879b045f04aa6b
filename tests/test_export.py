"""End-to-end: the CLI exports raw/, every output is read back, and bad inputs fail as promised."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import RAW, STUDYID, run_cli

DOMAINS = ["ae", "dm", "ds", "ex", "ie", "qs", "rs", "se", "suppae", "suppex", "sv", "ta", "te", "ti", "ts", "tv", "vs"]
ANALYSIS = ["adae", "adqs", "adrs", "adsl"]  # specs/adam: in the transfer's adam/ folder


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    proc = run_cli("export", "--raw", str(RAW), "--out", str(out))
    return proc, out


def test_cli_publishes_clean_sample(cli_export):
    proc, out = cli_export
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("published ") and "0 rejected" in proc.stdout
    assert "Traceback" not in proc.stderr and "ERROR" not in proc.stderr
    latest = out / STUDYID / "latest"
    assert latest.is_symlink() and not os.readlink(latest).startswith("/")  # relative link
    transfer = latest.resolve()
    for rel in (
        "define.xml",
        "define2-1.xsl",  # the stylesheet define.xml's xml-stylesheet instruction names
        "define.html",
        "summary.html",
        "acrf.pdf",
        "documents/csdrg.html",
        "SHA256SUMS",
        "changes.md",
        "changes.json",
        "rejects.csv",
        "manifest.json",
        "trace.csv",
        f"{STUDYID}_{transfer.name}.zip",
    ):
        assert (transfer / rel).is_file(), rel
    for folder, ext in (("parquet", "parquet"), ("csv", "csv"), ("xpt", "xpt"), ("json", "json")):
        assert sorted(p.name for p in (transfer / folder).iterdir()) == sorted(f"{d}.{ext}" for d in DOMAINS)
        assert sorted(p.name for p in (transfer / "adam" / folder).iterdir()) == sorted(f"{d}.{ext}" for d in ANALYSIS)
    assert not [p for p in (out / STUDYID).iterdir() if p.name.startswith(".staging")]


def test_manifest_balances_and_hashes_match(sample_export):
    _, transfer = sample_export
    manifest = json.loads((transfer / "manifest.json").read_text())
    assert manifest["balanced"] is True
    for file, entry in manifest["inputs"].items():
        assert entry["read"] == entry["valid"] + entry["rejected"]
        assert entry["valid"] == entry["cut"] + entry["tabulated"] + entry["not_tabulated"]
        assert entry["sha256"] == sha(RAW / file)
        assert entry["read"] == len(pd.read_csv(RAW / file, dtype=str))
    assert manifest["inputs"]["enrollment.csv"]["tabulated"] == 34  # every screened subject is in DM
    assert manifest["inputs"]["dosing.csv"]["tabulated"] == 24
    for rel, entry in manifest["outputs"].items():
        assert entry["sha256"] == sha(transfer / rel), rel


def test_parquet_has_labels_and_spec_order(sample_export, specs):
    _, transfer = sample_export
    for domain in DOMAINS:
        spec = specs.sdtm[domain.upper()]
        schema = pq.read_schema(transfer / "parquet" / f"{domain}.parquet")
        assert schema.names == spec.names
        assert [f.metadata[b"label"].decode() for f in schema] == [v.label for v in spec.variables]
        assert schema.metadata[b"label"].decode() == spec.label


def test_csv_matches_parquet(sample_export):
    _, transfer = sample_export
    for domain in DOMAINS:
        pq_frame = pd.read_parquet(transfer / "parquet" / f"{domain}.parquet", dtype_backend="numpy_nullable")
        csv_frame = pd.read_csv(transfer / "csv" / f"{domain}.csv", dtype=str, keep_default_na=False)
        assert list(csv_frame.columns) == list(pq_frame.columns)
        assert all(len(c) <= 8 and c == c.upper() for c in csv_frame.columns)
        expected = pq_frame.astype(object).where(pq_frame.notna(), "").astype(str)
        for col in pq_frame.columns[pq_frame.dtypes == "string"]:  # formulas quoted out (README, OWASP): VSELTM
            text = expected[col]  # -PT30M is written '-PT30M; a plain number (-2.5) as it is
            formula = text.str.match(r"[=+\-@\t\r]") & pd.to_numeric(text, errors="coerce").isna()
            expected[col] = text.where(~formula, "'" + text)
        pd.testing.assert_frame_equal(csv_frame, expected, check_dtype=False)


def test_trace_leads_every_record_to_its_raw_line(sample_export):
    _, transfer = sample_export
    trace = pd.read_csv(transfer / "trace.csv", dtype={"line": int})
    dm = pd.read_parquet(transfer / "parquet" / "dm.parquet")
    raw = pd.read_csv(RAW / "enrollment.csv", dtype=str)
    dm_trace = trace[trace["domain"] == "DM"].set_index("USUBJID")
    for usubjid, subjid in zip(dm["USUBJID"], dm["SUBJID"], strict=True):
        assert raw.loc[dm_trace.loc[usubjid, "line"] - 2, "subject"] == subjid


def test_structural_error_keeps_previous_transfer(raw_copy, tmp_path):
    out = tmp_path / "out"
    assert run_cli("export", "--raw", str(raw_copy), "--out", str(out)).returncode == 0
    before = tree(out / STUDYID / "latest")
    target = os.readlink(out / STUDYID / "latest")
    dosing = pd.read_csv(raw_copy / "dosing.csv", dtype=str)
    dosing.drop(columns=["lot"]).to_csv(raw_copy / "dosing.csv", index=False)
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr == "error: dosing.csv: line 1: missing required column(s) ['lot'] (contract dosing.yaml)\n"
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert os.readlink(out / STUDYID / "latest") == target and tree(out / STUDYID / "latest") == before
    assert sorted(p.name for p in (out / STUDYID).iterdir()) == sorted([target, "latest"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "enrollment.csv: empty file (no header line)"),
        (
            b"HEADER\n01,0001,\xff\xfe,,,,,,,,,,,,\n",
            "enrollment.csv: line 2: undecodable text (byte 0xff is not UTF-8)",
        ),
    ],
)
def test_unreadable_file_is_structural(raw_copy, tmp_path, content, message):
    header = (raw_copy / "enrollment.csv").read_bytes().split(b"\n", 1)[0]
    (raw_copy / "enrollment.csv").write_bytes(content.replace(b"HEADER", header))
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / STUDYID / "latest").exists()


def test_row_level_reject_publishes_with_exit_1(raw_copy, tmp_path):
    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    enrol.loc[enrol["subject"] == "0002", "weight_kg"] = "250"  # line 3
    enrol.to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    out = tmp_path / "out"
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(out))
    assert proc.returncode == 1
    assert "enrollment.csv:3: weight_kg='250': range: must be between 30 and 200" in proc.stderr
    transfer = (out / STUDYID / "latest").resolve()
    rejects = pd.read_csv(transfer / "rejects.csv", dtype={"line": int})
    assert list(rejects.columns) == ["file", "line", "column", "value", "rule", "message"]
    own = rejects[rejects["file"] == "enrollment.csv"]
    assert own[["line", "column", "rule"]].values.tolist() == [[3, "weight_kg", "range"]]
    manifest = json.loads((transfer / "manifest.json").read_text())
    dm = pd.read_parquet(transfer / "parquet" / "dm.parquet")
    assert f"{STUDYID}-01-0002" not in set(dm["USUBJID"]) and len(dm) == 33
    for file, entry in manifest["inputs"].items():  # every raw row: in a dataset, untabulated by design, or rejected
        raw_lines = len(pd.read_csv(raw_copy / file, dtype=str))
        assert raw_lines == entry["tabulated"] + entry["not_tabulated"] + entry["cut"] + entry["rejected"]
        assert entry["rejected"] == rejects[rejects["file"] == file]["line"].nunique()


def test_strict_publishes_nothing_on_rejects(raw_copy, tmp_path):
    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    enrol.loc[enrol["subject"] == "0002", "sex"] = "X"
    enrol.to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    proc = run_cli("export", "--raw", str(raw_copy), "--out", str(tmp_path / "out"), "--strict")
    assert proc.returncode == 1 and "not published (--strict)" in proc.stderr
    assert not (tmp_path / "out" / STUDYID / "latest").exists()


def test_output_check_failure_publishes_nothing(tmp_path):
    """A dataset that breaks its own SDTM spec is a pipeline bug: exit 2, no transfer, no staging left."""
    from tests.test_specs import broken

    root = broken(tmp_path, "sdtm/dm.yaml", "codelist: SEX,", "codelist: SEX, values: [F],")
    out = tmp_path / "out"
    # --quiet: on a loaded machine a run past 5 s prints progress lines before the error
    proc = run_cli("export", "--raw", str(RAW), "--out", str(out), "--specs", str(root), "--quiet")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: DM: ") and "output check failure(s), a pipeline bug" in proc.stderr
    assert "SEX" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # no staging, no lock, not even the empty folders the run made

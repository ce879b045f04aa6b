"""The transfer as a whole: same inputs give the same bytes, the data cut, and the diff against the last transfer."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from flows.run.pipeline import run_export
from flows.transfer import diff
from tests.conftest import RAW, STUDYID, run_cli
from tests.test_export import tree

RUN_SPECIFIC = {"manifest.json", "SHA256SUMS"}  # hold the transfer stamp and run time, and what hashes them


def zip_name(folder: Path) -> str:
    return f"{STUDYID}_{folder.name}.zip"


def test_same_inputs_same_bytes(tmp_path, specs):
    a = run_export(RAW, tmp_path / "a", specs).transfer
    b = run_export(RAW, tmp_path / "b", specs).transfer
    ta, tb = tree(a), tree(b)
    za, zb = zip_name(a), zip_name(b)
    assert set(ta) - {za, za + ".sha256"} == set(tb) - {zb, zb + ".sha256"}
    differing = sorted(k for k in set(ta) & set(tb) if ta[k] != tb[k] and not k.startswith(f"{STUDYID}_"))
    assert differing == ["SHA256SUMS", "manifest.json"]
    ma, mb = (json.loads((t / "manifest.json").read_text()) for t in (a, b))
    for m in (ma, mb):
        m.pop("transfer"), m.pop("run_at")
    assert ma == mb  # only the stamp and the run time differ
    with zipfile.ZipFile(a / za) as zfa, zipfile.ZipFile(b / zb) as zfb:
        assert zfa.namelist() == zfb.namelist()
        for name in zfa.namelist():
            if name not in RUN_SPECIFIC:
                assert zfa.read(name) == zfb.read(name), name
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=a, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_cutoff_keeps_only_data_known_at_the_cut(tmp_path):
    cut = "2025-10-01"
    proc = run_cli("export", "--raw", str(RAW), "--out", str(tmp_path), "--cutoff", cut)
    assert proc.returncode == 0, proc.stderr
    transfer = (tmp_path / STUDYID / "latest").resolve()
    manifest = json.loads((transfer / "manifest.json").read_text())
    assert manifest["data_cutoff"] == cut and manifest["balanced"]
    enrol = pd.read_csv(RAW / "enrollment.csv", dtype=str)
    late = int((enrol["consent_date"] > cut).sum())
    assert late > 0 and manifest["inputs"]["enrollment.csv"]["cut"] == late
    assert manifest["inputs"]["dosing.csv"]["cut"] == int(
        (pd.read_csv(RAW / "dosing.csv", dtype=str)["start"] > cut).sum()
    )
    dm = pd.read_parquet(transfer / "parquet" / "dm.parquet")
    ex = pd.read_parquet(transfer / "parquet" / "ex.parquet")
    ts = pd.read_parquet(transfer / "parquet" / "ts.parquet").set_index("TSPARMCD")
    assert len(dm) == len(enrol) - late
    assert (dm["RFICDTC"] <= cut).all() and (ex["EXSTDTC"].str.slice(0, 10) <= cut).all()
    assert (dm["RFPENDTC"].dropna() <= cut).all() and (dm["RFENDTC"].dropna().str.slice(0, 10) <= cut).all()
    assert ts.loc["DCUTDTC", "TSVAL"] == cut
    treated, enrolled = dm["ACTARMCD"].notna().sum(), dm["ARMCD"].notna().sum()
    assert treated == len(ex) and enrolled > treated  # assigned at the cut, not yet infused
    assert ts.loc["ACTSUB", "TSVAL"] == str(enrolled)  # CT: "Actual number of subjects enrolled"


def edit_csv(path: Path, fn) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(frame).to_csv(path, index=False, lineterminator="\n")


def test_diff_against_previous_transfer(raw_copy, tmp_path):
    out = tmp_path / "out"
    assert run_cli("export", "--raw", str(raw_copy), "--out", str(out)).returncode == 0
    first = (out / STUDYID / "latest").resolve()
    # known changes: screen failure 0033 withdrawn from the export, 0002's race corrected, 0001's lot corrected
    edit_csv(raw_copy / "enrollment.csv", lambda f: f[f["subject"] != "0033"])
    edit_csv(raw_copy / "eligibility.csv", lambda f: f[f["subject"] != "0033"])
    edit_csv(raw_copy / "assessments.csv", lambda f: f[f["subject"] != "0033"])
    edit_csv(raw_copy / "vital_signs.csv", lambda f: f[f["subject"] != "0033"])
    edit_csv(raw_copy / "enrollment.csv", lambda f: f.assign(race=f["race"].mask(f["subject"] == "0002", "WHITE")))
    edit_csv(raw_copy / "dosing.csv", lambda f: f.assign(lot=f["lot"].mask(f["subject"] == "0001", "S103-25-9999")))
    assert run_cli("export", "--raw", str(raw_copy), "--out", str(out)).returncode == 0
    second = (out / STUDYID / "latest").resolve()
    changes = json.loads((second / "changes.json").read_text())
    assert changes["previous"] == first.name
    dm, ex, ie = (changes["domains"][d] for d in ("DM", "EX", "IE"))
    assert [k["USUBJID"] for k in dm["removed"]] == [f"{STUDYID}-01-0033"] and dm["added"] == []
    assert [(c["key"]["USUBJID"], c["changes"]) for c in dm["changed"]] == [
        (f"{STUDYID}-01-0002", {"RACE": ["ASIAN", "WHITE"]})
    ]
    assert [(c["key"]["USUBJID"], c["changes"]) for c in ex["changed"]] == [
        (f"{STUDYID}-01-0001", {"EXLOT": ["S103-25-0001", "S103-25-9999"]})
    ]
    assert {k["USUBJID"] for k in ie["removed"]} == {f"{STUDYID}-01-0033"} and len(ie["removed"]) == 2
    for d in ("TI", "TS"):
        assert not (
            changes["domains"][d]["added"] or changes["domains"][d]["removed"] or changes["domains"][d]["changed"]
        )
    md = (second / "changes.md").read_text()
    assert "RACE: 'ASIAN' -> 'WHITE'" in md
    proc = run_cli("diff", str(first), str(second))
    assert proc.returncode == 1 and proc.stdout == md  # 1: the transfers differ
    assert run_cli("diff", str(second), str(second)).returncode == 0
    first_md = (first / "changes.md").read_text()
    assert "first transfer" in first_md


@pytest.mark.parametrize("bad", ["2025-13-01", "yesterday"])
def test_cutoff_must_be_a_date(tmp_path, bad):
    proc = run_cli("export", "--raw", str(RAW), "--out", str(tmp_path), "--cutoff", bad)
    assert proc.returncode == 2 and "not a date YYYY-MM-DD" in proc.stderr


def test_an_unchanged_dataset_is_not_merged_and_diffs_as_before(sample_export):
    """A dataset equal to the previous one is found unchanged without the key merge (the warm re-export's diff): the
    same answer as the merge gives; a table whose keys repeat still goes through the merge."""
    transfer = sample_export[1]
    tables = diff._read(transfer)
    for domain, (table, _, keys) in tables.items():
        full = diff.diff_domain(table.to_pandas(), table.to_pandas(), keys)
        assert diff._same(table, table, keys), domain
        assert full == {"added": [], "removed": [], "changed": []}, domain
    table, _, keys = tables["DM"]
    assert not diff._same(table, table.slice(1), keys)  # a row removed
    twice = pa.concat_tables([table, table.slice(0, 1)])
    assert not diff._same(twice, twice, keys)  # keys repeat: left to the merge
    assert diff.diff_transfers(transfer, transfer)["domains"]["DM"]["changed"] == []

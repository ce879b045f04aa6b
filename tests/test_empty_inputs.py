"""Empty and all-rejected inputs flow through every step (regressions: crashes in dosing checks and the diff)."""

from __future__ import annotations

import csv

import pandas as pd
import pyreadstat

from flows.run.pipeline import run_export


def test_dosing_with_only_its_header_publishes_an_empty_ex(tmp_path, raw_copy, specs):
    header = (raw_copy / "dosing.csv").read_text(encoding="utf-8").splitlines()[0]
    (raw_copy / "dosing.csv").write_text(header + "\n", encoding="utf-8")  # before the first infusion
    result = run_export(raw_copy, tmp_path / "out", specs)
    assert result.exit_code == 0, result.message
    ex, _ = pyreadstat.read_xport(result.transfer / "xpt" / "ex.xpt")
    dm = pd.read_csv(result.transfer / "csv" / "dm.csv", dtype=str, keep_default_na=False)
    assert ex.empty and len(dm) == 34 and (dm["ACTARMCD"] == "").all() and (dm["RFSTDTC"] == "").all()
    assert set(dm.loc[dm["ARMCD"] != "", "ARMNRS"]) == {"ASSIGNED, NOT TREATED"}


def test_every_enrollment_row_rejected_publishes_with_rejects(tmp_path, raw_copy, specs):
    path = raw_copy / "enrollment.csv"
    rows = list(csv.reader(path.open(encoding="utf-8")))
    col = rows[0].index("sex")
    for row in rows[1:]:
        row[col] = "Q"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    first = run_export(raw_copy, tmp_path / "out", specs)  # the first transfer, then a second one to diff against
    assert first.exit_code == 1, first.message
    assert pd.read_csv(first.transfer / "csv" / "dm.csv").empty
    assert set(first.rejects["rule"]) == {"codelist:SEX", "parent_rejected"}
    again = run_export(raw_copy, tmp_path / "out", specs, force=True)
    assert again.exit_code == 1 and again.transfer != first.transfer

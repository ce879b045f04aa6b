"""Reading any EDC export by specs: the S103 sample in three other layouts (a vendor's `;`-separated CSV with
DDMONYYYY dates and coded answers, SAS transport files, one CDISC ODM 1.3.2 file), each with only its own raw
contracts (layout.yaml extends specs/), publishes the same SDTM as raw/: every dataset byte for byte in CSV, XPT and
Parquet, and row for row in Dataset-JSON (whose header carries the run's time)."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest

from tests.conftest import RAW, ROOT, run_cli

LAYOUTS = ("S103-csv", "S103-xpt", "S103-odm")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("layouts")
    found = {}
    for name, specs, raw in [
        ("sample", ROOT / "specs", RAW),
        *(
            (layout, ROOT / "tests" / "studies" / layout / "specs", ROOT / "tests" / "studies" / layout / "raw")
            for layout in LAYOUTS
        ),
    ]:
        proc = run_cli("export", "--specs", str(specs), "--raw", str(raw), "--out", str(out / name), "--quiet")
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        assert "5289 raw rows read, 5289 valid, 0 rejected" in proc.stdout
        found[name] = next((out / name).glob("*/latest")).resolve()
    return found


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("folder", ["csv", "xpt", "parquet", "json"])
def test_every_dataset_equals_the_samples(exports, layout, folder):
    sample, other = exports["sample"] / folder, exports[layout] / folder
    names = sorted(p.name for p in sample.iterdir())
    assert names == sorted(p.name for p in other.iterdir()) and len(names) == 17
    differ = [n for n in names if not filecmp.cmp(sample / n, other / n, shallow=False)]
    if folder == "json":  # the header names the transfer's creation time: the rows must agree
        differ = [
            n
            for n in differ
            if json.loads((sample / n).read_text())["rows"] != json.loads((other / n).read_text())["rows"]
        ]
    assert differ == []


@pytest.mark.parametrize(
    ("layout", "first_dm"),
    [("S103-csv", "ENROLLMENT.csv,2"), ("S103-xpt", "enrollment.xpt,1"), ("S103-odm", "clinical_data.xml,")],
)
def test_trace_names_each_records_own_file_and_line_or_record(exports, layout, first_dm):
    trace = (exports[layout] / "trace.csv").read_text().splitlines()
    dm = next(line for line in trace if line.startswith("DM,CART-20250321-01-0001,"))
    assert first_dm in dm

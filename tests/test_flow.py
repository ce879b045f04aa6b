"""The Prefect edge: `export_study` runs the same core as tasks on Prefect's offline test harness."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from tests.conftest import RAW, STUDYID


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def test_flow_publishes_same_datasets_as_core(harness, tmp_path, sample_export):
    from flows.schedule.flow import export_study

    result = export_study(raw_dir=str(RAW), out_dir=str(tmp_path))
    assert result.exit_code == 0, result.message
    transfer = (tmp_path / STUDYID / "latest").resolve()
    assert result.transfer == transfer
    _, core_transfer = sample_export
    for domain in ("dm", "ex", "ie", "ti", "ts"):
        flow_df = pd.read_parquet(transfer / "parquet" / f"{domain}.parquet")
        core_df = pd.read_parquet(core_transfer / "parquet" / f"{domain}.parquet")
        pd.testing.assert_frame_equal(flow_df, core_df)


def test_flow_strict_with_rejects_publishes_nothing(harness, raw_copy, tmp_path):
    from flows.schedule.flow import export_study

    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    enrol.loc[0, "sex"] = "X"
    enrol.to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    result = export_study(raw_dir=str(raw_copy), out_dir=str(tmp_path), strict=True)
    assert result.exit_code == 1 and result.transfer is None
    assert not (tmp_path / STUDYID / "latest").exists()

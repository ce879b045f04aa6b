"""sources/subject_elements.py: SE, each subject's path through the elements of its arm."""

from __future__ import annotations

import pandas as pd

from flows.mapping.sources.subject_elements import RECORD_SOURCE
from tests.mapping_cases import context, s


def test_elements_start_at_dm_dates_and_stop_at_the_first_not_started(specs):
    dm = {
        "USUBJID": s("A", "B"),
        "ARMCD": s("DL2", None),
        "ACTARMCD": s("DL2", None),  # B: a screen failure, the first arm's path
        "RFICDTC": s("2025-05-01", "2025-05-03"),
        "RFXSTDTC": s("2025-06-17", None),  # B never infused: its path stops after screening
        "RFXENDTC": s("2025-06-17", None),
        "RFPENDTC": s("2026-06-01", "2025-05-20"),
    }
    se = RECORD_SOURCE.run(context(specs, datasets={"DM": dm}))
    rows = se[["USUBJID", "ETCD", "TAETORD", "SESTDTC", "SEENDTC"]].astype(str).values.tolist()
    assert rows == [
        ["A", "SCRN", "1", "2025-05-01", "2025-06-17"],  # ends where the infusion starts
        ["A", "INF2", "2", "2025-06-17", "2025-06-17"],
        ["A", "FU", "3", "2025-06-17", "2026-06-01"],  # the last ends at RFPENDTC
        ["B", "SCRN", "1", "2025-05-03", "2025-05-20"],
    ]
    assert se["EPOCH"].tolist() == ["SCREENING", "TREATMENT", "FOLLOW-UP", "SCREENING"]
    assert set(RECORD_SOURCE.fields) <= set(se.columns)


def test_the_last_element_is_open_while_the_subject_is_ongoing(specs):
    """SDTMIG 3.4 SE: an element ends where the next starts; the last ends with the study (DS DISPOSITION EVENT). A
    subject without an end-of-study record is still in it at the cut: SEENDTC null, not his last data date."""
    dm = {
        "USUBJID": s("A", "B"),
        "ARMCD": s("DL4", "DL4"),
        "ACTARMCD": s("DL4", "DL4"),
        "RFICDTC": s("2025-11-23", "2025-11-29"),
        "RFXSTDTC": s("2025-12-26T11:35", "2025-12-23T09:57"),
        "RFXENDTC": s("2025-12-26T12:09", "2025-12-23T10:40"),
        "RFPENDTC": s("2026-06-17", "2026-06-07"),  # A: last contact (ongoing); B: end of study
    }
    ds = {
        "USUBJID": s("A", "B", "B"),
        "DSCAT": s("PROTOCOL MILESTONE", "PROTOCOL MILESTONE", "DISPOSITION EVENT"),
        "DSSTDTC": s("2025-11-23", "2025-11-29", "2026-06-07"),
    }
    se = RECORD_SOURCE.run(context(specs, datasets={"DM": dm, "DS": ds})).set_index(["USUBJID", "ETCD"])
    assert pd.isna(se.loc[("A", "FU"), "SEENDTC"])  # ongoing: open
    assert se.loc[("A", "INF4"), "SEENDTC"] == "2025-12-26T12:09"  # the infusion's own end, as before
    assert se.loc[("B", "FU"), "SEENDTC"] == "2026-06-07"  # ended: at RFPENDTC

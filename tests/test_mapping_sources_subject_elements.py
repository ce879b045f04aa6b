"""sources/subject_elements.py: SE, each subject's path through the elements of its arm."""

from __future__ import annotations

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

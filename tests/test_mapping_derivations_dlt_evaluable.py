"""derivations/dlt_evaluable.py: the DLT-evaluable flag by the study's DLT window (days 1 to 28)."""

from __future__ import annotations

from tests.mapping_cases import context, run, s


def test_followed_through_the_window_or_a_dlt(specs):
    records = {
        "RFXSTDTC": ["2025-06-01T10:00", "2025-06-01T10:00", "2025-06-01T10:00", None],
        "RFPENDTC": ["2025-06-28", "2025-06-27", "2025-06-10", "2025-06-05"],
    }
    adae = {"USUBJID": s("A", "C"), "DLTFL": s("N", "Y")}
    ctx = context(specs, records=records, variables={"USUBJID": s("A", "B", "C", "D")}, datasets={"ADAE": adae})
    out = run(
        "{derivation: dlt_evaluable, rule: safety.dlt, exposed: RFXSTDTC, followed: RFPENDTC, events: ADAE.DLTFL}",
        ctx,
    )
    # A: followed to day 28; B: to day 27 only; C: left on day 10 with a DLT; D: never treated
    assert list(out) == ["Y", "N", "Y", "N"]

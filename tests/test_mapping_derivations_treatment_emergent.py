"""derivations/treatment_emergent.py: TRTEMFL of events before, on and after the first infusion."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_an_event_before_the_infusion_is_not_emergent(specs):
    adsl = {"USUBJID": s("A", "B"), "TRTSDT": pd.Series([100, None], dtype="Int64")}  # B never treated
    variables = {
        "USUBJID": s("A", "A", "A", "A", "A", "B"),
        "ASTDT": pd.Series([99, 100, 130, None, None, 120], dtype="Int64"),
        "AENDT": pd.Series([101, 101, None, 98, 105, None], dtype="Int64"),
    }
    ctx = context(specs, variables=variables, datasets={"ADSL": adsl})
    out = run("{derivation: treatment_emergent, began: ASTDT, ended: AENDT, reference: ADSL.TRTSDT}", ctx)
    # before the infusion (ongoing after it too): no; on the day: Y; after: Y; start unknown, ended before: no;
    # start unknown, ended after: Y; never treated: no
    assert [None if pd.isna(v) else v for v in out] == [None, "Y", "Y", None, "Y", None]


def test_an_event_hours_before_the_infusion_on_its_day(specs):
    """Infusion 2025-08-24 10:16 (day 23977); an event at 08:00 that day is before it, one at 10:23 after it; an event
    without a time on the infusion day counts by its date."""
    day, start = 23977, 23977 * 86400 + 10 * 3600 + 16 * 60
    adsl = {"USUBJID": s("A"), "TRTSDT": pd.Series([day], dtype="Int64"), "TRTSDTM": pd.Series([start], dtype="Int64")}
    variables = {
        "USUBJID": s("A", "A", "A"),
        "ASTDT": pd.Series([day, day, day], dtype="Int64"),
        "ASTDTM": pd.Series([day * 86400 + 8 * 3600, day * 86400 + 10 * 3600 + 23 * 60, None], dtype="Int64"),
    }
    ctx = context(specs, variables=variables, datasets={"ADSL": adsl})
    out = run(
        "{derivation: treatment_emergent, began: ASTDT, reference: ADSL.TRTSDT, began_time: ASTDTM,"
        " reference_time: ADSL.TRTSDTM}",
        ctx,
    )
    assert [None if pd.isna(v) else v for v in out] == [None, "Y", "Y"]

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

"""derivations/merged.py: a variable of another dataset's records, filtered, per subject."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run, s


def test_a_filtered_value_per_subject(specs):
    ds = {
        "USUBJID": s("A", "A", "B", "B"),
        "DSCAT": s("PROTOCOL MILESTONE", "DISPOSITION EVENT", "PROTOCOL MILESTONE", "DISPOSITION EVENT"),
        "DSDECOD": s("INFORMED CONSENT OBTAINED", "COMPLETED", "INFORMED CONSENT OBTAINED", "DEATH"),
    }
    variables = {"USUBJID": s("A", "B", "C")}
    ctx = context(specs, variables=variables, datasets={"DS": ds})
    done = run("{derivation: merged, ref: DS.DSDECOD, where: {DSCAT: DISPOSITION EVENT}}", ctx)
    assert [None if pd.isna(v) else v for v in done] == ["COMPLETED", "DEATH", None]  # C: no record
    why = run(
        "{derivation: merged, ref: DS.DSDECOD, where: {DSCAT: DISPOSITION EVENT}, exclude: {DSDECOD: COMPLETED}}", ctx
    )
    assert [None if pd.isna(v) else v for v in why] == [None, "DEATH", None]


def test_a_number_stays_a_number(specs):
    qs = {
        "USUBJID": s("A", "A"),
        "QSTESTCD": s("T", "T"),
        "QSLOBXFL": s(None, "Y"),
        "QSSTRESN": pd.Series([7, 8], dtype="Float64"),
    }
    ctx = context(specs, variables={"USUBJID": s("A", "B")}, datasets={"QS": qs})
    out = run("{derivation: merged, ref: QS.QSSTRESN, where: {QSTESTCD: T, QSLOBXFL: Y}}", ctx)
    assert out.dtype == "Float64" and out[0] == 8 and pd.isna(out[1])

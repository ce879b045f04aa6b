"""algorithms/aggregate.py: per subject, a summary of another dataset's variable or a raw column."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.kernel.errors import SpecError
from flows.mapping.algorithms.aggregate import check_how
from tests.mapping_cases import context, run, s

EX = {"USUBJID": s("A", "A", "B"), "EXSTDTC": s("2025-06-18", "2025-06-17", "2025-07-01"), "EXDOSE": s("2", "1", "4")}


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("min", ["2025-06-17", "2025-07-01", None]),  # C has no EX records: null
        ("max", ["2025-06-18", "2025-07-01", None]),
        ("first", ["2025-06-18", "2025-07-01", None]),  # no order: record order
        ("join", ["2025-06-17, 2025-06-18", "2025-07-01", None]),  # distinct values, sorted
    ],
)
def test_aggregate_a_ref_per_subject(specs, how, expected):
    ctx = context(specs, variables={"USUBJID": s("A", "B", "C")}, datasets={"EX": EX})
    out = run(f"{{aggregate: {{ref: EX.EXSTDTC, how: {how}}}}}", ctx)
    assert [None if pd.isna(v) else v for v in out] == expected


def test_aggregate_first_by_order(specs):
    ctx = context(specs, variables={"USUBJID": s("A", "B")}, datasets={"EX": EX})
    out = run("{aggregate: {ref: EX.EXDOSE, how: first, order: EX.EXSTDTC}}", ctx)
    assert out.tolist() == ["1", "4"]  # A's earliest dose is its second record


def test_aggregate_a_raw_column(specs):
    dosing = pd.DataFrame({"site": ["01", "01"], "subject": ["0001", "0001"], "lot": ["L2", "L1"]})
    ctx = context(specs, variables={"USUBJID": s("CART-20250321-01-0001")}, valid={"dosing": dosing})
    assert run("{aggregate: {raw: dosing.lot, how: min}}", ctx).tolist() == ["L1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"ref": "EX.EXSTDTC", "how": "median"}, "'median' is not one of"),
        ({"how": "min"}, "reads one ref"),  # neither ref nor raw
        ({"ref": "EX.EXSTDTC", "raw": "dosing.lot", "how": "min"}, "reads one ref"),  # both
    ],
)
def test_check_how(specs, args, message):
    with pytest.raises(SpecError, match=message):
        check_how(args, specs.sdtm["DM"], specs, "dm.RFXSTDTC")


def test_aggregate_an_analysis_dataset(specs):
    """In the ADaM derivation a ref may name ADSL, a dataset derived before though not of specs/sdtm."""
    adsl = {"USUBJID": s("A", "B"), "TRT01A": s("DL1", None)}
    ctx = context(specs, variables={"USUBJID": s("A", "A", "B")}, datasets={"ADSL": adsl})
    out = run("{aggregate: {ref: ADSL.TRT01A, how: first}}", ctx)
    assert [None if pd.isna(v) else v for v in out] == ["DL1", "DL1", None]

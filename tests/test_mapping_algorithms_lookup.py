"""algorithms/lookup.py: a value looked up in a study.yaml table (a list, or a mapping by @key)."""

from __future__ import annotations

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.algorithms.lookup import check_table, dig, lookup, table_rows
from tests.mapping_cases import context, run, s


def test_lookup_in_a_study_table():
    out = lookup(s("DL1", "DL9", None), {"DL1": "Dose Level 1"})
    assert out.iloc[0] == "Dose Level 1" and out.iloc[1:].isna().all()  # unknown and null: null


def test_lookup_a_list_table_and_a_nested_value(specs):
    ctx = context(specs, {"kit": ["DL2", "DL9"]}, variables={"ARMCD": s("DL1", None)})
    arm = run("{lookup: {variable: ARMCD, table: arms, key: armcd, value: arm}}", ctx)
    assert arm.iloc[0] == "Dose Level 1: S103 CAR-T 1.0 x 10^6 cells/kg" and arm.isna().iloc[1]
    dose = run("{lookup: {column: kit, table: arms, key: armcd, value: dose}}", ctx)
    assert dose.iloc[0] == 2.0 and dose.isna().iloc[1]  # a number stays a number; unknown: null


def test_lookup_a_mapping_table_by_its_keys(specs):
    assert table_rows(specs, "instruments")[0]["@key"] == "MG-ADL"
    ctx = context(specs, {"instrument": ["MG-ADL", "QMG"]})
    out = run('{lookup: {column: instrument, table: instruments, key: "@key", value: total.code}}', ctx)
    assert out.tolist() == ["MGADLTOT", "QMGTOT"]


def test_dig_follows_a_dotted_path():
    assert dig({"total": {"code": "X"}}, "total.code") == "X" and dig({"total": 3}, "total.code") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"table": "arms", "key": "armcd", "value": "arm"}, "reads one column or one variable"),
        ({"column": "kit", "table": "arms", "key": "code", "value": "arm"}, "is not a table of mappings with key"),
    ],
)
def test_check_table(specs, args, message):
    with pytest.raises(SpecError, match=message):
        check_table(args, specs.sdtm["DM"], specs, "dm.ARM")

"""algorithms/assign_ct.py: raw values recoded to CT, the recode covering the contract."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.kernel.errors import SpecError
from flows.mapping.algorithms.assign_ct import check_recode, recode
from tests.mapping_cases import s


def test_recode_maps_raw_to_submission_values():
    out = recode(s("Male", "Female", None), {"Male": "M", "Female": "F"})
    assert out.iloc[:2].tolist() == ["M", "F"] and pd.isna(out.iloc[2])  # null stays null


def test_recode_refuses_a_value_without_a_recode():
    with pytest.raises(ValueError, match="Unknown"):
        recode(s("Unknown"), {"Male": "M"})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "a mapping raw value -> submission value"),  # an empty table
        ({"M": "M", "F": "F"}, "raw values ['INTERSEX', 'U'] of column 'sex' have no recode"),  # the contract allows 4
    ],
)
def test_check_recode_covers_the_contract(specs, table, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_recode({"column": "sex", "recode": table}, specs.sdtm["DM"], specs, "dm.SEX")


def test_check_recode_accepts_a_full_table(specs):
    table = {"M": "M", "F": "F", "INTERSEX": "INTERSEX", "U": "U"}
    check_recode({"column": "sex", "recode": table}, specs.sdtm["DM"], specs, "dm.SEX")
    assert recode(pd.Series(["U"], dtype="str"), table).iloc[0] == "U"

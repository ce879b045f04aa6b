"""derivations/arm_by_dose.py: the arm whose dose the first dose matches."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.kernel.errors import SpecError
from flows.mapping.derivations.arm_by_dose import arm_of_dose, check_distinct_doses
from tests.mapping_cases import context, run, s


@pytest.mark.parametrize(
    ("dose", "armcd"),
    [(1.0, "DL1"), (1.09, "DL1"), (1.2, None), (8.4, "DL4"), (None, None)],  # within 10%, outside, none given
)
def test_arm_of_dose(specs, dose, armcd):
    out = arm_of_dose(pd.Series([dose], dtype="Float64"), specs.study.arms, 0.10).iloc[0]
    assert (pd.isna(out) and armcd is None) or out == armcd


def test_arm_by_the_first_dose(specs):
    ex = {"USUBJID": s("A", "A", "B"), "EXDOSE": s(4.0, 2.0, 8.0, dtype="Float64"), "EXSTDTC": s("2", "1", "1")}
    ctx = context(specs, variables={"USUBJID": s("A", "B", "C")}, datasets={"EX": ex})
    out = run("{derivation: arm_by_dose, dose: EX.EXDOSE, order: EX.EXSTDTC, tolerance: treatment.dose_tolerance}", ctx)
    assert out.iloc[:2].tolist() == ["DL2", "DL4"] and pd.isna(out.iloc[2])  # A's first dose is 2.0; C never dosed


def test_arms_need_distinct_doses(specs):
    import dataclasses

    same = [{**a, "dose": 1.0} for a in specs.study.arms]
    study = dataclasses.replace(specs.study, data={**specs.study.data, "arms": same})
    with pytest.raises(SpecError, match="arm_by_dose needs a distinct dose per arm"):
        check_distinct_doses({}, specs.sdtm["DM"], dataclasses.replace(specs, study=study), "dm.ACTARMCD")

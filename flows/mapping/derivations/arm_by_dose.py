"""The actual arm from the first administered dose (`dose` by `order`, both DOMAIN.VAR): the arm of study.yaml
whose planned dose it matches within the relative `tolerance` (a study.yaml path); refused at load unless every arm
has a distinct dose."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vectors import per_subject
from flows.mapping.vocabulary import Operation, Param
from flows.spec.model import DomainSpec, Specs


def arm_of_dose(dose: pd.Series, arms: list[Mapping[str, Any]], tolerance: float) -> pd.Series:
    """ARMCD of the arm whose dose matches `dose` within the relative tolerance (arms' doses are distinct)."""
    armcd = pd.Series(pd.NA, index=dose.index, dtype="str")
    for arm in reversed(arms):
        hit = (dose - arm["dose"]).abs() <= tolerance * arm["dose"]
        armcd = armcd.mask(hit.fillna(False).astype(bool), arm["armcd"])
    return armcd


def arm_by_dose(ctx: Context, dose: str, order: str, tolerance: str) -> pd.Series:
    """Actual arm from the first administered dose (by `order`): the arm whose planned dose it matches."""
    source, doses = ctx.ref(dose)
    first = per_subject(ctx.variables["USUBJID"], source, doses.astype("Float64"), "first", ctx.ref(order)[1])
    return arm_of_dose(first.astype("Float64"), ctx.specs.study.arms, float(ctx.specs.study.lookup(tolerance)))


def check_distinct_doses(args: Mapping[str, Any], spec: DomainSpec, specs: Specs, where: str) -> None:
    doses = [float(arm["dose"]) for arm in specs.study.arms if "dose" in arm]
    if len(doses) != len(specs.study.arms) or len(set(doses)) != len(doses):
        raise SpecError(f"{where}: arm_by_dose needs a distinct dose per arm; identify arms from the raw data")


DERIVATION = Operation(
    name="arm_by_dose",
    doc=__doc__,
    example=(
        "ACTARMCD: {derivation: arm_by_dose, dose: EX.EXDOSE, order: EX.EXSTDTC,\n"
        "           tolerance: treatment.dose_tolerance}"
    ),
    params=(Param("dose", "ref"), Param("order", "ref"), Param("tolerance", "study")),
    run=arm_by_dose,
    check=check_distinct_doses,
)

"""AVISIT (`output: name`) or AVISITN (`output: number`): the planned visit (study.yaml `schedule`, by default
visits.schedule: each with its `window` of study days) whose window holds the record's analysis day (`day`, ADY:
days from the first infusion, as the windows count from day 1 of the infusion); null outside every window (such a
record is not analysed by visit). admiral's derive_vars_joined / a window table (ADaMIG 1.3: AVISIT, AVISITN)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs

SCHEDULE = "visits.schedule"


def analysis_visit(ctx: Context, day: str, output: str, schedule: str = SCHEDULE) -> pd.Series:
    index = ctx.variables[day].index
    days = ctx.variables[day].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    visits = list(ctx.specs.study.lookup(schedule))
    which = np.full(len(days), -1, np.intp)  # the first visit whose window holds the day; -1: none
    for i, visit in enumerate(visits):
        lo, hi = visit["window"]
        which[(which < 0) & (days >= lo) & (days <= hi)] = i  # a null day (NaN) is in no window
    if output == "name":
        names = np.array([visit["visit"] for visit in visits] + [None], dtype=object)
        return pd.Series(names[which], index=index, dtype="str")
    numbers = np.array([int(visit["visitnum"]) for visit in visits] + [0], dtype=np.int64)
    return pd.Series(pd.arrays.IntegerArray(numbers[which], which < 0), index=index)


def _check(args: Args, spec: DomainSpec, specs: Specs, where: str) -> None:
    if args.get("output") not in ("name", "number"):
        raise SpecError(f"{where}.output: name (AVISIT) or number (AVISITN)")
    rows = specs.study.lookup(args.get("schedule", SCHEDULE))
    if not isinstance(rows, list) or not all({"visit", "visitnum", "window"} <= set(r) for r in rows):
        raise SpecError(f"{where}.schedule: a study.yaml list of visits with visit, visitnum and window")


DERIVATION = Operation(
    name="analysis_visit",
    doc=__doc__,
    example="AVISIT: {derivation: analysis_visit, day: ADY, output: name}",
    params=(Param("day", "variable"), Param("output", "value"), Param("schedule", "study", optional=True)),
    run=analysis_visit,
    check=_check,
)

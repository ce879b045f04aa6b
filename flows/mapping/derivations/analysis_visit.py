"""AVISIT (`output: name`) or AVISITN (`output: number`): the planned visit (study.yaml `schedule`, by default
visits.schedule: each with its `window` of study days) whose window holds the record's analysis day (`day`, ADY:
days from the first infusion, as the windows count from day 1 of the infusion); null outside every window (such a
record is not analysed by visit). admiral's derive_vars_joined / a window table (ADaMIG 1.3: AVISIT, AVISITN)."""

from __future__ import annotations

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs

SCHEDULE = "visits.schedule"


def analysis_visit(ctx: Context, day: str, output: str, schedule: str = SCHEDULE) -> pd.Series:
    days = ctx.variables[day].astype("Float64")
    text = output == "name"
    out = pd.Series(pd.NA, index=days.index, dtype="str" if text else "Int64")
    for visit in ctx.specs.study.lookup(schedule):
        lo, hi = visit["window"]
        inside = ((days >= lo) & (days <= hi)).fillna(False).astype(bool) & out.isna()
        out = out.mask(inside, visit["visit"] if text else int(visit["visitnum"]))
    return out


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

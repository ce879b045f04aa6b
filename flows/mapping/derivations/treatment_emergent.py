"""TRTEMFL: `Y` on an event that starts (`began`, a numeric SAS date) on or after the subject's first treatment
(`reference`, ADSL.TRTSDT), or whose start is unknown and that ends (`ended`, optional) on or after it or not at all;
null for every other event and for a subject never treated. Where the event's start time (`began_time`, a SAS
date-time, ASTDTM) and the treatment's (`reference_time`, ADSL.TRTSDTM) are both known they decide: an event at
08:00 of the infusion day, before an infusion at 10:16, is not emergent. admiral's derive_var_trtemfl (no end
window: every event after the single infusion is emergent, as in a cell therapy's long follow-up)."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vectors import values_per_subject
from flows.mapping.vocabulary import Operation, Param


def treatment_emergent(
    ctx: Context,
    began: str,
    reference: str,
    ended: str | None = None,
    began_time: str | None = None,
    reference_time: str | None = None,
) -> pd.Series:
    source, ref = ctx.ref(reference)
    first = values_per_subject(ctx.variables["USUBJID"], source, ref).astype("Float64")
    start = ctx.variables[began].astype("Float64")
    hit = start >= first
    if began_time and reference_time:  # both times known: to the minute
        source, ref = ctx.ref(reference_time)
        first_time = values_per_subject(ctx.variables["USUBJID"], source, ref).astype("Float64")
        start_time = ctx.variables[began_time].astype("Float64")
        timed = (start_time.notna() & first_time.notna()).to_numpy(bool)
        hit = hit.mask(timed, start_time >= first_time)
    if ended:
        stop = ctx.variables[ended].astype("Float64")
        hit = hit.fillna(start.isna() & first.notna() & ((stop >= first).fillna(False) | stop.isna()))
    keep = hit.fillna(False).astype(bool)
    return pd.Series(pd.NA, index=start.index, dtype="str").mask(keep, "Y")


DERIVATION = Operation(
    name="treatment_emergent",
    doc=__doc__,
    example=(
        "TRTEMFL: {derivation: treatment_emergent, began: ASTDT, ended: AENDT, reference: ADSL.TRTSDT,\n"
        "          began_time: ASTDTM, reference_time: ADSL.TRTSDTM}"
    ),
    params=(
        Param("began", "variable"),
        Param("reference", "ref"),
        Param("ended", "variable", optional=True),
        Param("began_time", "variable", optional=True),
        Param("reference_time", "ref", optional=True),
    ),
    run=treatment_emergent,
)

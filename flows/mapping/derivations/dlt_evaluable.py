"""The DLT-evaluable flag (ADSL): `Y` for a treated subject (`exposed`, the first exposure, present) who had a DLT (any
record of `events`, e.g. ADAE.DLTFL, is Y) or was followed (`followed`, the last contact RFPENDTC) through the last day
of the DLT window (study.yaml `rule`: `window.to_day`, day 1 the infusion); `N` for every other subject. The
safety review (flows/review/safety.py, dlt_table) counts the evaluable subjects by the same rule."""

from __future__ import annotations

import pandas as pd

from flows.kernel.dates import parse_date
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def dlt_evaluable(ctx: Context, rule: str, exposed: str, followed: str, events: str) -> pd.Series:
    to_day = int(ctx.specs.study.lookup(rule)["window"]["to_day"])
    first, until = parse_date(ctx.column(exposed)), parse_date(ctx.column(followed))
    observed = (until >= first + pd.Timedelta(days=to_day - 1)).fillna(False).astype(bool)
    source, flags = ctx.ref(events)
    with_dlt = ctx.variables["USUBJID"].isin(source[(flags == "Y").fillna(False).to_numpy(bool)].to_numpy())
    hit = first.notna() & (observed | with_dlt.to_numpy(bool))
    return pd.Series("N", index=ctx.records.index, dtype="str").mask(hit.to_numpy(bool), "Y")


DERIVATION = Operation(
    name="dlt_evaluable",
    doc=__doc__,
    example=(
        "DLTEVLFL: {derivation: dlt_evaluable, rule: safety.dlt, exposed: RFXSTDTC, followed: RFPENDTC,\n"
        "           events: ADAE.DLTFL}"
    ),
    params=(
        Param("rule", "study"),
        Param("exposed", "column"),
        Param("followed", "column"),
        Param("events", "ref"),
    ),
    run=dlt_evaluable,
)

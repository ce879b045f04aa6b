"""ABLFL: `Y` on each subject's last record of each parameter (`by`, e.g. [PARAMCD]) with a non-null `value` dated
(`date`, a numeric SAS date) on or before the subject's `reference` (ADSL.TRTSDT, the first infusion): the
assessment on the day of the infusion counts as before it (pre-dose), as the SDTM --LOBXFL; equal dates: the last
record. Null elsewhere, and for a subject never treated. admiral's derive_var_extreme_flag(by_vars, order = ADT,
mode = "last", filter_add = ADT <= TRTSDT and !is.na(AVAL)) as in its ad_advs template (ADaMIG 1.3: ABLFL)."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vectors import extreme_rows, group_codes, ranks, values_per_subject
from flows.mapping.vocabulary import Operation, Param


def baseline_flag(ctx: Context, by: list[str], value: str, date: str, reference: str) -> pd.Series:
    subject = ctx.variables["USUBJID"]
    source, ref = ctx.ref(reference)
    first = values_per_subject(subject, source, ref).astype("Float64")
    day = ctx.variables[date].astype("Float64")
    ok = ((day <= first).fillna(False) & ctx.variables[value].notna()).to_numpy(bool)
    flag = pd.Series(pd.NA, index=subject.index, dtype="str")
    if not ok.any():
        return flag
    groups = group_codes([subject, *(ctx.variables[b] for b in by)])
    flag.iloc[extreme_rows(groups, [ranks(day)], "last", ok)] = "Y"
    return flag


DERIVATION = Operation(
    name="baseline_flag",
    doc=__doc__,
    example="ABLFL: {derivation: baseline_flag, by: [PARAMCD], value: AVAL, date: ADT, reference: ADSL.TRTSDT}",
    params=(Param("by", "variables"), Param("value", "variable"), Param("date", "variable"), Param("reference", "ref")),
    run=baseline_flag,
)

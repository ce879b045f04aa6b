"""BASE (or BASEC): on every record of a subject's parameter (`by`, e.g. [PARAMCD]), the `value` of the record
whose `flag` (ABLFL) is Y; null where the subject has no baseline for it. admiral's derive_var_base."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vectors import group_codes
from flows.mapping.vocabulary import Operation, Param


def baseline_value(ctx: Context, by: list[str], value: str, flag: str) -> pd.Series:
    v = ctx.variables
    group = pd.Series(group_codes([v["USUBJID"], *(v[b] for b in by)]), index=v[value].index)
    flagged = (v[flag] == "Y").fillna(False).to_numpy(bool)
    table = pd.Series(v[value].to_numpy()[flagged], index=group.to_numpy()[flagged]).astype(v[value].dtype)
    table = table[~table.index.duplicated(keep="last")]
    return pd.Series(group.map(table).array, index=group.index).astype(v[value].dtype)


DERIVATION = Operation(
    name="baseline_value",
    doc=__doc__,
    example="BASE: {derivation: baseline_value, by: [PARAMCD], value: AVAL, flag: ABLFL}",
    params=(Param("by", "variables"), Param("value", "variable"), Param("flag", "variable")),
    run=baseline_value,
)

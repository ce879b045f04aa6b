"""`Y` on the first (`mode: first`) or last (`mode: last`) record of each subject and group (`by`, variables) in the
order of `order` (variables, nulls last; ties in record order; those also listed in `descending` sorted from the
highest), among the records where `among` (a variable, optional) is populated; null elsewhere. admiral's
derive_var_extreme_flag: the first-occurrence flags of ADAE (AOCCFL, AOCCPFL among TRTEMFL records; AOCCIFL, the
first occurrence of the worst grade, ordered by ATOXGRN descending) and the analysis flag ANL01FL of a BDS dataset
(one record per visit)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vectors import extreme_rows, group_codes, ranks
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs


def extreme_flag(
    ctx: Context, by: list[str], order: list[str], mode: str, among: str | None = None, descending: list | None = None
) -> pd.Series:
    v = ctx.variables
    subject = v["USUBJID"]
    keep = v[among].notna().to_numpy(bool) if among else np.ones(len(subject), bool)
    flag = pd.Series(pd.NA, index=subject.index, dtype="str")
    if not keep.any():
        return flag
    keys = []
    for name in order:
        values = v[name]
        if name in (descending or ()):  # highest first: the negated number (nulls stay last)
            values = -pd.to_numeric(values, errors="coerce").astype("Float64")
        keys.append(ranks(values))
    groups = group_codes([subject, *(v[b] for b in by)])
    flag.iloc[extreme_rows(groups, keys, mode, keep)] = "Y"
    return flag


def _check(args: Args, spec: DomainSpec, specs: Specs, where: str) -> None:
    if args.get("mode") not in ("first", "last"):
        raise SpecError(f"{where}.mode: first or last")
    if not set(args.get("descending") or ()) <= set(args.get("order") or ()):
        raise SpecError(f"{where}.descending: variables of order (sorted from the highest)")


DERIVATION = Operation(
    name="extreme_flag",
    doc=__doc__,
    example=(
        "AOCCPFL: {derivation: extreme_flag, by: [AEDECOD], order: [ASTDT, AESEQ], mode: first, among: TRTEMFL}\n"
        "ANL01FL: {derivation: extreme_flag, by: [PARAMCD, AVISITN], order: [ADT], mode: last, among: AVISITN}\n"
        "AOCCIFL: {derivation: extreme_flag, by: [], order: [ATOXGRN, ASTDT, AESEQ], descending: [ATOXGRN],\n"
        "          mode: first, among: TRTEMFL}"
    ),
    params=(
        Param("by", "variables"),
        Param("order", "variables"),
        Param("mode", "value"),
        Param("among", "variable", optional=True),
        Param("descending", "variables", optional=True),
    ),
    run=extreme_flag,
    check=_check,
)

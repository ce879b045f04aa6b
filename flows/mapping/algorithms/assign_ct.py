"""A raw column recoded to CT submission values by a table in the spec (raw value -> submission value); every raw
value the column's contract allows (its values, study value set or codelist) must have a recode, or the specs do
not load."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.vocabulary import Operation, Param
from flows.spec.model import DomainSpec, Specs


def recode(values: pd.Series, table: Mapping[str, str]) -> pd.Series:
    """Raw values recoded to submission values through `table` (raw -> submitted); nulls stay null.

    A value the table lacks is an error: the spec checker makes sure the raw contract cannot deliver one.
    """
    text = values.astype("str")
    unknown = sorted(set(text.dropna().unique()) - set(table))
    if unknown:
        raise ValueError(f"values without a recode: {unknown[:5]}")
    return text.map(dict(table)).astype("str")


def check_recode(args: Mapping[str, Any], spec: DomainSpec, specs: Specs, where: str) -> None:
    """The recode is a table that covers every value the raw column's contract allows."""
    table = args["recode"]
    if not isinstance(table, Mapping) or not table:
        raise SpecError(f"{where}.recode: a mapping raw value -> submission value")
    contracts = [specs.raw[s] for s in spec.raw_sources if s in specs.raw]
    cols = [c.column(args["column"]) for c in contracts if args["column"] in c.column_names]
    col = cols[0] if cols else None
    allowed: set[str] = set()
    for each in cols:  # what any of the sources allows
        allowed |= set(each.values or ())
        if each.values_from:
            allowed |= set(specs.study.allowed(each.values_from))
        if each.codelist and not each.values:
            allowed |= set(specs.codelists[each.codelist].values)
    missing = sorted(allowed - {str(k) for k in table})
    if missing:
        raise SpecError(f"{where}.recode: raw values {missing} of column '{args['column']}' have no recode")
    if col and not allowed:
        raise SpecError(f"{where}: raw column '{args['column']}' needs values or a codelist in its contract")


ALGORITHM = Operation(
    name="assign_ct",
    doc=__doc__,
    example="SEX: {assign_ct: {column: GENDER, recode: {Female: F, Male: M}}}",
    params=(Param("column", "column"), Param("recode", "value")),
    run=lambda ctx, **args: recode(ctx.column(args["column"]), args["recode"]),
    check=check_recode,
    row_wise=True,
    collects="column",
)

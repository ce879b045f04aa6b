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
    contract = specs.raw.get(spec.records.get("from", ""))
    col = contract.column(args["column"]) if contract else None
    allowed = set(col.values or ()) if col else set()
    if col and col.values_from:
        allowed |= set(specs.study.allowed(col.values_from))
    if col and col.codelist and not col.values:
        allowed |= set(specs.codelists[col.codelist].values)
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

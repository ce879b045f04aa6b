"""A column (or a variable) looked up in a study.yaml table: the row whose `key` field equals the value gives its
`value` field (dotted for a nested field); null where no row has it. A table is a list of mappings, or a mapping of
mappings whose keys become the field `@key` (`table: instruments, key: "@key"`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.kernel.distinct import per_value
from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param
from flows.spec.model import DomainSpec, Specs


def lookup(values: pd.Series, table: Mapping[Any, Any]) -> pd.Series:
    """Each value replaced by its entry in `table` (a look-up in study.yaml); null where the table has none."""
    table = dict(table)
    text = all(isinstance(v, str) for v in table.values())
    mapped = per_value(lambda s: s.map(table).astype("str") if text else s.map(table))(values)
    return mapped.astype("str") if text else mapped


def table_rows(specs: Specs, table: str) -> list[Mapping[str, Any]]:
    """A study.yaml look-up table as rows: a list of mappings, or a mapping whose keys become the field `@key`."""
    rows = specs.study.lookup(table)
    if isinstance(rows, Mapping):
        return [{"@key": k, **val} for k, val in rows.items() if isinstance(val, Mapping)]
    return list(rows)


def dig(row: Mapping[str, Any], dotted: str) -> Any:
    """A field of a row by its dotted path; None where a part is missing."""
    node: Any = row
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def lookup_in_table(
    ctx: Context, table: str, key: str, value: str, column: str | None = None, variable: str | None = None
) -> pd.Series:
    values = ctx.column(column) if column else ctx.variables[variable]
    rows = table_rows(ctx.specs, table)
    return lookup(values, {r[key]: dig(r, value) for r in rows if dig(r, value) is not None})


def check_table(args: Mapping[str, Any], spec: DomainSpec, specs: Specs, where: str) -> None:
    """One column or one variable, and a table of mappings that all have the key field."""
    if ("column" in args) == ("variable" in args):
        raise SpecError(f"{where}: a lookup reads one column or one variable")
    rows = table_rows(specs, args["table"])
    if not rows or not all(isinstance(r, Mapping) and args["key"] in r for r in rows):
        raise SpecError(f"{where}.table: '{args['table']}' is not a table of mappings with key '{args['key']}'")
    if all(dig(r, args["value"]) is None for r in rows):
        fields = sorted({k for r in rows for k in r})
        raise SpecError(f"{where}.value: no row of '{args['table']}' has '{args['value']}' (its fields: {fields})")


ALGORITHM = Operation(
    name="lookup",
    doc=__doc__,
    example=(
        "ARM: {lookup: {variable: ARMCD, table: arms, key: armcd, value: arm}}\n"
        "EXTRT: {lookup: {column: KIT_ARM, table: arms, key: armcd, value: treatment.name}}\n"
        'QSTESTCD: {lookup: {column: instrument, table: instruments, key: "@key", value: total.code}}'
    ),
    params=(
        Param("column", "column", optional=True),
        Param("variable", "variable", optional=True),
        Param("table", "study"),
        Param("key", "value"),
        Param("value", "value"),
    ),
    run=lookup_in_table,
    check=check_table,
    row_wise=True,
)

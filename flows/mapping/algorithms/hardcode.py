"""The same value on every record: text, a whole number (Int64), a decimal (Float64), or null (`hardcode: null`)."""

from __future__ import annotations

from flows.mapping.vectors import hardcode
from flows.mapping.vocabulary import Operation, Param

ALGORITHM = Operation(
    name="hardcode",
    doc=__doc__,
    example="DOMAIN: {hardcode: EX}",
    params=(Param("value", "value"),),
    primary="value",
    run=lambda ctx, value: hardcode(value, ctx.records.index),
    row_wise=True,
    plain=lambda args: True,
)

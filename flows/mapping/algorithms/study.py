"""A fact of study.yaml, by its dotted path, on every record."""

from __future__ import annotations

from flows.mapping.vectors import hardcode
from flows.mapping.vocabulary import Operation, Param

ALGORITHM = Operation(
    name="study",
    doc=__doc__,
    example="EXTRT: {study: treatment.name}",
    params=(Param("path", "study"),),
    primary="path",
    run=lambda ctx, path: hardcode(ctx.specs.study.lookup(path), ctx.records.index),
    row_wise=True,
    plain=lambda args: True,
)

"""A raw column (or a field of a study.yaml list) as it is: text stays text, numbers stay numbers. Its raw column
is checked at validation for ASCII, trailing blanks and (when every value lands in the variable) the length."""

from __future__ import annotations

import pandas as pd

from flows.mapping.vocabulary import Operation, Param


def assign(values: pd.Series) -> pd.Series:
    """A raw column (or study-list field) as it is: text stays text, numbers stay numbers."""
    return values.copy()


ALGORITHM = Operation(
    name="assign",
    doc=__doc__,
    example="SUBJID: {assign: subject}",
    params=(Param("column", "column"),),
    primary="column",
    run=lambda ctx, column: assign(ctx.column(column)),
    row_wise=True,
    plain=lambda args: True,
    collects="column",
    copies="column",
)

"""One mapping step on a domain's records: its operation on every record, null where its conditions do not hold."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vectors import null_unless
from flows.mapping.vocabulary import Condition, Step


def holds(ctx: Context, when: tuple[Condition, ...]) -> pd.Series:
    """Where every condition of `when` holds."""
    mask = pd.Series(True, index=ctx.records.index)
    for c in when:
        values = ctx.column(c.name) if c.kind == "column" else ctx.variables[c.name]
        if c.present is not None:
            test = values.notna() if c.present else values.isna()
        elif c.isin is not None:
            test = values.isin(list(c.isin))
        elif c.in_from is not None:
            allowed = ctx.specs.study.lookup(c.in_from)
            test = values.isin(list(allowed.values()) if isinstance(allowed, Mapping) else list(allowed))
        else:
            target = ctx.specs.study.lookup(c.equals_from) if c.equals_from else c.equals
            test = values == target
        mask &= test.fillna(False).astype(bool)
    return mask


def run_step(step: Step, ctx: Context) -> pd.Series:
    """One mapping step on every record; null where its conditions do not hold."""
    values = step.operation.run(ctx, **step.args)
    if step.when:
        values = null_unless(values, holds(ctx, step.when))
    return values

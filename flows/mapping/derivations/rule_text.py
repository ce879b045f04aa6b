"""A criterion's machine-checkable rule (a mapping field of study.yaml's criteria) as one readable line
(`check=class_in; instrument=MGFA; ...`); null for a criterion without a rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def rule_text(ctx: Context, rule: str) -> pd.Series:
    """A criterion's machine-checkable rule as one readable line ('check=class_in; instrument=MGFA; ...')."""

    def text(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{k} {text(v)}" for k, v in value.items())
        if isinstance(value, list):
            return " | ".join(text(v) for v in value)
        return str(value)

    rules = ctx.column(rule) if rule in ctx.records else pd.Series(None, index=ctx.records.index, dtype=object)
    rendered = [
        None if not r or not isinstance(r, Mapping) else "; ".join(f"{k}={text(v)}" for k, v in r.items())
        for r in rules
    ]
    return pd.Series(rendered, index=ctx.records.index, dtype="str")


DERIVATION = Operation(
    name="rule_text",
    doc=__doc__,
    example="TIRL: {derivation: rule_text, rule: rule}",
    params=(Param("rule", "column"),),
    run=rule_text,
)

"""What the mapping tests share: Series from values, a small Context, and a step read from YAML and run on it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml

from flows.mapping.context import Context
from flows.mapping.evaluate import run_step
from flows.mapping.registry import ALGORITHMS, DERIVATIONS
from flows.mapping.steps import parse_step
from flows.mapping.vocabulary import Step
from flows.spec.model import Specs


def s(*values: Any, dtype: str = "str") -> pd.Series:
    return pd.Series(list(values), dtype=dtype)


def context(
    specs: Specs,
    records: dict[str, Any] | None = None,
    variables: dict[str, pd.Series] | None = None,
    datasets: dict[str, dict[str, pd.Series]] | None = None,
    domain: str = "XX",
    contract: str | None = None,
    valid: dict[str, pd.DataFrame] | None = None,
) -> Context:
    """A domain XX whose records are `records` (columns), with `variables` derived so far and other `datasets`."""
    frame = pd.DataFrame(records or {})
    if frame.empty and variables:
        frame = pd.DataFrame(index=next(iter(variables.values())).index)
    return Context(
        domain,
        frame,
        specs,
        specs.raw[contract] if contract else None,
        valid or {},
        {**(datasets or {}), domain: dict(variables or {})},
    )


def step(text: str) -> Step:
    """One mapping step as a spec writes it (`{dtc: {date: d, time: t}}`), read through the registry."""
    return parse_step(yaml.safe_load(text), ALGORITHMS, DERIVATIONS, "test")


def run(text: str, ctx: Context) -> pd.Series:
    return run_step(step(text), ctx)

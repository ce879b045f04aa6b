"""Text from a template whose `{name}` placeholders take each record's value of a part, itself a mapping step;
null where a part is null. Every placeholder needs a part."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.evaluate import run_step
from flows.mapping.vocabulary import Operation, Param, Step
from flows.spec.model import DomainSpec, Specs


def fill_template(text: str, parts: Mapping[str, pd.Series], index: pd.Index) -> pd.Series:
    """Text from a template whose {name} placeholders take each record's value of a part; null if a part is."""
    out = pd.Series("", index=index, dtype="str")
    for literal, field, _, _ in string.Formatter().parse(text):
        out = out + literal
        if field is not None:
            out = out + parts[field].astype("str")
    return out


def template(ctx: Context, text: str, parts: Mapping[str, Step] | None = None) -> pd.Series:
    values = {name: run_step(part, ctx) for name, part in (parts or {}).items()}
    return fill_template(text, values, ctx.records.index)


def check_placeholders(args: Mapping[str, Any], spec: DomainSpec, specs: Specs, where: str) -> None:
    names = {f for _, f, _, _ in string.Formatter().parse(str(args["text"])) if f is not None}
    missing = sorted(names - set(args.get("parts") or {}))
    if missing:
        raise SpecError(f"{where}.text: placeholders {missing} have no part")


ALGORITHM = Operation(
    name="template",
    doc=__doc__,
    example=(
        'DSTERM: {template: {text: "ASSIGNED TO {level}", parts: {level: {assign: dose_level}}}}\n'
        'DSTERM: {template: {text: "SCREEN FAILURE: {failed} not met",\n'
        "                    parts: {failed: {aggregate: {ref: IE.IETESTCD, how: join}}}}}"
    ),
    params=(Param("text", "value"), Param("parts", "steps", optional=True)),
    run=template,
    check=check_placeholders,
    row_wise=True,
)

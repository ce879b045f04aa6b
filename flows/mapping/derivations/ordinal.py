"""An ordinal AVAL of a category (`variable`, e.g. AVALC): its position 1..n in the ordered study.yaml list `values`
(the MGFA classes I to V); null for a value not in it. ADaMIG 1.3: AVAL and AVALC one-to-one within a parameter."""

from __future__ import annotations

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs


def ordinal(ctx: Context, variable: str, values: str) -> pd.Series:
    order = {str(v): i for i, v in enumerate(ctx.specs.study.lookup(values), start=1)}
    text = ctx.variables[variable]
    return pd.Series(text.map(order).array, index=text.index).astype("Int64")


def _check(args: Args, spec: DomainSpec, specs: Specs, where: str) -> None:
    if not isinstance(specs.study.lookup(args["values"]), list):
        raise SpecError(f"{where}.values: an ordered study.yaml list")


DERIVATION = Operation(
    name="ordinal",
    doc=__doc__,
    example="AVAL: {derivation: ordinal, variable: AVALC, values: instruments.MGFA.classes}",
    params=(Param("variable", "variable"), Param("values", "study")),
    run=ordinal,
    check=_check,
)

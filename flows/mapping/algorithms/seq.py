"""--SEQ: 1..n within USUBJID once the records are sorted by the dataset's keys (ties in record order); only the
dataset's sequence variable (`seq:` of the dataset spec) takes it."""

from __future__ import annotations

import pandas as pd

from flows.kernel.keys import key_order, seq_in_key_order
from flows.mapping.context import KEY_ORDER, Context
from flows.mapping.steps import StepError
from flows.mapping.vocabulary import Operation
from flows.spec.model import DomainSpec


def seq_numbers(ctx: Context, spec: DomainSpec) -> pd.Series:
    """--SEQ: 1..n within USUBJID in the order of the domain keys (ties in record order), records left in place.
    The order is kept (ctx.cache) for the sort of the finished dataset by the same keys."""
    keys = [k for k in spec.keys if k != spec.seq and k in ctx.variables]
    frame = pd.DataFrame({k: ctx.variables[k] for k in dict.fromkeys([*keys, "USUBJID"])}, index=ctx.records.index)
    order = key_order(frame, keys)
    ctx.cache[KEY_ORDER] = (tuple(keys), order)
    return seq_in_key_order(frame, keys, order)


def keys_read(spec: DomainSpec, variable: str) -> list[str]:
    """The dataset's keys and USUBJID, read before the numbering; only the sequence variable is numbered."""
    if variable != spec.seq:
        raise StepError(f"seq numbers the domain's sequence variable only (seq: {spec.seq})")
    return [k for k in (*spec.keys, "USUBJID") if k != variable]


ALGORITHM = Operation(
    name="seq",
    doc=__doc__,
    example="EXSEQ: seq",
    params=(),
    run=lambda ctx: seq_numbers(ctx, ctx.specs.sdtm[ctx.domain]),
    variables=keys_read,
)

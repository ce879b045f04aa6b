"""Per subject, one summary of another dataset's variable (`ref: DOMAIN.VAR`) or of a raw file's column (`raw:
<file>.<column>`) over the subject's records: `how` is `min`, `max`, `first` or `last` (first and last by `order`,
a ref or a raw of the same records, ties in record order), or `join` (the distinct values, sorted, as one text
separated by ", "); null for a subject without records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.kernel.keys import subject_ids
from flows.mapping.context import Context
from flows.mapping.vectors import per_subject
from flows.mapping.vocabulary import Operation, Param
from flows.spec.model import DomainSpec, Specs

HOW = {"min", "max", "first", "last", "join"}


def per_subject_source(ctx: Context, dotted: str) -> tuple[pd.Series, pd.Series]:
    """(USUBJID, values) of DOMAIN.VARIABLE of a dataset, or of <raw file>.<column> of a raw file's valid rows."""
    head, column = dotted.split(".", 1)
    if head in ctx.datasets:  # a dataset derived before (an analysis dataset may read SDTM and ADaM ones)
        return ctx.ref(dotted)
    frame = ctx.valid[head]
    return subject_ids(frame, ctx.specs.raw[head].subject_columns, ctx.specs.study.studyid), frame[column]


def aggregate(ctx: Context, how: str, ref: str | None = None, raw: str | None = None, order: str | None = None):
    source, values = per_subject_source(ctx, ref or raw)
    ordered = per_subject_source(ctx, order)[1] if order else None
    return per_subject(ctx.variables["USUBJID"], source, values, how, ordered)


def check_how(args: Mapping[str, Any], spec: DomainSpec, specs: Specs, where: str) -> None:
    """A known `how`, and one source: a ref or a raw."""
    if args["how"] not in HOW:
        raise SpecError(f"{where}.how: '{args['how']}' is not one of {sorted(HOW)}")
    if ("ref" in args) == ("raw" in args):
        raise SpecError(f"{where}: an aggregate reads one ref (DOMAIN.VARIABLE) or one raw (<file>.<column>)")


ALGORITHM = Operation(
    name="aggregate",
    doc=__doc__,
    example=(
        "RFXSTDTC: {aggregate: {ref: EX.EXSTDTC, how: min}}\n"
        "ACTARMCD: {aggregate: {raw: kits.KIT_ARM, how: first, order: kits.FIRST_DOSE}}\n"
        "IETESTCDS: {aggregate: {ref: IE.IETESTCD, how: join}}  # e.g. a template part: INCL01, INCL03"
    ),
    params=(
        Param("ref", "ref", optional=True),
        Param("raw", "raw", optional=True),
        Param("how", "value"),
        Param("order", "source", optional=True),
    ),
    run=aggregate,
    check=check_how,
    variables=lambda spec, variable: ["USUBJID"],
)

"""Per subject, a variable of another dataset (`ref`: DOMAIN.VAR) from its records where every `where` variable of
that dataset equals its value (a list: is one of them) and no `exclude` variable does, the `how` first or last by
`order` (a ref of the same dataset; ties in record order); its type kept; null for a subject without such a record.
admiral's derive_vars_merged(filter_add, order, mode): ADSL's end-of-study status from DS, its baselines from QS
and RS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vectors import extreme_rows, group_codes, ranks, values_per_subject
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs


def merged(
    ctx: Context,
    ref: str,
    how: str = "last",
    where: Mapping | None = None,
    order: str | None = None,
    exclude: Mapping | None = None,
) -> pd.Series:
    domain = ref.split(".", 1)[0]
    source, values = ctx.ref(ref)
    keep = np.ones(len(source), bool)
    for name, wanted in (where or {}).items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        keep &= ctx.datasets[domain][name].isin(allowed).fillna(False).to_numpy(bool)
    for name, unwanted in (exclude or {}).items():
        refused = unwanted if isinstance(unwanted, list) else [unwanted]
        keep &= ~ctx.datasets[domain][name].isin(refused).fillna(False).to_numpy(bool)
    keep &= source.notna().to_numpy(bool)  # a record without a subject is no subject's
    keys = [ranks(ctx.ref(order)[1], nulls="first")] if order else []
    rows = extreme_rows(group_codes([source]), keys, "last" if how == "last" else "first", keep)
    one = values.iloc[rows].reset_index(drop=True)
    return values_per_subject(ctx.variables["USUBJID"], source.iloc[rows].reset_index(drop=True), one)


def _refs(args: Args) -> Iterable[str]:
    domain = str(args.get("ref", "")).split(".", 1)[0]
    return [f"{domain}.{name}" for key in ("where", "exclude") for name in args.get(key) or {}]


def _check(args: Args, spec: DomainSpec, specs: Specs, where: str) -> None:
    domain = str(args["ref"]).split(".", 1)[0]
    if args.get("how", "last") not in ("first", "last"):
        raise SpecError(f"{where}.how: first or last")
    for key in ("where", "exclude"):
        if not isinstance(args.get(key) or {}, Mapping):
            raise SpecError(f"{where}.{key}: a mapping of {domain}'s variables to a value or a list of values")
        unknown = sorted(set(args.get(key) or {}) - set(specs.sdtm[domain].names))
        if unknown:
            raise SpecError(f"{where}.{key}: not variables of {domain}: {unknown}")
    if args.get("order") and str(args["order"]).split(".", 1)[0] != domain:
        raise SpecError(f"{where}.order: a variable of {domain}")


DERIVATION = Operation(
    name="merged",
    doc=__doc__,
    example=(
        "DCSREAS: {derivation: merged, ref: DS.DSDECOD, where: {DSCAT: DISPOSITION EVENT},\n"
        "          exclude: {DSDECOD: COMPLETED}}\n"
        "BMGADL: {derivation: merged, ref: QS.QSSTRESN, where: {QSTESTCD: MGADLTOT, QSLOBXFL: Y}}"
    ),
    params=(
        Param("ref", "ref"),
        Param("how", "value", optional=True),
        Param("where", "value", optional=True),
        Param("order", "ref", optional=True),
        Param("exclude", "value", optional=True),
    ),
    run=merged,
    refs=_refs,
    check=_check,
)

"""A numeric SAS date of a partial ISO 8601 date column, imputed: a missing day to the month's first (`impute:
first`) or last day (`last`), a missing month and day to 01-01 or 12-31; no year, no date. With `floor` (a ref, the
treatment start ADSL.TRTSDT), a start date imputed to the first day is not put before the floor when the floor lies
in the same partial period (the event may have begun on the day of treatment); with `ceiling` (a ref, the death
ADSL.DTHDT), an end date imputed to the last day is not put after it when it lies in the same partial period.
`output: flag` gives the imputation flag instead (*DTF: D a day imputed, M a month and day; null when complete).
admiral's derive_vars_dt (highest_imputation = "M", date_imputation = "first" | "last", min_dates, max_dates,
flag_imputation = "date")."""

from __future__ import annotations

import pandas as pd

from flows.kernel.dates import SAS_EPOCH, impute_date
from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vectors import values_per_subject
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs


def _bound(ctx: Context, dotted: str, dtc: pd.Series, flag: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The subject's bound (a SAS date of `dotted`) and where it lies in the record's partial period."""
    source, ref = ctx.ref(dotted)
    bound = values_per_subject(ctx.variables["USUBJID"], source, ref).astype("Int64")
    head = dtc.astype("str").str.slice(0, 7)
    text = (SAS_EPOCH + pd.to_timedelta(bound.astype("Float64"), unit="D")).dt.strftime("%Y-%m-%d")
    same = ((flag == "D") & (text.str.slice(0, 7) == head)) | ((flag == "M") & (text.str.slice(0, 4) == head.str[:4]))
    return bound, same.fillna(False).astype(bool)


def imputed_date(
    ctx: Context,
    date: str,
    impute: str,
    floor: str | None = None,
    output: str = "date",
    ceiling: str | None = None,
) -> pd.Series:
    """The SAS date (days since 1960-01-01) of each record's `date` imputed, or its imputation flag."""
    dtc = ctx.column(date)
    filled, flag = impute_date(dtc, impute)
    if output == "flag":
        return flag
    days = (filled - SAS_EPOCH).dt.days.astype("Int64")
    if floor and impute == "first":
        lower, same = _bound(ctx, floor, dtc, flag)
        days = days.mask(same & (lower > days).fillna(False).astype(bool), lower)
    if ceiling and impute == "last":
        upper, same = _bound(ctx, ceiling, dtc, flag)
        days = days.mask(same & (upper < days).fillna(False).astype(bool), upper)
    return days


def _check(args: Args, spec: DomainSpec, specs: Specs, where: str) -> None:
    if args.get("impute") not in ("first", "last") or args.get("output", "date") not in ("date", "flag"):
        raise SpecError(f"{where}: impute: first | last, output: date | flag")


DERIVATION = Operation(
    name="imputed_date",
    doc=__doc__,
    example=(
        "ASTDT: {derivation: imputed_date, date: AESTDTC, impute: first, floor: ADSL.TRTSDT}\n"
        "ASTDTF: {derivation: imputed_date, date: AESTDTC, impute: first, output: flag}\n"
        "AENDT: {derivation: imputed_date, date: AEENDTC, impute: last, ceiling: ADSL.DTHDT}"
    ),
    params=(
        Param("date", "column"),
        Param("impute", "value"),
        Param("floor", "ref", optional=True),
        Param("output", "value", optional=True),
        Param("ceiling", "ref", optional=True),
    ),
    run=imputed_date,
    check=_check,
)

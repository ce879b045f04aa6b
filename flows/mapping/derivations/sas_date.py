"""A numeric SAS date (days since 1960-01-01) or, with `part: datetime`, date-time (seconds since 1960-01-01T00:00)
of an ISO 8601 date column of the records (an SDTM --DTC): ADaM's *DT and *DTM (ADaMIG 1.3 timing variables); null
where the date is partial (a date-time: where the value has no time). admiral's derive_vars_dt / derive_vars_dtm
without imputation. Give the variable `display_format: DATE9.` (or `DATETIME20.`)."""

from __future__ import annotations

import pandas as pd

from flows.kernel.dates import sas_date as days_of
from flows.kernel.dates import sas_datetime
from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import Args, Operation, Param
from flows.spec.model import DomainSpec, Specs

PARTS = ("date", "datetime")


def sas_date(ctx: Context, date: str, part: str = "date") -> pd.Series:
    """Days (or seconds) since 1960-01-01 of each record's ISO 8601 value of column `date`."""
    values = ctx.column(date)
    return sas_datetime(values) if part == "datetime" else days_of(values)


def _check(args: Args, spec: DomainSpec, specs: Specs, where: str) -> None:
    if args.get("part", "date") not in PARTS:
        raise SpecError(f"{where}.part: one of {list(PARTS)}")


DERIVATION = Operation(
    name="sas_date",
    doc=__doc__,
    example=(
        "TRTSDT: {derivation: sas_date, date: RFXSTDTC}\n"
        "TRTSDTM: {derivation: sas_date, date: RFXSTDTC, part: datetime}"
    ),
    params=(Param("date", "column"), Param("part", "value", optional=True)),
    run=sas_date,
    check=_check,
    row_wise=True,
)

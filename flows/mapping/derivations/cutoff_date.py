"""DCUTDT: the data cut-off date as a numeric SAS date on every record: the run's cut (`--cutoff`), else the date the
data are as of (TS DCUTDTC says the same). ADaMIG 1.3 ADSL DCUTDT."""

from __future__ import annotations

import pandas as pd

from flows.kernel.dates import sas_date
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation


def cutoff_date(ctx: Context) -> pd.Series:
    cut = ctx.facts.get("cutoff") or ctx.facts.get("data_as_of")
    return sas_date(pd.Series(cut, index=ctx.records.index, dtype="str"))


DERIVATION = Operation(
    name="cutoff_date",
    doc=__doc__,
    example="DCUTDT: {derivation: cutoff_date}",
    params=(),
    run=cutoff_date,
)

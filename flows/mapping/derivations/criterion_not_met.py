"""Record filter for IE (`records.where`): keeps the criteria the checklist answer says were not met (per IECAT,
study.yaml's `criteria.not_met_when`: inclusion answered N, exclusion answered Y), so only exceptions become records
(SDTMIG 3.4)."""

from __future__ import annotations

import pandas as pd

from flows.kernel.distinct import distinct_rows
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def criterion_not_met(ctx: Context, code: str, answer: str) -> pd.Series:
    """Record filter for IE: the checklist answer means the criterion was not met (per IECAT, study.yaml's
    criteria.not_met_when), so only exceptions become records (SDTMIG 3.4)."""
    crit = pd.DataFrame(ctx.specs.study.criteria).set_index("code")["category"]
    not_met = ctx.specs.study.data["criteria"]["not_met_when"]
    answers = distinct_rows(ctx.records, [code, answer])  # a few answers, repeated for every subject
    u = answers.rows
    wanted = (u[answer] == u[code].map(crit).map(not_met)).fillna(False).astype(bool)
    return answers.expand(wanted, ctx.records.index).astype(bool)


DERIVATION = Operation(
    name="criterion_not_met",
    doc=__doc__,
    example="records: {from: eligibility, where: {derivation: criterion_not_met, code: criterion, answer: met}}",
    params=(Param("code", "column"), Param("answer", "column")),
    run=criterion_not_met,
    record_filter=True,
)

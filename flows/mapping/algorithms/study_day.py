"""--DY of a date variable against the subject's DM.RFSTDTC (or `reference: DOMAIN.VAR`): no day 0, null when
either date is partial. Worked out once per distinct subject and date."""

from __future__ import annotations

from flows.mapping.context import REFERENCE
from flows.mapping.vocabulary import Operation, Param

ALGORITHM = Operation(
    name="study_day",
    doc=__doc__,
    example="EXSTDY: {study_day: EXSTDTC}\nAESTDY: {study_day: {date: AESTDTC, reference: DM.RFSTDTC}}",
    params=(Param("date", "variable"), Param("reference", "ref", optional=True)),
    primary="date",
    run=lambda ctx, date, reference=None: ctx.study_days(date, reference),
    refs=lambda args: [args.get("reference") or REFERENCE],
)

"""`Y` for a dose-limiting toxicity by the study's rule (`rule`: a study.yaml path to a window of study days, a
minimum grade, related only (by `related_from`), exceptions by term, grade and days to resolution), `N` for every
other event; reads the event's study `day`, `grade`, `relation`, `term` and its dates `began` and `ended`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from flows.kernel.dates import parse_date
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation, Param


def dlt_flag(
    ctx: Context, rule: str, day: str, grade: str, relation: str, term: str, began: str, ended: str
) -> pd.Series:
    """'Y' for a dose-limiting toxicity by the study's rule (study.yaml `rule`: window of study days, minimum grade,
    related only, exceptions by term, grade and days to resolution), 'N' for every other event."""
    r = ctx.specs.study.lookup(rule)
    v = ctx.variables
    hit = is_dlt(
        r, ctx.specs.study.lookup(r["related_from"]), v[day], v[grade], v[relation], v[term], v[began], v[ended]
    )
    return pd.Series("N", index=hit.index, dtype="str").mask(hit, "Y")


def is_dlt(
    rule: Mapping[str, Any],
    related_terms: Sequence[str],
    day: pd.Series,
    grade: pd.Series,
    relation: pd.Series,
    term: pd.Series,
    began: pd.Series,
    ended: pd.Series,
) -> pd.Series:
    """True for the events that are DLTs by `rule` (study.yaml safety.dlt), as plain bools.

    An event without an end date has not resolved: an exception that needs resolution within N days does not apply
    to it. The safety review calls this again with the end dates still unknown set to the earliest they can be, to
    see which DLTs may yet turn out not to be.
    """
    day_n = day.astype("Float64")
    grade_n = pd.to_numeric(grade, errors="coerce").astype("Float64")
    window = rule["window"]
    hit = (day_n >= window["from_day"]) & (day_n <= window["to_day"]) & (grade_n >= rule["min_grade"])
    if rule.get("related_only", True):
        hit &= relation.isin(related_terms)
    days = (parse_date(ended) - parse_date(began)).dt.days
    for exc in rule.get("exceptions", []):
        match = term.isin(exc["terms"])
        if "grades" in exc:
            match &= grade_n.isin(exc["grades"])
        if "resolved_within_days" in exc:
            match &= (days <= exc["resolved_within_days"]).fillna(False)
        hit &= ~match.fillna(False)
    return hit.fillna(False).astype(bool)


DERIVATION = Operation(
    name="dlt_flag",
    doc=__doc__,
    example=(
        "QVAL: {derivation: dlt_flag, rule: safety.dlt, day: AESTDY, grade: AETOXGR, relation: AEREL, term: AEDECOD,\n"
        "       began: AESTDTC, ended: AEENDTC}"
    ),
    params=(
        Param("rule", "study"),
        Param("day", "variable"),
        Param("grade", "variable"),
        Param("relation", "variable"),
        Param("term", "variable"),
        Param("began", "variable"),
        Param("ended", "variable"),
    ),
    run=dlt_flag,
)

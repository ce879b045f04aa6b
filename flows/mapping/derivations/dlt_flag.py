"""`Y` for a dose-limiting toxicity by the study's rule (`rule`: a study.yaml path to a window of study days, a
minimum grade, related only (by `related_from`), exceptions by term, grade and days to resolution), `N` for every
other event; reads the event's study `day`, `grade`, `relation`, `term` and its dates `began` and `ended`."""

from __future__ import annotations

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
    v = {"day": ctx.variables[day], "grade": ctx.variables[grade], "term": ctx.variables[term]}
    day_n = v["day"].astype("Float64")
    grade_n = pd.to_numeric(v["grade"], errors="coerce").astype("Float64")
    related = ctx.variables[relation].isin(ctx.specs.study.lookup(r["related_from"]))
    window = r["window"]
    hit = (day_n >= window["from_day"]) & (day_n <= window["to_day"]) & (grade_n >= r["min_grade"])
    if r.get("related_only", True):
        hit &= related
    days = (parse_date(ctx.variables[ended]) - parse_date(ctx.variables[began])).dt.days
    for exc in r.get("exceptions", []):
        match = v["term"].isin(exc["terms"])
        if "grades" in exc:
            match &= grade_n.isin(exc["grades"])
        if "resolved_within_days" in exc:
            match &= (days <= exc["resolved_within_days"]).fillna(False)
        hit &= ~match.fillna(False)
    flag = pd.Series("N", index=day_n.index, dtype="str")
    return flag.mask(hit.fillna(False), "Y")


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

"""Named derivations: the study logic a spec names when no plain algorithm says it (reference dates, AGE, actual
arm, the IE record filter, TI rule text, TS). Each declares its inputs, so the spec checker can test them at load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from flows.kernel.dates import completed_years, impute_first, parse_date
from flows.kernel.distinct import code_dtype, distinct_rows, value_codes
from flows.kernel.keys import usubjid
from flows.mapping.context import Context
from flows.mapping.steps import Signature
from flows.mapping.vocabulary import lookup_per_subject, per_subject
from flows.spec.model import Specs


def age(ctx: Context, birth: str, at: str) -> pd.Series:
    """Completed years from `birth` to `at`; a partial birth date is imputed to the first day for this only."""
    return completed_years(impute_first(ctx.column(birth)), parse_date(ctx.column(at)))


def arm_of_dose(dose: pd.Series, arms: list[Mapping[str, Any]], tolerance: float) -> pd.Series:
    """ARMCD of the arm whose dose matches `dose` within the relative tolerance (arms' doses are distinct)."""
    armcd = pd.Series(pd.NA, index=dose.index, dtype="str")
    for arm in reversed(arms):
        hit = (dose - arm["dose"]).abs() <= tolerance * arm["dose"]
        armcd = armcd.mask(hit.fillna(False).astype(bool), arm["armcd"])
    return armcd


def arm_by_dose(ctx: Context, dose: str, order: str, tolerance: str) -> pd.Series:
    """Actual arm from the first administered dose (by `order`): the arm whose planned dose it matches."""
    source, doses = ctx.ref(dose)
    first = per_subject(ctx.variables["USUBJID"], source, doses.astype("Float64"), "first", ctx.ref(order)[1])
    return arm_of_dose(first.astype("Float64"), ctx.specs.study.arms, float(ctx.specs.study.lookup(tolerance)))


def last_dates_by_subject(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Latest date (YYYY-MM-DD) over `columns` per subject key. The columns' distinct dates are ranked once and the
    rows' ranks reduced per subject by their codes (worked out once in a shared_codes block): no text is grouped."""
    subjects = distinct_rows(frame, keys)
    found = [(c, distinct_rows(frame, [c])) for c in columns]
    days = [d.rows[c].str.slice(0, 10).reset_index(drop=True) for c, d in found]
    ranks, known = pd.factorize(pd.concat(days, ignore_index=True), sort=True)  # dates sort as text; null: -1
    latest, start = np.full(len(subjects.rows), -1, code_dtype(len(known))), 0
    for day, (_, distinct) in zip(days, found, strict=True):
        rank = ranks[start : start + len(day)].astype(latest.dtype)
        np.maximum.at(latest, subjects.codes, rank[distinct.codes])
        start += len(day)
    out = subjects.rows[keys].reset_index(drop=True)
    text = pd.Series(known, dtype="str").reindex(latest).reset_index(drop=True)  # -1: no date, null
    return out.assign(d=text)


def child_files(specs: Specs, parent: str | None) -> list[str]:
    """The raw files whose parent file is `parent` (None: the files of no parent): what last_contact reads."""
    return [name for name, contract in specs.raw.items() if contract.parent == parent]


def last_contact(ctx: Context, dates: list[str] | None = None) -> pd.Series:
    """Latest date of any record of the subject: the record's own `dates` and every date of the raw files whose
    parent is this domain's raw file (after any cut)."""
    specs, studyid = ctx.specs, ctx.specs.study.studyid
    subject = ctx.variables["USUBJID"]
    parts = [pd.DataFrame({"USUBJID": subject, "d": ctx.column(c).str.slice(0, 10)}) for c in dates or []]
    for name in child_files(specs, ctx.contract.name if ctx.contract else None):
        contract, frame = specs.raw[name], ctx.valid[name]
        cols = [c.name for c in contract.columns if c.type in ("date", "datetime")]
        if not cols or frame.empty:
            continue
        keys = contract.subject_columns
        last = last_dates_by_subject(frame, keys, cols)
        site = last[keys[0]] if len(keys) == 2 else None
        parts.append(pd.DataFrame({"USUBJID": usubjid(studyid, site, last[keys[-1]]), "d": last["d"]}))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.Series(pd.NA, index=subject.index, dtype="str")
    latest = pd.concat(parts).groupby("USUBJID")["d"].max()
    return subject.map(latest).astype("str")


def criterion_not_met(ctx: Context, code: str, answer: str) -> pd.Series:
    """Record filter for IE: the checklist answer means the criterion was not met (per IECAT, study.yaml's
    criteria.not_met_when), so only exceptions become records (SDTMIG 3.4)."""
    crit = pd.DataFrame(ctx.specs.study.criteria).set_index("code")["category"]
    not_met = ctx.specs.study.data["criteria"]["not_met_when"]
    answers = distinct_rows(ctx.records, [code, answer])  # a few answers, repeated for every subject
    u = answers.rows
    wanted = (u[answer] == u[code].map(crit).map(not_met)).fillna(False).astype(bool)
    return answers.expand(wanted, ctx.records.index).astype(bool)


def rule_text(ctx: Context, rule: str) -> pd.Series:
    """A criterion's machine-checkable rule as one readable line ('check=class_in; instrument=MGFA; ...')."""

    def text(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{k} {text(v)}" for k, v in value.items())
        if isinstance(value, list):
            return " | ".join(text(v) for v in value)
        return str(value)

    rules = ctx.column(rule) if rule in ctx.records else pd.Series(None, index=ctx.records.index, dtype=object)
    rendered = [
        None if not r or not isinstance(r, Mapping) else "; ".join(f"{k}={text(v)}" for k, v in r.items())
        for r in rules
    ]
    return pd.Series(rendered, index=ctx.records.index, dtype="str")


def last_before_exposure(ctx: Context, test: str, date: str, reference: str) -> pd.Series:
    """--LOBXFL: 'Y' on each subject's last non-null result of each test dated on or before the reference (first
    exposure); compared on the date, so an assessment on the day of the first dose counts as before it (pre-dose).
    Subjects never exposed get no flag. Dates are compared once per distinct subject and date."""
    source, ref = ctx.ref(reference)
    subject = ctx.variables["USUBJID"]
    frame = pd.DataFrame({"u": subject.array, "d": ctx.variables[date].astype("str").array}, index=subject.index)
    pairs = distinct_rows(frame, ["u", "d"])
    day = pairs.rows["d"].str.slice(0, 10).reset_index(drop=True)
    ref_day = lookup_per_subject(pairs.rows["u"], source, ref).str.slice(0, 10).reset_index(drop=True)
    before = (day.notna() & ref_day.notna() & (day <= ref_day)).fillna(False).to_numpy(bool)[pairs.codes]
    flag = pd.Series(pd.NA, index=subject.index, dtype="str")
    if not before.any():
        return flag
    rows = np.flatnonzero(before)
    u, _ = value_codes(subject)
    t, n_t = value_codes(ctx.variables[test])
    group = (u[rows].astype(np.int64) + 1) * (n_t + 1) + t[rows] + 1  # null is a value of its own
    day_rank = pd.factorize(day, sort=True)[0][pairs.codes[rows]]  # dates sort as text
    order = np.lexsort((day_rank, group))  # stable: equal dates keep record order
    last = np.ones(len(order), bool)
    last[:-1] = group[order][1:] != group[order][:-1]
    flag.iloc[rows[order[last]]] = "Y"
    return flag


def subject_elements(ctx: Context) -> pd.DataFrame:
    """SE: each subject's elements in the order of its arm (ACTARMCD, else ARMCD, else the first arm), each
    starting at the DM date study.yaml's `elements` names, ending where the next starts (the last at RFPENDTC);
    the path stops at the first element that has not started."""
    study = ctx.specs.study
    elements = {e["etcd"]: e for e in study.data["elements"]}
    arms = {a["armcd"]: a["elements"] for a in study.arms}
    starts = {e["starts_at"].split(".", 1)[1] for e in elements.values()}
    wanted = dict.fromkeys(["USUBJID", "ACTARMCD", "ARMCD", "RFPENDTC", *sorted(starts)])  # not every DM variable
    dm = pd.DataFrame({k: ctx.datasets["DM"][k].array for k in wanted if k in ctx.datasets["DM"]}, copy=False)
    arm = dm["ACTARMCD"].fillna(dm["ARMCD"]).fillna(study.arms[0]["armcd"])
    rows = []
    for order in range(max(len(v) for v in arms.values())):
        etcd = arm.map({k: v[order] for k, v in arms.items() if order < len(v)})
        start = pd.Series(pd.NA, index=dm.index, dtype="str")
        for code in etcd.dropna().unique():
            col = elements[code]["starts_at"].split(".", 1)[1]
            start = start.mask(etcd == code, dm[col])
        rows.append(pd.DataFrame({"USUBJID": dm["USUBJID"], "ETCD": etcd, "TAETORD": order + 1, "SESTDTC": start}))
    se = pd.concat(rows, ignore_index=True)
    started = se.sort_values(["USUBJID", "TAETORD"], kind="stable")
    began = started["SESTDTC"].notna().astype("int8")
    started = started[began.groupby(started["USUBJID"].to_numpy()).cummin().astype(bool).to_numpy()]
    nxt = started.groupby("USUBJID")["SESTDTC"].shift(-1)
    end = started["USUBJID"].map(dm.set_index("USUBJID")["RFPENDTC"])
    started = started.assign(SEENDTC=nxt.fillna(end).astype("str"))
    started["ELEMENT"] = started["ETCD"].map({k: e["element"] for k, e in elements.items()})
    started["EPOCH"] = started["ETCD"].map({k: e["epoch"] for k, e in elements.items()})
    return started.astype({"TAETORD": "Int64", "SESTDTC": "str", "ETCD": "str"})


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


DataFact = Callable[[Context], Any]
# What TS states about this transfer's data (study.yaml trial_summary `from: data.<fact>`), from SDTM datasets and
# the run's facts only; DATA_FACT_METHODS says how, in define.xml.
DATA_FACTS: dict[str, DataFact] = {
    "enrolled_subjects": lambda ctx: int(ctx.datasets["DM"]["ARMCD"].notna().sum()),
    "cutoff": lambda ctx: ctx.facts.get("cutoff") or ctx.facts.get("data_as_of"),
}
DATA_FACT_METHODS: dict[str, str] = {
    "enrolled_subjects": (
        "Number of subjects in DM with ARMCD populated: every subject assigned to an arm, treated or not, as the CT "
        "definition of ACTSUB (C98703) counts them: actual number of subjects enrolled; screen failures have no arm"
    ),
    "cutoff": (
        "The data cut date of the export, or without a cut the date the data are as of: the latest date in the "
        "valid raw data (manifest.json data_as_of)"
    ),
}


def trial_summary(ctx: Context) -> pd.DataFrame:
    """TS records from study.yaml's trial_summary: TSSEQ, TSPARMCD, TSPARM, TSVAL, TSVALCD, TSVCDREF, TSVCDVER.
    `from: data.<fact>` takes a value measured on this transfer's data (a fact with no value is left out)."""
    specs = ctx.specs
    parm = specs.codelists["TSPARMCD"]
    names = {t.code: t.value for t in specs.codelists["TSPARM"].terms}
    rows = []
    for entry in specs.study.data["trial_summary"]:
        if "value" in entry:
            values = entry["value"]
        elif entry["from"].startswith("data."):
            values = DATA_FACTS[entry["from"].removeprefix("data.")](ctx)
            if values is None:
                continue
        else:
            values = specs.study.lookup(entry["from"])
        values = values if isinstance(values, list) else [values]
        if entry.get("format") == "iso_years":
            values = [f"P{v}Y" for v in values]
        cl = specs.codelists.get(entry.get("codelist", ""))
        for seq, value in enumerate(dict.fromkeys(str(v) for v in values), start=1):
            rows.append(
                {
                    "TSSEQ": seq,
                    "TSPARMCD": entry["parmcd"],
                    "TSPARM": names[parm.code_of(entry["parmcd"])],
                    "TSVAL": value,
                    "TSVALCD": cl.code_of(value) if cl else None,
                    "TSVCDREF": "CDISC CT" if cl else entry.get("ref"),
                    "TSVCDVER": specs.ct_release if cl else None,
                }
            )
    return pd.DataFrame(rows).astype(
        {
            "TSSEQ": "Int64",
            "TSPARMCD": "str",
            "TSPARM": "str",
            "TSVAL": "str",
            "TSVALCD": "str",
            "TSVCDREF": "str",
            "TSVCDVER": "str",
        }
    )


# name -> (function, signature). Record filters return a boolean mask; record sources return the records.
VARIABLE_DERIVATIONS: dict[str, tuple[Callable[..., pd.Series], Signature]] = {
    "age": (age, Signature({"birth": "column", "at": "column"})),
    "arm_by_dose": (arm_by_dose, Signature({"dose": "ref", "order": "ref", "tolerance": "study"})),
    "last_contact": (last_contact, Signature({"dates": "columns"}, optional=frozenset({"dates"}))),
    "rule_text": (rule_text, Signature({"rule": "column"})),
    "dlt_flag": (
        dlt_flag,
        Signature(
            {
                "rule": "study",
                "day": "variable",
                "grade": "variable",
                "relation": "variable",
                "term": "variable",
                "began": "variable",
                "ended": "variable",
            }
        ),
    ),
    "last_before_exposure": (
        last_before_exposure,
        Signature({"test": "variable", "date": "variable", "reference": "ref"}),
    ),
}
RECORD_FILTERS: dict[str, tuple[Callable[..., pd.Series], Signature]] = {
    "criterion_not_met": (criterion_not_met, Signature({"code": "column", "answer": "column"})),
}
RECORD_SOURCES: dict[str, tuple[Callable[..., pd.DataFrame], Signature, tuple[str, ...], tuple[str, ...]]] = {
    # name -> (function, signature, the fields it yields, the datasets it reads: DOMAIN.VAR or DOMAIN.*)
    "trial_summary": (
        trial_summary,
        Signature({}),
        ("TSSEQ", "TSPARMCD", "TSPARM", "TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER"),
        ("DM.*",),
    ),
    "subject_elements": (
        subject_elements,
        Signature({}),
        ("USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC"),
        ("DM.*",),
    ),
}

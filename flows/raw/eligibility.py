"""The eligibility rules of study.yaml evaluated on the valid raw rows and compared with the investigator's
checklist. A disagreement is a warning, never a reject: IE keeps reporting what the investigator ticked.

Every raw file and column is found by its contract's roles (flows/spec/checks.py ROLES), every criterion, visit and
instrument by study.yaml, so nothing here knows the study. Each check answers, per subject, whether the criterion's
statement holds on the data ("Y"/"N", as the checklist's ANSWER does: for an exclusion, Y means it applies), or
gives no answer where the data cannot tell (no row at a visit the rule names, an incomplete scale)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from flows.kernel.dates import completed_years, impute_first, parse_date
from flows.kernel.distinct import Distinct, distinct_rows
from flows.kernel.keys import subject_ids
from flows.spec.checks import AT_ROLES, CHECKLIST_ROLES, RULE_ROLES
from flows.spec.model import RawContract, Specs

WARNING_COLUMNS = ["USUBJID", "IETESTCD", "data", "data_says", "checklist", "file", "line"]
NOT_EVALUATED = {
    "washout": "needs the dates of prior therapies, infections, vaccinations or surgery; no raw file holds them",
}

Answers = tuple[pd.Series, Callable[[pd.Index], pd.Series]]  # per USUBJID "Y"/"N", and the data behind them


@dataclass(frozen=True)
class Eligibility:
    """Warnings (one row per subject and criterion where data and checklist disagree) and, per criterion with a
    rule, how many subjects were evaluated, or why none could be."""

    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WARNING_COLUMNS))
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def manifest(self) -> list[dict[str, Any]]:
        """The warnings as JSON-ready records."""
        return [
            {k: (int(v) if k == "line" else str(v)) for k, v in row.items()}
            for row in self.warnings.to_dict(orient="records")
        ]


def contract_with(specs: Specs, roles: tuple[str, ...]) -> RawContract:
    """The first raw contract with a column of every role (the spec check made sure there is one)."""
    return next(c for c in specs.raw.values() if all(c.role(r) for r in roles))


def frames_with(
    valid: Mapping[str, pd.DataFrame], specs: Specs, roles: tuple[str, ...]
) -> tuple[pd.DataFrame, RawContract]:
    """The valid rows of every raw contract with columns of all `roles` (the forms of one table may be several
    files, e.g. the MG-ADL and the QMG form), as one frame of the subject and role columns named as the first
    contract names them, and that contract."""
    contracts = [c for c in specs.raw.values() if all(c.role(r) for r in roles)]
    first = contracts[0]
    if len(contracts) == 1:
        return valid[first.name], first
    names = [*first.subject_columns, *(first.role(r) for r in roles)]
    parts = [
        valid[c.name][[*c.subject_columns, *(c.role(r) for r in roles)]].set_axis(names, axis=1) for c in contracts
    ]
    return pd.concat(parts), first


def _arrow(values: pd.Series) -> pa.ChunkedArray:
    return pa.chunked_array(pa.array(values.array))


_DISTINCT: ContextVar[dict | None] = ContextVar("flows.raw.eligibility distinct values", default=None)


def _distinct(frame: pd.DataFrame, column: str) -> Distinct:
    """A column's distinct values and each row's code, worked out once per evaluation (several checks filter the
    same raw file on the same columns: visit, instrument)."""
    cache, key = _DISTINCT.get(), (id(frame), column)
    if cache is not None and key in cache:
        return cache[key][1]
    distinct = distinct_rows(frame, [column])
    if cache is not None:
        cache[key] = (frame, distinct)  # holding the frame keeps its id from being reused
    return distinct


def positions(frame: pd.DataFrame, column: str, table: list[str], keep: np.ndarray | None = None) -> np.ndarray:
    """Position in `table` of each row's value of `column` (-1 where absent), for the rows `keep` selects; looked
    up once per distinct value."""
    distinct = _distinct(frame, column)
    where = {str(v): i for i, v in enumerate(table)}
    lookup = np.array([where.get(v, -1) for v in distinct.rows[column]], dtype="int16")
    return lookup[distinct.codes if keep is None else distinct.codes[keep]]


def matching(frame: pd.DataFrame, allowed: Mapping[str, list[str]]) -> np.ndarray:
    """The rows whose every column in `allowed` holds one of its values, compared once per distinct value."""
    keep = np.ones(len(frame), bool)
    for col, values in allowed.items():
        distinct = _distinct(frame, col)
        keep &= distinct.rows[col].isin([str(v) for v in values]).to_numpy(dtype=bool)[distinct.codes]
    return keep


def rows_in(
    frame: pd.DataFrame, columns: list[str], allowed: Mapping[str, list[str]]
) -> tuple[pd.DataFrame, np.ndarray]:
    """`columns` (and the raw line as `_line`) of the rows whose every column in `allowed` holds one of its values,
    filtered in Arrow, and the mask that selected them."""
    keep = matching(frame, allowed)
    rows = pa.table({c: _arrow(frame[c]) for c in columns}).filter(pa.array(keep))
    lines = np.asarray(frame.index[keep])  # not index.to_numpy()[keep]: a RangeIndex would keep every line's number
    return rows.to_pandas(types_mapper=pd.ArrowDtype).assign(_line=lines), keep


def _ids(frame: pd.DataFrame, contract: RawContract, specs: Specs) -> pd.Series:
    return subject_ids(frame, contract.subject_columns, specs.study.studyid)


def _yn(holds: pd.Series) -> pd.Series:
    return holds.map({True: "Y", False: "N"}).astype("str")


def age_range(rule: Mapping[str, Any], valid: Mapping[str, pd.DataFrame], specs: Specs) -> Answers:
    """Completed years from the date of birth (a partial one imputed to its first day) to the date `at` names."""
    age, at = rule["age"], AT_ROLES[rule["age"]["at"]]
    frame, contract = frames_with(valid, specs, ("BIRTH_DATE", at))
    birth, ref = frame[contract.role("BIRTH_DATE")], frame[contract.role(at)]
    years = completed_years(impute_first(birth), parse_date(ref))
    known = years.notna().to_numpy()
    ids = _ids(frame, contract, specs)[known].to_numpy()
    years, birth, ref = (s[known].set_axis(ids) for s in (years, birth, ref))
    answers = _yn((years >= age["min"]) & (years <= age["max"]))

    def data(subjects: pd.Index) -> pd.Series:
        y, b, r = (s.reindex(subjects).astype("str") for s in (years, birth, ref))
        unit = str(age["unit"]).lower()
        return "age " + y + f" {unit} (birth " + b + f", {age['at']} " + r + f"); range {age['min']}-{age['max']}"

    return answers, data


def class_in(rule: Mapping[str, Any], valid: Mapping[str, pd.DataFrame], specs: Specs) -> Answers:
    """The instrument's class recorded at the visit is one of the rule's classes."""
    frame, contract = frames_with(valid, specs, RULE_ROLES["class_in"])
    visit, inst, result = (contract.role(r) for r in RULE_ROLES["class_in"])
    classes = specs.study.data["instruments"][rule["instrument"]].get("classes", [])
    rows, _ = rows_in(frame, [*contract.subject_columns, result], {visit: [rule["visit"]], inst: [rule["instrument"]]})
    rows = rows[rows[result].isin(classes).to_numpy(dtype=bool)]
    found = pd.Series(rows[result].array, index=pd.Index(_ids(rows, contract, specs).array))
    found = found[~found.index.duplicated()]
    answers = _yn(found.isin(rule["classes"]))
    label = f"{rule['instrument']} class at {rule['visit']}: "
    return answers, lambda subjects: label + found.reindex(subjects).astype("str")


def score_threshold(rule: Mapping[str, Any], valid: Mapping[str, pd.DataFrame], specs: Specs) -> Answers:
    """At every visit of the rule some instrument's item sum reaches its minimum, with the instrument's ocular items
    below `ocular_share_below` of that sum. A visit without a complete scale of every instrument, unless one of them
    passes, gives no answer; one failing visit answers N."""
    frame, contract = frames_with(valid, specs, RULE_ROLES["score_threshold"])
    roles = tuple(contract.role(r) for r in RULE_ROLES["score_threshold"])
    sums = item_sums(frame, contract, rule, roles, specs)
    instruments = specs.study.data["instruments"]
    need = np.array([len(instruments[t["instrument"]]["items"]) for t in rule["any_of"]])
    low = np.array([float(t["min"]) for t in rule["any_of"]])
    complete = sums.n == need  # (subjects, visits, instruments), broadcast over the last axis
    passes = complete & (sums.total >= low)
    if rule.get("ocular_share_below") is not None:
        passes &= sums.ocular < rule["ocular_share_below"] * sums.total
    any_pass, fails = passes.any(axis=2), ~passes.any(axis=2) & complete.all(axis=2)  # a visit fails: all scored
    says = np.where(fails.any(axis=1), "N", np.where(any_pass.all(axis=1), "Y", ""))
    answers = pd.Series(says, index=sums.ids, dtype="str")
    answers = answers[answers != ""]

    def data(wanted: pd.Index) -> pd.Series:
        at = pd.Series(np.arange(len(sums.ids)), index=sums.ids)
        texts = []
        for subject in wanted:
            i = at.get(subject)
            visits = (
                []
                if i is None
                else [
                    f"{v}: "
                    + ", ".join(
                        f"{t['instrument']} {sums.total[i, j, k]:.0f} (ocular {sums.ocular[i, j, k]:.0f}"
                        + (")" if complete[i, j, k] else ", incomplete)")
                        for k, t in enumerate(rule["any_of"])
                        if sums.n[i, j, k]
                    )
                    for j, v in enumerate(rule["visits"])
                    if sums.n[i, j].any()
                ]
            )
            texts.append("; ".join(visits) or "no scores at " + ", ".join(rule["visits"]))
        return pd.Series(texts, index=wanted, dtype="str")  # only for the few subjects warned about

    return answers, data


@dataclass(frozen=True)
class ItemSums:
    """Per subject (ids), rule visit and rule instrument: the sum of the instrument's item scores (total), of its
    ocular items (ocular) and how many items have a score (n), as arrays of shape (subjects, visits, instruments)."""

    ids: np.ndarray
    total: np.ndarray
    ocular: np.ndarray
    n: np.ndarray


def item_sums(
    frame: pd.DataFrame, contract: RawContract, rule: Mapping[str, Any], roles: tuple[str, ...], specs: Specs
) -> ItemSums:
    """The rule instruments' item scores at the rule visits summed per subject. Every column is read as integer
    codes (looked up once per distinct value) and the rows summed by np.bincount: no text is copied, and the codes
    of the whole file are held one column at a time."""
    visit, inst, item, result = roles
    instruments = specs.study.data["instruments"]
    names = [t["instrument"] for t in rule["any_of"]]
    items = [(i["code"], k, bool(i.get("ocular"))) for k, n in enumerate(names) for i in instruments[n]["items"]]
    keep = matching(frame, {visit: list(rule["visits"]), inst: names})
    visit_i, inst_i = positions(frame, visit, rule["visits"], keep), positions(frame, inst, names, keep)
    distinct = distinct_rows(frame, [item])  # -1: a total or class row, not an item of the rule's instruments
    at = {c: i for i, (c, _, _) in enumerate(items)}
    item_i = np.array([at.get(v, -1) for v in distinct.rows[item]], dtype="int16")[distinct.codes[keep]]
    distinct = distinct_rows(frame, [result])
    values = pd.to_numeric(distinct.rows[result], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    result_i = distinct.codes[keep]  # the score of a row is values[result_i], looked up once it is known to count
    own = np.array([k for _, k, _ in items] + [-1], dtype=np.int16)  # the instrument of each item (-1: none)
    scored = (own[item_i] == inst_i) & ~np.isnan(values)[result_i]  # its own items
    ocular = scored & np.array([o for _, _, o in items] + [False])[item_i]
    del item_i
    distinct = distinct_rows(frame, contract.subject_columns)
    code = distinct.codes[keep]
    seen = np.zeros(len(distinct.rows), bool)
    seen[code] = True
    present = np.flatnonzero(seen)  # the subjects seen at a rule visit, in code order
    ids = _ids(distinct.rows.iloc[present], contract, specs).to_numpy(dtype=object)
    del distinct
    shape = (len(ids), len(rule["visits"]), len(names))
    size = int(np.prod(shape))
    kind = np.int32 if size < np.iinfo(np.int32).max else np.int64
    key = (np.cumsum(seen, dtype=kind) - 1)[code]  # each row's subject among those present, then its cell:
    del code, seen
    key *= shape[1]  # in place, in the smallest type: 10^7 rows leave no room for wide temporaries
    key += visit_i
    key *= shape[2]
    key += inst_i
    del visit_i, inst_i
    key, at_ocular, score = key[scored], ocular[scored], values[result_i[scored]]  # only the scored rows count
    return ItemSums(
        ids,
        np.bincount(key, weights=score, minlength=size).reshape(shape),
        np.bincount(key[at_ocular], weights=score[at_ocular], minlength=size).reshape(shape),
        np.bincount(key, minlength=size).reshape(shape),
    )


CHECKS: dict[str, Callable[[Mapping[str, Any], Mapping[str, pd.DataFrame], Specs], Answers]] = {
    "age_range": age_range,
    "class_in": class_in,
    "score_threshold": score_threshold,
}


def checklist(valid: Mapping[str, pd.DataFrame], specs: Specs, codes: list[str]) -> pd.DataFrame:
    """The investigator's answers to the criteria `codes`: USUBJID, IETESTCD, checklist (the answer), raw file and
    line."""
    contract = contract_with(specs, CHECKLIST_ROLES)
    frame = valid[contract.name]
    crit, answer = (contract.role(r) for r in CHECKLIST_ROLES)
    rows, _ = rows_in(frame, [*contract.subject_columns, crit, answer], {crit: codes})
    return pd.DataFrame(
        {
            "USUBJID": _ids(rows, contract, specs).array,
            "IETESTCD": rows[crit].array,
            "checklist": rows[answer].array,
            "file": contract.file,
            "line": rows["_line"].array,
        }
    )


def evaluate_eligibility(valid: Mapping[str, pd.DataFrame], specs: Specs) -> Eligibility:
    """Every criterion with a rule checked on the data against the checklist; warnings in study order."""
    ruled = [c for c in specs.study.criteria if c.get("rule")]
    if not ruled:
        return Eligibility()
    token = _DISTINCT.set({})  # visit and instrument codes shared by the checks of this evaluation, then dropped
    try:
        return _evaluate(valid, specs, ruled)
    finally:
        _DISTINCT.reset(token)


def _evaluate(valid: Mapping[str, pd.DataFrame], specs: Specs, ruled: list[Mapping[str, Any]]) -> Eligibility:
    evaluated = [c["code"] for c in ruled if c["rule"]["check"] in CHECKS]  # washout rules only: no checklist read
    answers = checklist(valid, specs, evaluated) if evaluated else pd.DataFrame(columns=["IETESTCD", "USUBJID"])
    parts, checks = [], {}
    for c in ruled:
        check = c["rule"]["check"]
        if check not in CHECKS:
            checks[c["code"]] = {"check": check, "not_evaluated": NOT_EVALUATED.get(check, "no evaluator")}
            continue
        says, data = CHECKS[check](c["rule"], valid, specs)
        mine = answers[answers["IETESTCD"] == c["code"]]
        mine = mine.assign(data_says=mine["USUBJID"].map(says))
        judged = mine[mine["data_says"].notna()]
        bad = judged[judged["data_says"] != judged["checklist"]]
        checks[c["code"]] = {"check": check, "evaluated": len(judged), "warnings": len(bad)}
        if len(bad):
            parts.append(bad.assign(data=data(pd.Index(bad["USUBJID"])).to_numpy()))
    if not parts:
        return Eligibility(checks=checks)
    warnings = pd.concat(parts, ignore_index=True)
    order = {c["code"]: i for i, c in enumerate(ruled)}
    warnings = warnings.assign(_o=warnings["IETESTCD"].map(order)).sort_values(["USUBJID", "_o"], kind="stable")
    return Eligibility(warnings[WARNING_COLUMNS].reset_index(drop=True).astype({"line": "int64"}), checks)

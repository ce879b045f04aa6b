"""Seeded generator of realistic sample raw EDC exports (enrollment, dosing, assessments, eligibility, AEs, vitals).
Study facts come from the parsed study spec; only generator knobs (shares, spacing, distributions) live here."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

REPO = Path(__file__).resolve().parents[2]
STUDY_SPEC = REPO / "specs" / "study.yaml"
RAW_SPECS = REPO / "specs" / "raw"
MEDDRA_TERMS = Path("dictionaries") / "meddra.yaml"  # beside raw/ in a spec folder: the MedDRA terms coded with
FILES = ("enrollment", "dosing", "assessments", "eligibility", "adverse_events", "vital_signs")

# Composition: SAMPLE_SCREENED screened subjects yield the planned enrollment; shares scale with N.
SAMPLE_SCREENED = 34
UNDOSED_SHARE = 1 / SAMPLE_SCREENED
SECOND_FAILURE_SHARE = 0.3  # screen failures failing two criteria
# Time spacing (days).
CONSENT_LEAD = 3  # consent 0..3 days before the screening visit
FIRST_INFUSION_SLACK = 14
INFUSION_GAP = (3, 10)  # between infusions of one cohort
COHORT_PAUSE = 28  # safety observation before the next dose level
LAST_INFUSION_MARGIN = 14  # no infusion in the last days before the data cut
FAILURE_EOS = (2, 10)  # screening visit to screen-failure end of study
WITHDRAWAL = (0, 3)  # baseline visit to withdrawal of the undosed subject
DEATH_DAY = (40, 150)  # study day of the death
# Demography.
FEMALE_SHARE = 0.62
RACES = {"ASIAN": 0.96, "WHITE": 0.02, "OTHER": 0.01, "NOT REPORTED": 0.01}
ETHNICITY = "NOT HISPANIC OR LATINO"
AGE_MEAN, AGE_SD = 46.0, 14.0
YOUNG_FAILURE_SHARE = 0.3  # age failures below the range (others above)
AGE_FAILURE_YEARS = 5  # how far outside the age range an age failure goes
PARTIAL_MONTH_SHARE, PARTIAL_YEAR_SHARE = 0.08, 0.04
FEMALE_ONLY = re.compile(r"pregnan|breastfeed", re.IGNORECASE)  # criteria only a woman can fail
WEIGHT_MEAN, WEIGHT_SD, WEIGHT_RANGE = 62.0, 11.0, (45.0, 95.0)
# Dosing.
DOSE_SPREAD = 0.05  # actual cells/kg within +-5% of the level (capped at half the study tolerance)
INFUSION_START = (9 * 60, 12 * 60 - 1)  # minutes after midnight
INFUSION_MINUTES = (20, 45)
# Scores: item probability ~ severity; ocular items milder; CAR-T response shrinks scores after infusion.
SEVERITY = (4.5, 5.5)  # beta parameters of the item probability before infusion
SCORE_MISS = 4  # a screen failure on a score threshold misses it by 1..4 points
VISIT_NOISE = 0.05
OCULAR_FACTOR = 0.6
CLASS_SHIFT = 0.15  # chance the MGFA class moves one step between pre-infusion visits
RESPONSE = (5.0, 2.0)  # beta parameters of the fraction of symptoms removed at plateau
RESPONSE_TAU = 30.0  # days to ~63% of the plateau response
# End-of-study reasons (CT codelist NCOMPLT).
EOS_REASONS = ("", "COMPLETED", "DEATH", "WITHDRAWAL BY SUBJECT", "SCREEN FAILURE")
COMPLETED, DEATH, WITHDRAWN, SCREEN_FAILURE = 1, 2, 3, 4
TOTAL_ITEM, CLASS_ITEM = "TOTAL", "CLASS"  # raw item codes when the assessments contract does not name them
NOT_MET_WHEN = {"INCLUSION": "N", "EXCLUSION": "Y"}  # IECAT convention when the spec does not say
DOSED, UNDOSED, FAILED = 0, 1, 2
AE_STREAM = 11  # adverse events draw from their own stream: the other files keep their bytes for a seed
ASSIGN_STREAM = 12  # so do assignment dates: the other columns keep their values for a seed
AE_TIME_STREAM = 13  # and AE onset times: the AE columns before them keep their values for a seed
VS_STREAM = 14  # and vital signs, which follow the CRS events of the adverse events
AFTER_INFUSION = 60  # minutes: the earliest onset of a timed event after the end of the infusion, on day 1
DAY_MINUTES = 24 * 60
HIERARCHY = ("llt", "pt", "hlt", "hlgt", "soc")  # MedDRA levels of the term table, in the raw contract's order
_DEFAULT_STR = pd.array([], dtype=str).dtype  # pandas >= 3: the pyarrow-backed `str` dtype
STRINGS = _DEFAULT_STR if isinstance(_DEFAULT_STR, pd.StringDtype) else pd.StringDtype("pyarrow")


@dataclass(frozen=True)
class _Scale:
    name: str
    items: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    ocular: np.ndarray


@dataclass(frozen=True)
class _Design:
    """The study facts the generator uses, pulled out of the study spec once."""

    site: str
    armcd: tuple[str, ...]
    dose: np.ndarray
    planned: int
    start: int
    age: tuple[int, int]
    visits: tuple[str, ...]
    day: np.ndarray
    window: np.ndarray
    infusion: int
    scales: tuple[_Scale, ...]
    class_instrument: str
    classes: tuple[str, ...]
    criteria: tuple[Mapping[str, Any], ...]
    not_met: tuple[str, ...]
    enrolled: str
    failed: str
    dose_tolerance: float
    product: str


def _day(iso: str) -> int:
    return int(np.datetime64(str(iso), "D").astype(np.int64))


def _design(study: Mapping[str, Any]) -> _Design:
    """Pull the facts out of the study spec, failing with the missing key named."""
    try:
        schedule = study["visits"]["schedule"]
        instruments = study["instruments"]
        scales = tuple(
            _Scale(
                name,
                tuple(i["code"] for i in inst["items"]),
                np.array([i["min"] for i in inst["items"]], np.int16),
                np.array([i["max"] for i in inst["items"]], np.int16),
                np.array([bool(i.get("ocular", False)) for i in inst["items"]]),
            )
            for name, inst in instruments.items()
            if "items" in inst
        )
        class_name = next(name for name, inst in instruments.items() if "classes" in inst)
        criteria = tuple(study["criteria"]["list"])
        not_met = study["criteria"].get("not_met_when", NOT_MET_WHEN)
        age_rules = [c["rule"]["age"] for c in criteria if (c.get("rule") or {}).get("check") == "age_range"]
        age = next((a for a in age_rules if a), study["population"]["age"])
        return _Design(
            site=str(study["sites"][0]["id"]),
            armcd=tuple(a["armcd"] for a in study["arms"]),
            dose=np.array([float(a["dose"]) for a in study["arms"]]),
            planned=int(study["planned_enrollment"]),
            start=_day(study["start_date"]),
            age=(int(age["min"]), int(age["max"])),
            visits=tuple(v["visit"] for v in schedule),
            day=np.array([v["day"] for v in schedule], np.int64),
            window=np.array([v["window"] for v in schedule], np.int64),
            infusion=next(i for i, v in enumerate(schedule) if v.get("infusion")),
            scales=scales,
            class_instrument=class_name,
            classes=tuple(instruments[class_name]["classes"]),
            criteria=criteria,
            not_met=tuple(not_met[c["category"]] for c in criteria),
            enrolled=study["screening_outcomes"]["enrolled"],
            failed=study["screening_outcomes"]["failed"],
            dose_tolerance=float(study["treatment"]["dose_tolerance"]),
            product=re.sub(r"[^A-Z0-9]", "", str(study["treatment"]["name"]).split()[0].upper()),
        )
    except (KeyError, StopIteration, TypeError) as exc:
        raise ValueError(f"study spec: missing or malformed entry ({exc!r}); see specs/study.yaml") from exc


def _offset(study_day: np.ndarray) -> np.ndarray:
    """Days after the infusion date of a study day (there is no day 0)."""
    return np.where(study_day >= 1, study_day - 1, study_day)


# ---------------------------------------------------------------------------------------------------------------
# Who is screened when


@dataclass(frozen=True)
class _Subjects:
    """Per-subject arrays in subject (consent) order; dates are days since 1970-01-01, -1 when blank."""

    kind: np.ndarray
    arm: np.ndarray
    consent: np.ndarray
    dates: np.ndarray  # (N, V) visit dates
    rel: np.ndarray  # (N, V) study day of each visit
    seen: np.ndarray  # (N, V) visit took place by the data cut
    eos: np.ndarray
    reason: np.ndarray
    death: np.ndarray


def _composition(design: _Design, n: int) -> tuple[int, int, int]:
    dosed = min(n, max(1, round(n * design.planned / SAMPLE_SCREENED)))
    undosed = min(n - dosed, max(1 if n >= 3 else 0, round(n * UNDOSED_SHARE)))
    return dosed, undosed, n - dosed - undosed


def _escalate(
    rng: np.random.Generator, n: int, arms: int, first: int, last: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Infusion days of n dosed subjects in equal sequential cohorts, compressed to fit [first, last]."""
    sizes = np.array([n // arms + (k < n % arms) for k in range(arms)])
    cohort = np.repeat(np.arange(arms), sizes)
    heads = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gaps = rng.integers(INFUSION_GAP[0], INFUSION_GAP[1] + 1, n)
    gaps[heads[sizes > 0]] = 0
    cum = np.cumsum(gaps)
    within = cum - cum[heads[cohort]]
    spans = np.zeros(arms, np.int64)
    np.maximum.at(spans, cohort, within)
    room = last - first
    natural = spans.sum() + (arms - 1) * COHORT_PAUSE
    if natural <= room:
        pause, scale = COHORT_PAUSE, 1.0
    else:
        pause = max(1, int(COHORT_PAUSE * room / natural))
        if room < (arms - 1) * pause:
            raise ValueError(f"no room for {arms} sequential cohorts in {room} days before the data cut")
        scale = (room - (arms - 1) * pause) / max(1, spans.sum())
    within = np.floor(within * scale).astype(np.int64)
    spans = np.zeros(arms, np.int64)
    np.maximum.at(spans, cohort, within)
    starts = first + np.concatenate([[0], np.cumsum(spans + pause)[:-1]])
    return starts[cohort] + within, cohort, starts, starts + spans


def _jitter(rng: np.random.Generator, design: _Design, n: int) -> np.ndarray:
    """Study day of each visit: the nominal day with noise, inside its window."""
    lo, hi = design.window[:, 0], design.window[:, 1]
    noise = rng.normal(0.0, (hi - lo) / 6.0, (n, len(design.day)))
    return np.clip(np.rint(design.day + noise).astype(np.int64), lo, hi)


def _plan(design: _Design, n: int, as_of: int, rng: np.random.Generator) -> _Subjects:
    """Composition, escalation timeline, visits seen by the data cut and end of study; sorted by consent."""
    n_dosed, n_undosed, n_failed = _composition(design, n)
    n_enrolled = n_dosed + n_undosed
    arms, infusion = len(design.armcd), design.infusion
    earliest = design.start + CONSENT_LEAD - int(_offset(design.window[:1, 0])[0])
    latest = as_of - LAST_INFUSION_MARGIN
    if latest < earliest:
        raise ValueError(f"data cut {np.datetime64(as_of, 'D')} leaves no time for an infusion after study start")
    first = min(earliest + int(rng.integers(0, FIRST_INFUSION_SLACK + 1)), latest)
    inf_dosed, arm_dosed, starts, ends = _escalate(rng, n_dosed, arms, first, latest)
    used = np.flatnonzero(np.bincount(arm_dosed, minlength=arms))
    arm_undosed = used[rng.integers(0, len(used), n_undosed)]
    inf_undosed = starts[arm_undosed] + np.floor(
        rng.random(n_undosed) * (ends[arm_undosed] - starts[arm_undosed] + 1)
    ).astype(np.int64)
    inf = np.concatenate([inf_dosed, inf_undosed])

    rel = _jitter(rng, design, n)
    rel[:, infusion] = design.day[infusion]
    dates = np.zeros((n, len(design.visits)), np.int64)
    dates[:n_enrolled] = inf[:, None] + _offset(rel[:n_enrolled])
    for v in range(1, dates.shape[1]):  # windows should not overlap; keep the order if they do
        dates[:n_enrolled, v] = np.maximum(dates[:n_enrolled, v], dates[:n_enrolled, v - 1] + 1)
    consent = np.empty(n, np.int64)
    consent[:n_enrolled] = dates[:n_enrolled, 0] - rng.integers(0, CONSENT_LEAD + 1, n_enrolled)
    last_consent = int(consent[:n_enrolled].max())
    consent[n_enrolled:] = design.start + np.floor(rng.random(n_failed) * (last_consent - design.start + 1)).astype(
        np.int64
    )
    dates[n_enrolled:, :] = (consent[n_enrolled:] + rng.integers(0, CONSENT_LEAD + 1, n_failed))[:, None]

    kind = np.repeat([DOSED, UNDOSED, FAILED], [n_dosed, n_undosed, n_failed])
    arm = np.concatenate([arm_dosed, arm_undosed, np.full(n_failed, -1)])
    pre = design.day < design.day[infusion]
    seen = np.zeros(dates.shape, bool)
    seen[kind == DOSED] = dates[kind == DOSED] <= as_of
    seen[kind == UNDOSED] = pre
    seen[kind == FAILED, 0] = True

    eos = np.full(n, -1, np.int64)
    reason = np.zeros(n, np.int8)
    death = np.full(n, -1, np.int64)
    done = (kind == DOSED) & seen[:, -1]
    eos[done], reason[done] = dates[done, -1], COMPLETED
    last_pre = np.flatnonzero(pre)[-1]
    und = kind == UNDOSED
    eos[und] = np.minimum(
        dates[und, last_pre] + rng.integers(WITHDRAWAL[0], WITHDRAWAL[1] + 1, n_undosed), dates[und, infusion] - 1
    )
    reason[und] = WITHDRAWN
    fail = kind == FAILED
    eos[fail] = np.minimum(dates[fail, 0] + rng.integers(FAILURE_EOS[0], FAILURE_EOS[1] + 1, n_failed), as_of)
    reason[fail] = SCREEN_FAILURE
    if n >= SAMPLE_SCREENED:
        _kill_one(rng, design, as_of, kind, dates, seen, eos, reason, death)

    order = np.lexsort((rng.random(n), consent))
    return _Subjects(
        kind[order],
        arm[order],
        consent[order],
        dates[order],
        rel[order],
        seen[order],
        eos[order],
        reason[order],
        death[order],
    )


def _kill_one(
    rng: np.random.Generator,
    design: _Design,
    as_of: int,
    kind: np.ndarray,
    dates: np.ndarray,
    seen: np.ndarray,
    eos: np.ndarray,
    reason: np.ndarray,
    death: np.ndarray,
) -> None:
    """One dosed subject dies between DEATH_DAY study days; later visits never happen."""
    inf = dates[:, design.infusion]
    candidates = np.flatnonzero((kind == DOSED) & (inf + DEATH_DAY[0] - 1 <= as_of))
    if not len(candidates):
        return
    s = candidates[rng.integers(0, len(candidates))]
    last_day = min(DEATH_DAY[1], as_of - inf[s] + 1)
    day = int(inf[s]) + int(rng.integers(DEATH_DAY[0], last_day + 1)) - 1
    death[s] = eos[s] = day
    reason[s] = DEATH
    seen[s] &= dates[s] <= day


# ---------------------------------------------------------------------------------------------------------------
# What fails screening


def _failure_candidates(design: _Design) -> tuple[list[int], list[int]]:
    """Criteria a screen failure can fail: (data-backed, others) as indices into the criteria list.

    Inclusion criteria without a checkable rule (consent, diagnosis) are confirmed before screening, and a rule
    that looks at a later visit cannot be failed by someone seen only at screening.
    """
    screening = design.visits[0]
    backed, other = [], []
    for i, c in enumerate(design.criteria):
        rule = c.get("rule") or {}
        check = rule.get("check")
        if check == "age_range":
            backed.append(i)
        elif check in ("class_in", "score_threshold"):
            if screening in ([rule["visit"]] if "visit" in rule else rule.get("visits", [])):
                backed.append(i)
        elif c["category"] != "INCLUSION" and check in (None, "washout"):
            other.append(i)
    return backed, other


def _failures(rng: np.random.Generator, design: _Design, kind: np.ndarray) -> np.ndarray:
    """(N, C) bool: criteria each screen failure fails, one or two, varied across the sample."""
    backed, other = _failure_candidates(design)
    cycle = np.array(backed + list(rng.permutation(np.array(other, np.int64))), np.int64)
    failed = np.flatnonzero(kind == FAILED)
    fails = np.zeros((len(kind), len(design.criteria)), bool)
    if not len(failed) or not len(cycle):
        return fails
    pos = rng.permutation(np.arange(len(failed)) % len(cycle))
    fails[failed, cycle[pos]] = True
    two = (rng.random(len(failed)) < SECOND_FAILURE_SHARE) & (len(cycle) > 1)
    second = (pos + rng.integers(1, max(2, len(cycle)), len(failed))) % len(cycle)
    fails[failed[two], cycle[second[two]]] = True
    return fails


def _rule_indices(design: _Design, check: str) -> list[int]:
    return [i for i, c in enumerate(design.criteria) if (c.get("rule") or {}).get("check") == check]


# ---------------------------------------------------------------------------------------------------------------
# Demography


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _birth(
    rng: np.random.Generator, design: _Design, consent: np.ndarray, too_young: np.ndarray, too_old: np.ndarray
) -> pa.Array:
    """Birth dates, some partial; the age at consent is in range (or out, for an age failure) whatever is missing.

    Birth year = consent year - A makes the completed age A or A-1 for any day of that year, so A in
    [min+1, max] is in range and A <= min-1 or A >= max+2 out of range, even for a partial date.
    """
    lo, hi = design.age
    n = len(consent)
    age = np.clip(np.rint(rng.normal(AGE_MEAN, AGE_SD, n)), lo + 1, hi).astype(np.int64)
    age[too_young] = lo - rng.integers(1, AGE_FAILURE_YEARS + 1, int(too_young.sum()))
    age[too_old] = hi + 1 + rng.integers(1, AGE_FAILURE_YEARS + 1, int(too_old.sum()))
    year = _ymd(consent)[0] - age
    month = (year - 1970) * 12 + rng.integers(0, 12, n)
    first = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    length = (month + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - first
    full = _dates(first + np.floor(rng.random(n) * length).astype(np.int64))
    draw = rng.random(n)
    free = ~(too_young | too_old)  # age failures keep a full date, the easiest to check
    year_only = free & (draw < PARTIAL_YEAR_SHARE)
    month_only = free & (draw >= PARTIAL_YEAR_SHARE) & (draw < PARTIAL_YEAR_SHARE + PARTIAL_MONTH_SHARE)
    if not year_only.any() and free.any():
        year_only[np.flatnonzero(free)[rng.integers(0, int(free.sum()))]] = True
        month_only &= ~year_only
    out = pc.if_else(pa.array(year_only), pc.utf8_slice_codeunits(full, 0, 4), full)
    return pc.if_else(pa.array(month_only), pc.utf8_slice_codeunits(full, 0, 7), out)


# ---------------------------------------------------------------------------------------------------------------
# Scores and classes


def _raise_scores(rng: np.random.Generator, x: np.ndarray, scale: _Scale, total: int, share: float | None) -> None:
    """Raise non-ocular items one point at a time until total >= `total` and ocular < share * total."""
    for _ in range(int(scale.hi.sum() - scale.lo.sum()) + 1):
        tot = x.sum(1)
        bad = tot < total
        if share is not None:
            bad |= x[:, scale.ocular].sum(1) >= share * tot
        rows = np.flatnonzero(bad)
        if not len(rows):
            return
        room = (x[rows] < scale.hi) & ~scale.ocular
        pick = np.argmax(rng.random(room.shape) * room, axis=1)
        up = room.any(1)
        x[rows[up], pick[up]] += 1
        down = (x[rows[~up]] > scale.lo) & scale.ocular  # no room left: lower an ocular item
        x[rows[~up], np.argmax(rng.random(down.shape) * down, axis=1)] -= down.any(1).astype(x.dtype)
    raise ValueError(f"{scale.name}: cannot reach a total of {total} with an ocular share below {share}")


def _lower_scores(rng: np.random.Generator, x: np.ndarray, scale: _Scale, below: int) -> None:
    """Lower items one point at a time until the total is just below `below` (1 to SCORE_MISS points)."""
    floor = int(scale.lo.sum())
    if floor >= below:
        raise ValueError(f"{scale.name}: no total below {below} is possible")
    ceiling = np.maximum(below - rng.integers(1, SCORE_MISS + 1, len(x)), floor)
    while True:
        rows = np.flatnonzero(x.sum(1) > ceiling)
        if not len(rows):
            return
        room = x[rows] > scale.lo
        x[rows, np.argmax(rng.random(room.shape) * room, axis=1)] -= 1


def _scores(rng: np.random.Generator, design: _Design, subj: _Subjects, fails: np.ndarray) -> list[np.ndarray]:
    """Item scores (N, V, items) per scale: eligible (or failing) before infusion, improving after it."""
    n, n_visits = subj.dates.shape
    pre = np.flatnonzero(design.day < design.day[design.infusion])
    post = np.flatnonzero(design.day > design.day[design.infusion])
    rules = _rule_indices(design, "score_threshold")
    severity = rng.beta(*SEVERITY, n)
    response = rng.beta(*RESPONSE, n)
    out = []
    for scale in design.scales:
        x = np.zeros((n, n_visits, len(scale.items)), np.int16)
        factor = np.where(scale.ocular, OCULAR_FACTOR, 1.0)
        for v in pre:
            p = np.clip(severity + rng.normal(0.0, VISIT_NOISE, n), 0.02, 0.98)[:, None] * factor
            x[:, v] = scale.lo + rng.binomial(scale.hi - scale.lo, p)
        out.append(x)
    for r in rules:
        rule = design.criteria[r]["rule"]
        share = rule.get("ocular_share_below")
        for cond in rule["any_of"]:
            s = next(i for i, sc in enumerate(design.scales) if sc.name == cond["instrument"])
            for visit in rule["visits"]:
                v = design.visits.index(visit)
                ok = subj.seen[:, v] & ~fails[:, r]
                block = out[s][ok, v]
                _raise_scores(rng, block, design.scales[s], int(cond["min"]), share)
                out[s][ok, v] = block
            bad = fails[:, r]  # screen failures: seen at the first (screening) visit only
            block = out[s][bad, 0]
            _lower_scores(rng, block, design.scales[s], int(cond["min"]))
            out[s][bad, 0] = block
    for scale, x in zip(design.scales, out, strict=True):
        base = x[:, pre[-1]]
        for v in post:
            keep = 1.0 - response * (1.0 - np.exp(-np.maximum(subj.rel[:, v], 0) / RESPONSE_TAU))
            x[:, v] = scale.lo + rng.binomial(base - scale.lo, keep[:, None])
    return out


def _mgfa(rng: np.random.Generator, design: _Design, fails: np.ndarray) -> np.ndarray:
    """(N, V) index of the MGFA class: allowed by every class rule, or breaking the one a subject fails."""
    n = len(fails)
    classes = design.classes
    rules = [
        r
        for r in _rule_indices(design, "class_in")
        if design.criteria[r]["rule"]["instrument"] == design.class_instrument
    ]
    allowed = [
        c
        for c in classes
        if all(
            (c in design.criteria[r]["rule"]["classes"]) == (design.criteria[r]["category"] == "INCLUSION")
            for r in rules
        )
    ]
    if not allowed:
        raise ValueError(f"study spec: no {design.class_instrument} class satisfies every class_in criterion")
    idx = np.array([classes.index(c) for c in allowed])
    pos = rng.integers(0, len(allowed), n)
    out = np.empty((n, len(design.visits)), np.int64)
    for v in range(len(design.visits)):
        shift = np.where(rng.random(n) < CLASS_SHIFT, rng.choice([-1, 1], n), 0)
        pos = np.clip(pos + (shift if v else 0), 0, len(allowed) - 1)
        out[:, v] = idx[pos]
    for r in rules:
        rule, bad = design.criteria[r]["rule"], fails[:, r]
        inside = design.criteria[r]["category"] != "INCLUSION"
        pool = np.array([i for i, c in enumerate(classes) if (c in rule["classes"]) == inside])
        if bad.any() and len(pool):
            out[bad, design.visits.index(rule["visit"])] = pool[rng.integers(0, len(pool), int(bad.sum()))]
    return out


# ---------------------------------------------------------------------------------------------------------------
# String columns


def _text(codes: np.ndarray, table: Sequence[str]) -> pa.Array:
    """Strings of a lookup table by index (fast for millions of rows)."""
    return pa.array(list(table), pa.string()).take(pa.array(np.asarray(codes, np.int32)))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, np.int32), pa.date32()).cast(pa.string())


def _blank(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar("", pa.string()), values)


def _fixed(scaled: np.ndarray, decimals: int) -> pa.Array:
    """Decimal strings of integers scaled by 10**decimals (no float formatting surprises)."""
    unit = 10**decimals
    whole = pa.array(scaled // unit).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(scaled % unit).cast(pa.string()), decimals, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def _numbers(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(np.asarray(values, np.int64)).cast(pa.string()), width, "0")


def _constant(value: str, n: int) -> pa.Array:
    return _text(np.zeros(n, np.int32), [value])


# ---------------------------------------------------------------------------------------------------------------
# The four files


def _dosing(
    rng: np.random.Generator, design: _Design, subj: _Subjects, ids: pa.Array, weight: np.ndarray
) -> dict[str, pa.Array]:
    dosed = np.flatnonzero(subj.kind == DOSED)
    n = len(dosed)
    arm = subj.arm[dosed]
    spread = min(DOSE_SPREAD, design.dose_tolerance / 2)
    cents = np.rint(design.dose[arm] * (1 + rng.uniform(-spread, spread, n)) * 100).astype(np.int64)
    tenths = weight[dosed]
    total = np.rint(cents * tenths / 100.0).astype(np.int64)
    day = subj.dates[dosed, design.infusion]
    start = day * 86400 + rng.integers(INFUSION_START[0], INFUSION_START[1] + 1, n) * 60
    end = start + rng.integers(INFUSION_MINUTES[0], INFUSION_MINUTES[1] + 1, n) * 60
    order = np.lexsort((dosed, day))  # lots are numbered in manufacture (infusion) order within a year
    year = _ymd(day)[0]
    year_sorted = year[order]
    heads = np.concatenate([[0], np.flatnonzero(np.diff(year_sorted)) + 1])
    rank = np.arange(n) - heads[np.cumsum(np.diff(year_sorted, prepend=year_sorted[:1] - 1) != 0) - 1]
    seq = np.empty(n, np.int64)
    seq[order] = rank + 1
    lot = pc.binary_join_element_wise(
        _constant(design.product, n), _numbers(year % 100, 2), _numbers(seq, max(4, len(str(n)))), "-"
    )
    stamp = "%Y-%m-%dT%H:%M"
    return {
        "site": _constant(design.site, n),
        "subject": ids.take(pa.array(dosed)),
        "infusion": _constant("1", n),
        "planned_level": _text(arm, design.armcd),
        "cells_per_kg": _fixed(cents, 2),
        "weight_kg": _fixed(tenths, 1),
        "total_cells": _fixed(total, 1),
        "start": pc.strftime(pa.array(start, pa.timestamp("s")), format=stamp),
        "end": pc.strftime(pa.array(end, pa.timestamp("s")), format=stamp),
        "lot": lot,
    }


def _infusion_minutes(subj: _Subjects, dosing: Mapping[str, pa.Array]) -> np.ndarray:
    """(N, 2) start and end of each subject's infusion in minutes after midnight (0 for subjects not dosed)."""
    out = np.zeros((len(subj.kind), 2), np.int64)
    dosed = np.flatnonzero(subj.kind == DOSED)  # the dosing rows, in the same order
    for k, column in enumerate(("start", "end")):
        hours, minutes = (pc.utf8_slice_codeunits(dosing[column], a, a + 2).cast(pa.int64()) for a in (11, 14))
        out[dosed, k] = hours.to_numpy() * 60 + minutes.to_numpy()
    return out


def _assessments(
    design: _Design,
    subj: _Subjects,
    ids: pa.Array,
    scores: list[np.ndarray],
    mgfa: np.ndarray,
    names: tuple[str, str],
) -> dict[str, pa.Array]:
    """Long rows: per seen visit, each scale's items then its total, and the class before infusion.

    `names` are the item codes of a total and of the class row (the contract's instrument_result rule).
    """
    total_item, class_item = names
    n, n_visits = subj.dates.shape
    pre = design.day < design.day[design.infusion]
    top = max(int(s.hi.sum()) for s in design.scales)
    results = [str(i) for i in range(top + 1)] + list(design.classes)
    slots: list[list[tuple[str, str]]] = []
    for v in range(n_visits):
        row: list[tuple[str, str]] = []
        if v != design.infusion:
            for sc in design.scales:
                row += [(sc.name, item) for item in sc.items] + [(sc.name, total_item)]
            if pre[v]:
                row.append((design.class_instrument, class_item))
        slots.append(row)
    width = max(len(r) for r in slots)
    valid = np.zeros((n_visits, width), bool)
    values = np.zeros((n, n_visits, width), np.int16)
    for v, row in enumerate(slots):
        valid[v, : len(row)] = True
        if not row:
            continue
        col = 0
        for sc, x in zip(design.scales, scores, strict=True):
            k = len(sc.items)
            values[:, v, col : col + k] = x[:, v]
            values[:, v, col + k] = x[:, v].sum(1)
            col += k + 1
        if pre[v]:
            values[:, v, col] = top + 1 + mgfa[:, v]
    flat = np.flatnonzero((subj.seen[:, :, None] & valid[None]).ravel())
    s, slot = np.divmod(flat, n_visits * width)
    sv = s * n_visits + slot // width
    table = [pair for row in slots for pair in row + [("", "")] * (width - len(row))]
    return {
        "site": _constant(design.site, len(flat)),
        "subject": ids.take(pa.array(s.astype(np.int32))),
        "visit": _text(slot // width, design.visits),
        "date": _dates(subj.dates.ravel()).take(pa.array(sv.astype(np.int32))),
        "instrument": _text(slot, [p[0] for p in table]),
        "item": _text(slot, [p[1] for p in table]),
        "result": _text(values.ravel()[flat], results),
    }


def _eligibility(design: _Design, subj: _Subjects, ids: pa.Array, fails: np.ndarray) -> dict[str, pa.Array]:
    n, c = fails.shape
    not_met = np.array([v == "Y" for v in design.not_met])
    met = np.where(fails, not_met[None], ~not_met[None]).ravel()
    s = np.repeat(np.arange(n, dtype=np.int32), c)
    return {
        "site": _constant(design.site, n * c),
        "subject": ids.take(pa.array(s)),
        "criterion": _text(np.tile(np.arange(c), n), [cr["code"] for cr in design.criteria]),
        "met": _text(met.astype(np.int32), ["N", "Y"]),
        "date": _dates(subj.dates[:, 0]).take(pa.array(s)),
    }


def _enrollment(
    rng: np.random.Generator,
    design: _Design,
    subj: _Subjects,
    ids: pa.Array,
    fails: np.ndarray,
    weight: np.ndarray,
) -> dict[str, pa.Array]:
    n = len(subj.kind)
    female_only = [i for i, c in enumerate(design.criteria) if FEMALE_ONLY.search(f"{c.get('test')} {c.get('text')}")]
    female = (rng.random(n) < FEMALE_SHARE) | fails[:, female_only].any(1)
    races = list(RACES)
    race = rng.choice(len(races), n, p=np.array(list(RACES.values())) / sum(RACES.values()))
    initials = [a + b for a in string.ascii_uppercase for b in string.ascii_uppercase]
    ages = _rule_indices(design, "age_range")
    age_fail = fails[:, ages].any(1) if ages else np.zeros(n, bool)
    young = age_fail & (rng.random(n) < YOUNG_FAILURE_SHARE)
    enrolled = subj.kind != FAILED
    return {
        "site": _constant(design.site, n),
        "subject": ids,
        "initials": _text(rng.integers(0, len(initials), n), initials),
        "sex": _text(female.astype(np.int32), ["M", "F"]),
        "birth_date": _birth(rng, design, subj.consent, young, age_fail & ~young),
        "race": _text(race, races),
        "ethnicity": _constant(ETHNICITY, n),
        "consent_date": _dates(subj.consent),
        "screening_outcome": _text(enrolled.astype(np.int32), [design.failed, design.enrolled]),
        "dose_level": _blank(~enrolled, _text(np.maximum(subj.arm, 0), design.armcd)),
        "weight_kg": _blank(~enrolled, _fixed(weight, 1)),
        "eos_date": _blank(subj.eos < 0, _dates(subj.eos)),
        "eos_reason": _text(subj.reason, EOS_REASONS),
        "death_date": _blank(subj.death < 0, _dates(subj.death)),
    }


def _assignment(rng: np.random.Generator, design: _Design, subj: _Subjects) -> pa.Array:
    """Date of assignment to the dose level: from the screening visit (at least a day after consent) to the last
    visit before the infusion, never after a withdrawal; blank for screen failures."""
    last_pre = int(np.flatnonzero(design.day < design.day[design.infusion])[-1])
    lo, hi = np.maximum(subj.dates[:, 0], subj.consent + 1), subj.dates[:, last_pre]
    hi = np.where(subj.eos >= 0, np.minimum(hi, subj.eos), hi)
    return _blank(subj.kind == FAILED, _dates(_between(rng, lo, np.maximum(lo, hi))))


# ---------------------------------------------------------------------------------------------------------------
# Adverse events: CAR-T toxicities after the infusion, dose-dependent, from their own random stream


@dataclass(frozen=True)
class _Event:
    """One kind of adverse event; probabilities go linearly from the lowest dose level to the highest."""

    terms: tuple[str, ...]  # verbatim terms as investigators write them; the first is the MedDRA PT
    risk: tuple[float, float]  # chance a subject has it, lowest and highest level
    onset: tuple[int, int]  # study days (day 1 = infusion)
    days: tuple[tuple[int, int], tuple[int, int]]  # end - start in days, lowest and highest level
    grades: tuple[tuple[float, ...], tuple[float, ...]]  # chances of grades 1-4, lowest and highest level
    related: float  # chance the investigator calls it related to S103
    early: bool = False  # onset skewed to the start of its window
    special: str | None = None  # label in study safety.special_interest (ASTCT-graded, PT from the spec)
    lab: bool = False  # a laboratory abnormality: rarely serious
    timed: bool = False  # onset time collected: during the infusion (onset day 1 only), else after it


EVENTS = (
    _Event(("Cytokine release syndrome", "CRS", "Cytokine release syndrome (CRS)", "Fever due to CRS"),
           (0.45, 0.85), (1, 14), ((1, 6), (2, 8)),
           ((0.76, 0.22, 0.02, 0.0), (0.55, 0.32, 0.10, 0.03)), 1.0, True, "CRS", timed=True),
    _Event(("Immune effector cell-associated neurotoxicity syndrome", "ICANS", "Neurotoxicity (ICANS)"),
           (0.03, 0.18), (3, 12), ((1, 4), (1, 7)),
           ((0.85, 0.15, 0.0, 0.0), (0.45, 0.3, 0.2, 0.05)), 1.0, True, "ICANS"),
    _Event(("Neutrophil count decreased", "Neutropenia", "Decreased neutrophils"),
           (0.55, 0.75), (1, 10), ((5, 21), (7, 42)),
           ((0.25, 0.35, 0.3, 0.1), (0.1, 0.25, 0.4, 0.25)), 0.8, True, lab=True),
    _Event(("Lymphocyte count decreased", "Lymphopenia", "Lymphocytes decreased"),
           (0.8, 0.85), (1, 5), ((7, 30), (10, 45)),
           ((0.05, 0.15, 0.4, 0.4), (0.05, 0.1, 0.4, 0.45)), 0.7, True, lab=True),
    _Event(("Platelet count decreased", "Thrombocytopenia", "Low platelets"),
           (0.2, 0.35), (3, 14), ((5, 18), (5, 40)),
           ((0.5, 0.3, 0.15, 0.05), (0.35, 0.3, 0.23, 0.12)), 0.8, True, lab=True),
    _Event(("Anaemia", "Anemia", "Anaemia NOS"),
           (0.25, 0.35), (3, 21), ((7, 18), (7, 35)),
           ((0.5, 0.4, 0.1, 0.0), (0.4, 0.4, 0.2, 0.0)), 0.6, lab=True),
    _Event(("Infusion related reaction", "Infusion reaction", "Chills during infusion"),
           (0.08, 0.12), (1, 1), ((0, 1), (0, 1)),
           ((0.7, 0.3, 0.0, 0.0), (0.6, 0.4, 0.0, 0.0)), 1.0, timed=True),
    _Event(("Hypogammaglobulinaemia", "Hypogammaglobulinemia", "Low IgG"),
           (0.3, 0.45), (28, 120), ((60, 300), (90, 360)),
           ((0.3, 0.7, 0.0, 0.0), (0.25, 0.75, 0.0, 0.0)), 0.9),
    _Event(("Upper respiratory tract infection", "URTI", "Upper respiratory infection"),
           (0.2, 0.25), (15, 300), ((5, 14), (5, 14)),
           ((0.7, 0.3, 0.0, 0.0), (0.65, 0.35, 0.0, 0.0)), 0.3),
    _Event(("Pneumonia", "Community acquired pneumonia", "Chest infection (pneumonia)"),
           (0.03, 0.08), (20, 250), ((7, 21), (7, 21)),
           ((0.0, 0.5, 0.45, 0.05), (0.0, 0.45, 0.45, 0.1)), 0.5),
    _Event(("COVID-19", "Covid infection", "SARS-CoV-2 infection"),
           (0.08, 0.1), (15, 330), ((5, 14), (5, 14)),
           ((0.6, 0.35, 0.05, 0.0), (0.6, 0.35, 0.05, 0.0)), 0.1),
    _Event(("Herpes zoster", "Shingles"),
           (0.03, 0.06), (30, 300), ((10, 28), (10, 28)),
           ((0.2, 0.8, 0.0, 0.0), (0.2, 0.8, 0.0, 0.0)), 0.4),
    _Event(("Headache", "Head ache"),
           (0.15, 0.2), (1, 20), ((0, 3), (0, 3)),
           ((0.8, 0.2, 0.0, 0.0), (0.8, 0.2, 0.0, 0.0)), 0.4),
    _Event(("Fatigue", "Tiredness"),
           (0.2, 0.3), (1, 30), ((3, 21), (3, 21)),
           ((0.7, 0.3, 0.0, 0.0), (0.65, 0.35, 0.0, 0.0)), 0.5),
    _Event(("Myasthenia gravis", "Worsening of myasthenia gravis", "MG exacerbation"),
           (0.08, 0.05), (1, 300), ((7, 30), (7, 30)),
           ((0.2, 0.6, 0.2, 0.0), (0.2, 0.6, 0.2, 0.0)), 0.05),
)  # fmt: skip
FATAL = _Event(("Sepsis", "Septicaemia"), (0, 0), (0, 0),
               ((3, 10), (3, 10)), ((0, 0, 0, 0), (0, 0, 0, 0)), 0.5)  # fmt: skip  # the subject who dies
NEEDS = {"ICANS": "CRS"}  # ICANS only in a subject who had CRS
SERIOUS_SHARE = (0.0, 0.2, 0.85, 1.0, 1.0)  # chance an event of grade 1..5 is serious
LAB_SERIOUS_FACTOR = 0.1  # ... times this for a laboratory abnormality (not grade 5)
SEQUELAE_SHARE = 0.05  # resolved grade >= 3 events that leave sequelae
RECOVERING_SHARE = 0.4  # events ongoing at the last contact that are improving
INTERRUPTED_SHARE = 0.3  # infusion reactions for which the infusion was interrupted
# Action taken (CT codelist ACN), outcome (OUT), seriousness criteria columns in contract order.
ACTIONS = ("NOT APPLICABLE", "DOSE NOT CHANGED", "DRUG INTERRUPTED")
OUTCOMES = ("RECOVERED/RESOLVED", "RECOVERED/RESOLVED WITH SEQUELAE", "RECOVERING/RESOLVING",
            "NOT RECOVERED/NOT RESOLVED", "FATAL")  # fmt: skip
CRITERIA_COLUMNS = ("results_in_death", "life_threatening", "hospitalization", "disability", "congenital_anomaly",
                    "medically_important")  # fmt: skip


def _safety(study: Mapping[str, Any]) -> tuple[dict[str, str], list[str], list[str]]:
    """(special-interest label -> PT, related AEREL terms, unrelated terms) from the study's safety section."""
    try:
        safety = study["safety"]
        terms, related = list(safety["relationship"]["terms"]), list(safety["relationship"]["related"])
        return dict(safety["special_interest"]), related, [t for t in terms if t not in related]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"study spec: missing or malformed safety entry ({exc!r}); see specs/study.yaml") from exc


def _between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, skew: np.ndarray | None = None) -> np.ndarray:
    """Whole numbers uniform in [lo, hi] (skewed towards lo where skew holds)."""
    u = rng.random(len(lo))
    if skew is not None:
        u = np.where(skew, u * u, u)
    return lo + np.floor(u * (hi - lo + 1)).astype(np.int64)


def _meddra(path: Path, study: Mapping[str, Any]) -> tuple[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]:
    """(version, PT -> its hierarchy) of the MedDRA term table; its version must be the study's."""
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
        version, terms = str(study["safety"]["dictionary"]["version"]), table["terms"]
    except (OSError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: the MedDRA term table is missing or malformed ({exc!r})") from exc
    if str(table.get("version")) != version:
        raise ValueError(f"{path}: MedDRA {table.get('version')}, but the study codes with {version}")
    return version, terms


def _onset_times(
    rng: np.random.Generator, timed: np.ndarray, during: np.ndarray, day_one: np.ndarray, infusion: np.ndarray
) -> np.ndarray:
    """Minutes after midnight of each timed event's onset (-1 for the others): within the infusion
    (`infusion`: start and end minutes of the subject's infusion) for an event during it, from an hour after its
    end to midnight for another event on the infusion day, any time of day later."""
    u = rng.random(len(timed))
    start, end = infusion[:, 0], infusion[:, 1]
    lo = np.where(during, start, np.where(day_one, np.minimum(end + AFTER_INFUSION, DAY_MINUTES - 1), 0))
    hi = np.where(during, end, DAY_MINUTES - 1)
    return np.where(timed, lo + np.floor(u * (hi - lo + 1)).astype(np.int64), -1)


def _clock(minutes: np.ndarray) -> pa.Array:
    """HH:MM of minutes after midnight; blank where negative."""
    text = pc.binary_join_element_wise(
        _numbers(np.maximum(minutes, 0) // 60, 2), _numbers(np.maximum(minutes, 0) % 60, 2), ":"
    )
    return _blank(minutes < 0, text)


def _adverse_events(
    rng: np.random.Generator,
    design: _Design,
    study: Mapping[str, Any],
    subj: _Subjects,
    ids: pa.Array,
    as_of: int,
    meddra: tuple[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
    infusion: np.ndarray,
    time_rng: np.random.Generator,
) -> dict[str, pa.Array]:
    """Events after each infusion, censored at the subject's last contact (end of study, death or the data cut).

    Risk, grades and durations grow with the dose level; the subject who dies gets a fatal event ending that day.
    Each event is coded with the MedDRA hierarchy of its preferred term (`meddra`: version and term table); a
    timed event (CRS, infusion reactions) has its onset time, drawn from `time_rng` with the subject's infusion
    start and end (`infusion`: minutes after midnight, per subject).
    """
    special, related_terms, unrelated_terms = _safety(study)
    dosed = np.flatnonzero(subj.kind == DOSED)
    events = EVENTS
    n_arms = len(design.armcd)
    level = subj.arm[dosed] / max(n_arms - 1, 1)  # 0 at the lowest level, 1 at the highest

    def lerp(pair: Sequence) -> np.ndarray:  # (subjects, kinds[, ...]) from (lowest, highest) per kind
        lo, hi = (np.array([p[k] for p in pair], float) for k in (0, 1))
        shape = (len(level),) + (1,) * lo.ndim
        return lo + (hi - lo) * level.reshape(shape)

    risk = lerp([e.risk for e in events])
    has = rng.random(risk.shape) < risk
    labels = [e.special for e in events]
    for label, need in NEEDS.items():  # conditional on the other event: keep the overall share at `risk`
        if label not in labels or need not in labels:
            continue
        k, j = labels.index(label), labels.index(need)
        has[:, k] = (rng.random(len(dosed)) * risk[:, j] < risk[:, k]) & has[:, j]
    s_idx, kind = np.nonzero(has)
    subject = dosed[s_idx]
    inf = subj.dates[subject, design.infusion]
    onset_lo, onset_hi = (np.array([e.onset[k] for e in events])[kind] for k in (0, 1))
    start = inf + _between(rng, onset_lo, onset_hi, np.array([e.early for e in events])[kind]) - 1
    days = lerp([e.days for e in events])[s_idx, kind]
    length = _between(rng, np.rint(days[:, 0]).astype(np.int64), np.rint(days[:, 1]).astype(np.int64))
    chances = lerp([e.grades for e in events])[s_idx, kind]
    grade = 1 + (rng.random(len(kind))[:, None] > np.cumsum(chances, axis=1) / chances.sum(1, keepdims=True)).sum(1)
    related = rng.random(len(kind)) < np.array([e.related for e in events])[kind]

    dead = np.flatnonzero(subj.death >= 0)
    fatal_start = subj.death[dead] - rng.integers(FATAL.days[0][0], FATAL.days[0][1] + 1, len(dead))
    fatal_start = np.maximum(fatal_start, subj.dates[dead, design.infusion] + 1)
    subject = np.concatenate([subject, dead])
    kind = np.concatenate([kind, np.full(len(dead), len(events))])
    start = np.concatenate([start, fatal_start])
    length = np.concatenate([length, subj.death[dead] - fatal_start])
    grade = np.concatenate([grade, np.full(len(dead), 5)])
    related = np.concatenate([related, rng.random(len(dead)) < FATAL.related])

    last = np.where(subj.eos >= 0, np.minimum(subj.eos, as_of), as_of)[subject]
    keep = start <= last
    subject, kind, start, length, grade, related = (a[keep] for a in (subject, kind, start, length, grade, related))
    last, n = last[keep], int(keep.sum())
    end = start + length
    ongoing = (end > last) & (grade < 5)
    recovering = rng.random(n) < RECOVERING_SHARE
    sequelae = (grade >= 3) & (rng.random(n) < SEQUELAE_SHARE)
    outcome = np.where(ongoing, np.where(recovering, 2, 3), np.where(sequelae, 1, 0))
    outcome[grade == 5] = 4
    lab = np.array([e.lab for e in (*events, FATAL)])[kind]
    serious = rng.random(n) < np.array(SERIOUS_SHARE)[grade - 1] * np.where(lab & (grade < 5), LAB_SERIOUS_FACTOR, 1)
    criteria = np.zeros((n, len(CRITERIA_COLUMNS)), bool)
    criteria[:, 0] = grade == 5
    criteria[:, 1] = grade == 4
    criteria[:, 2] = serious & (rng.random(n) < 0.9)
    criteria[:, 5] = serious & ~criteria[:, :5].any(1)
    infusion_reaction = np.array([e.onset == (1, 1) for e in events] + [False])[kind]
    action = np.where(infusion_reaction, np.where(rng.random(n) < INTERRUPTED_SHARE, 2, 1), 0)
    rel_term = np.where(
        related,
        rng.integers(0, len(related_terms), n),
        len(related_terms) + rng.integers(0, max(len(unrelated_terms), 1), n),
    )
    variant = np.floor(rng.random(n) * np.array([len(e.terms) for e in (*events, FATAL)])[kind]).astype(np.int64)

    order = np.lexsort((kind, start, subject))
    subject, kind, start, end, grade, outcome = (a[order] for a in (subject, kind, start, end, grade, outcome))
    serious, criteria, action, rel_term, variant = (a[order] for a in (serious, criteria, action, rel_term, variant))
    ongoing = ongoing[order]
    heads = np.concatenate([[True], subject[1:] != subject[:-1]]) if n else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(heads, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    number = np.arange(n) - first + 1

    kinds = (*events, FATAL)
    pts = [special[e.special] if e.special else e.terms[0] for e in kinds]
    version, terms = meddra
    missing = sorted(set(pts) - set(terms))
    if missing:
        raise ValueError(f"MedDRA term table: no entry for the preferred term(s) {missing}")
    timed = np.array([e.timed for e in kinds])[kind]
    during = np.array([e.onset == (1, 1) for e in kinds])[kind]
    day_one = start == subj.dates[subject, design.infusion]
    minutes = _onset_times(time_rng, timed, during & day_one, day_one, infusion[subject])
    verbatim = [t for e in kinds for t in e.terms]
    offsets = np.cumsum([0] + [len(e.terms) for e in kinds])[:-1]
    astct = np.array([e.special is not None for e in kinds])[kind]
    yes_no = ["N", "Y"]
    columns = {
        "site": _constant(design.site, n),
        "subject": ids.take(pa.array(subject.astype(np.int32))),
        "ae_number": pa.array(number).cast(pa.string()),
        "verbatim_term": _text(offsets[kind] + variant, verbatim),
        "meddra_version": _constant(version, n),
        "start_date": _dates(start),
        "start_time": _clock(minutes),
        "end_date": _blank(ongoing, _dates(end)),
        "ctcae_grade": pa.array(grade).cast(pa.string()),
        "astct_grade": _blank(~astct, pa.array(grade).cast(pa.string())),
        "serious": _text(serious.astype(np.int32), yes_no),
    }
    for level in HIERARCHY:
        columns[f"meddra_{level}"] = _text(kind, [terms[pt][level]["name"] for pt in pts])
        columns[f"meddra_{level}_code"] = _text(kind, [str(terms[pt][level]["code"]) for pt in pts])
    for k, name in enumerate(CRITERIA_COLUMNS):
        columns[name] = _blank(~serious, _text(criteria[:, k].astype(np.int32), yes_no))
    columns["causality"] = _text(rel_term, related_terms + unrelated_terms)
    columns["action_taken"] = _text(action, ACTIONS)
    columns["outcome"] = _text(outcome, OUTCOMES)
    return columns


# ---------------------------------------------------------------------------------------------------------------
# Vital signs: the form at every visit seen (height at the first) and at the time points after the infusion start,
# from their own random stream; the subjects with CRS in the AE file have fever, and hypotension from grade 2


HEIGHT = {"F": (158.0, 6.0), "M": (170.0, 6.5)}  # cm by sex: mean and SD
HEIGHT_RANGE = (140.0, 195.0)
# (subject mean, subject SD, visit SD, lowest, highest) of each measurement of a well subject
TEMP = (36.6, 0.2, 0.2, 35.8, 37.4)  # degrees C
HEART_RATE = (76.0, 8.0, 5.0, 52, 100)  # beats/min
SYSTOLIC = (120.0, 11.0, 7.0, 95, 160)  # mmHg
DIASTOLIC = (76.0, 7.0, 5.0, 55, 100)  # mmHg
PULSE_PRESSURE = 25  # a well subject's systolic is at least this above the diastolic
VISIT_TIME = (8 * 60, 11 * 60 + 30)  # minutes after midnight of a visit's measurement
FEVER = (381, 396)  # CRS: tenths of a degree at the onset (ASTCT: fever >= 38.0), a grade adds FEVER_GRADE
FEVER_GRADE = 4
FEVER_DAYS = 3  # CRS fever lasts at most this many days of the event
FEVER_FROM = 4 * 60  # no fever at a time point planned earlier than this after the infusion start
FEVER_HEART_RATE = (15, 30)  # beats/min added by the fever
HYPOTENSION = ((76, 88), (44, 54))  # ASTCT grade >= 2: systolic and diastolic on the first HYPOTENSION_DAYS
HYPOTENSION_DAYS = 2
POSITIONS = ("SITTING", "SUPINE")  # seated at a visit, in bed around the infusion
ELAPSED = re.compile(r"^(-)?PT(?:(\d+)H)?(?:(\d+)M)?$")


def _elapsed_minutes(eltm: str) -> int:
    """Minutes of an ISO 8601 planned elapsed time (-PT30M, PT4H, PT312H)."""
    m = ELAPSED.match(str(eltm))
    if not m or not (m[2] or m[3]):
        raise ValueError(f"study spec: vital_signs.timepoints: eltm {eltm!r} is not an ISO 8601 duration like PT4H")
    minutes = int(m[2] or 0) * 60 + int(m[3] or 0)
    return -minutes if m[1] else minutes


def _well(
    rng: np.random.Generator, shape: tuple[float, float, float, float, float], subject: np.ndarray, n: int
) -> np.ndarray:
    """A measurement of well subjects: each subject's own level and a visit's noise, inside the plausible range."""
    mean, sd_subject, sd_visit, lo, hi = shape
    level = rng.normal(mean, sd_subject, n)
    return np.clip(level[subject] + rng.normal(0.0, sd_visit, len(subject)), lo, hi)


def _vital_signs(
    rng: np.random.Generator,
    design: _Design,
    study: Mapping[str, Any],
    subj: _Subjects,
    ids: pa.Array,
    files: Mapping[str, Mapping[str, pa.Array]],
    as_of: int,
) -> dict[str, pa.Array]:
    """One row per visit seen (height at the first visit) and per time point after each infusion start; none after
    the end of study or the data cut. CRS events of the AE file (`files`) show as fever from the onset and, from
    ASTCT grade 2, hypotension near it."""
    try:
        points = list(study["vital_signs"]["timepoints"])
        names = [str(p["tpt"]) for p in points]
        planned = np.array([_elapsed_minutes(p["eltm"]) for p in points], np.int64)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"study spec: missing or malformed vital_signs entry ({exc!r}); see specs/study.yaml") from exc
    n = len(subj.kind)
    # visit rows: every visit seen but the infusion's, whose measurements are the time points
    s_v, v_v = np.nonzero(subj.seen & (np.arange(subj.seen.shape[1]) != design.infusion))
    at_v = subj.dates[s_v, v_v] * 1440 + _between(
        rng, np.full(len(s_v), VISIT_TIME[0]), np.full(len(s_v), VISIT_TIME[1])
    )
    # time-point rows: from each infusion start, jittered by up to 1/24 of the planned time (5 to 60 minutes)
    dosing = files["dosing"]
    d_subject = np.asarray(pc.index_in(dosing["subject"], value_set=ids), np.int64)
    d_start = np.array(pc.strptime(dosing["start"], format="%Y-%m-%dT%H:%M", unit="s").cast(pa.int64())) // 60
    s_t = np.repeat(d_subject, len(points))
    t_t = np.tile(np.arange(len(points)), len(d_subject))
    spread = np.clip(np.abs(planned) // 24, 5, 60)[t_t]
    at_t = np.repeat(d_start, len(points)) + planned[t_t] + _between(rng, -spread, spread)
    last = np.where(subj.eos >= 0, np.minimum(subj.eos, as_of), as_of)
    keep = at_t // 1440 <= last[s_t]
    s_t, t_t, at_t = s_t[keep], t_t[keep], at_t[keep]

    subject = np.concatenate([s_v, s_t])
    visit = np.concatenate([v_v, np.full(len(s_t), design.infusion)])
    point = np.concatenate([np.full(len(s_v), -1), t_t])
    at = np.concatenate([at_v, at_t])
    order = np.lexsort((point, visit, subject))
    subject, visit, point, at = subject[order], visit[order], point[order], at[order]
    rows, day = len(subject), at // 1440

    female = np.asarray(pc.equal(files["enrollment"]["sex"], "F"), bool)
    height = np.where(female, rng.normal(*HEIGHT["F"], n), rng.normal(*HEIGHT["M"], n))
    height = np.rint(np.clip(height, *HEIGHT_RANGE) * 10).astype(np.int64)
    temp = np.rint(_well(rng, TEMP, subject, n) * 10).astype(np.int64)
    heart = np.rint(_well(rng, HEART_RATE, subject, n)).astype(np.int64)
    systolic = np.rint(_well(rng, SYSTOLIC, subject, n)).astype(np.int64)
    diastolic = np.minimum(np.rint(_well(rng, DIASTOLIC, subject, n)).astype(np.int64), systolic - PULSE_PRESSURE)

    special, _, _ = _safety(study)
    ae = files["adverse_events"]
    crs = pc.equal(ae["meddra_pt"], pa.scalar(special.get("CRS", ""), pa.string()))
    if pc.any(crs).as_py():
        # a subject has at most one CRS event (one per kind of event): its onset, end and grade by subject
        c_subject = np.asarray(pc.index_in(ae["subject"].filter(crs), value_set=ids), np.int64)
        c_start = np.asarray(ae["start_date"].filter(crs).cast(pa.date32()).cast(pa.int32()), np.int64)
        ends = pc.if_else(
            pc.equal(ae["end_date"].filter(crs), ""), pa.scalar(None, pa.string()), ae["end_date"].filter(crs)
        )
        c_end = np.asarray(ends.cast(pa.date32()).cast(pa.int32()).fill_null(-1), np.int64)
        c_grade = np.asarray(ae["astct_grade"].filter(crs).cast(pa.int64()), np.int64)
        onset, fever_end, grade = np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n, np.int64)
        onset[c_subject], grade[c_subject] = c_start, c_grade
        fever_end[c_subject] = np.minimum(
            np.where(c_end >= 0, c_end, c_start + FEVER_DAYS - 1), c_start + FEVER_DAYS - 1
        )
        early = (point >= 0) & (planned[np.maximum(point, 0)] < FEVER_FROM)
        fever = (onset[subject] >= 0) & (day >= onset[subject]) & (day <= fever_end[subject]) & ~early
        low = fever & (grade[subject] >= 2) & (day < onset[subject] + HYPOTENSION_DAYS)
        hi = np.minimum(FEVER[1] + FEVER_GRADE * np.maximum(grade[subject] - 1, 0), 409)
        temp = np.where(fever, _between(rng, np.full(rows, FEVER[0]), hi), temp)
        heart = np.where(fever, heart + _between(rng, *(np.full(rows, b) for b in FEVER_HEART_RATE)), heart)
        systolic = np.where(low, _between(rng, *(np.full(rows, b) for b in HYPOTENSION[0])), systolic)
        diastolic = np.where(low, _between(rng, *(np.full(rows, b) for b in HYPOTENSION[1])), diastolic)

    minutes = at % 1440
    clock = pc.binary_join_element_wise(_numbers(minutes // 60, 2), _numbers(minutes % 60, 2), ":")
    first = visit == 0
    return {
        "site": _constant(design.site, rows),
        "subject": ids.take(pa.array(subject.astype(np.int32))),
        "visit": _text(visit, design.visits),
        "timepoint": _text(point + 1, ["", *names]),
        "date": _dates(day),
        "time_of_day": clock,
        "position": _text((point >= 0).astype(np.int32), POSITIONS),
        "height_cm": _blank(~first, _fixed(height[subject], 1)),
        "temperature_c": _fixed(temp, 1),
        "heart_rate": pa.array(heart).cast(pa.string()),
        "systolic_bp": pa.array(systolic).cast(pa.string()),
        "diastolic_bp": pa.array(diastolic).cast(pa.string()),
    }


def _contract(raw_specs: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((raw_specs / f"{name}.yaml").read_text(encoding="utf-8"))


def _result_items(contract: Mapping[str, Any]) -> tuple[str, str]:
    """Item codes of the total and class rows, from the instrument_result rule (defaults as documented)."""
    rule = next((r for r in contract.get("row_rules", []) if r.get("rule") == "instrument_result"), {})
    return rule.get("total_item", TOTAL_ITEM), rule.get("class_item", CLASS_ITEM)


def _frame(name: str, columns: dict[str, pa.Array], wanted: list[str]) -> pd.DataFrame:
    """Frame in the contract's column order; a mismatch names the columns missing on each side."""
    extra, missing = sorted(set(columns) - set(wanted)), sorted(set(wanted) - set(columns))
    if extra or missing:
        raise ValueError(f"{name}: generated columns differ from the contract: missing {missing}, extra {extra}")
    table = pa.table({c: columns[c] for c in wanted})
    return table.to_pandas(types_mapper={pa.string(): STRINGS}.get)


def synthesize(
    study: Mapping[str, Any],
    subjects: int,
    seed: int,
    as_of: str = "2026-10-31",
    raw_specs: Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Return {'enrollment': df, 'dosing': df, 'assessments': df, 'eligibility': df, 'adverse_events': df,
    'vital_signs': df}.

    All columns are str (pandas string dtype, empty string for blank). `subjects` is the number screened;
    `raw_specs` is the folder of the raw file contracts (default specs/raw).
    """
    if subjects < 1:
        raise ValueError(f"subjects must be at least 1, got {subjects}")
    design = _design(study)
    cut = _day(as_of)
    rng = np.random.default_rng(seed)
    subj = _plan(design, subjects, cut, rng)
    ids = _numbers(np.arange(1, subjects + 1), max(4, len(str(subjects))))
    fails = _failures(rng, design, subj.kind)
    weight = np.rint(np.clip(rng.normal(WEIGHT_MEAN, WEIGHT_SD, subjects), *WEIGHT_RANGE) * 10).astype(np.int64)
    enrollment = _enrollment(rng, design, subj, ids, fails, weight)
    enrollment["assign_date"] = _assignment(np.random.default_rng([seed, ASSIGN_STREAM]), design, subj)
    scores = _scores(rng, design, subj, fails)
    mgfa = _mgfa(rng, design, fails)
    contracts = {name: _contract(raw_specs or RAW_SPECS, name) for name in FILES}
    dosing = _dosing(rng, design, subj, ids, weight)
    meddra = _meddra((raw_specs or RAW_SPECS).parent / MEDDRA_TERMS, study)
    events = _adverse_events(
        np.random.default_rng([seed, AE_STREAM]),
        design,
        study,
        subj,
        ids,
        cut,
        meddra,
        _infusion_minutes(subj, dosing),
        np.random.default_rng([seed, AE_TIME_STREAM]),
    )
    columns = {
        "enrollment": enrollment,
        "dosing": dosing,
        "assessments": _assessments(design, subj, ids, scores, mgfa, _result_items(contracts["assessments"])),
        "eligibility": _eligibility(design, subj, ids, fails),
        "adverse_events": events,
    }
    columns["vital_signs"] = _vital_signs(
        np.random.default_rng([seed, VS_STREAM]), design, study, subj, ids, columns, cut
    )
    return {name: _frame(name, columns[name], [c["name"] for c in contracts[name]["columns"]]) for name in FILES}


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if re.search(r'[",\r\n]', value) else value


def write_raw(frames: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, int]:
    """Write <name>.csv for each frame, return rows written.

    UTF-8, a header line, '\\n' line ends, fields quoted only when needed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, df in frames.items():
        path = out_dir / f"{name}.csv"
        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.cast(pa.schema([(f.name, pa.large_string()) for f in table.schema]))
        structural = any(pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py() for col in table.columns)
        if structural:  # Arrow can only quote every string; fall back to minimal quoting for such frames
            df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        else:
            with path.open("wb") as fh:
                fh.write((",".join(_csv_field(str(c)) for c in df.columns) + "\n").encode("utf-8"))
                pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        written[name] = len(df)
    return written


def main(subjects: int, seed: int, out: Path, as_of: str = "2026-10-31", specs_dir: Path | None = None) -> None:
    """Generate the sample raw exports for the study of `specs_dir` (default specs/: study.yaml and the raw file
    contracts in raw/) into `out` and print the rows written."""
    study_spec, raw_specs = (specs_dir / "study.yaml", specs_dir / "raw") if specs_dir else (STUDY_SPEC, RAW_SPECS)
    study = yaml.safe_load(study_spec.read_text(encoding="utf-8"))
    counts = write_raw(synthesize(study, subjects, seed, as_of, raw_specs), Path(out))
    for name, rows in counts.items():
        print(f"{Path(out) / name}.csv: {rows} rows")

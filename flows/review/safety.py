"""The safety review's tables by dose level (DM.ACTARMCD), from SDTM datasets and the study's `safety` section.

The tables are plain DataFrames with one column per dose level (escalation order) and a total, or one row per level
(DLTs and the escalation rule's decision); the summary page renders them. What is known about DLTs as of the data
date (`dlt_status`) makes a DLT or a subject provisional and a decision PENDING where the open windows could change
it. Nothing here reads raw files or holds a study fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.dates import parse_date
from flows.mapping.derivations.dlt_flag import is_dlt
from flows.spec.model import Study

TOTAL = "Total"
DLT_QNAM = "DLTFL"  # SUPPAE QNAM of the per-event DLT flag
WEIGHT_TESTCD = "WEIGHT"  # VSTESTCD of body weight (CDISC CT)
END_OF_STUDY = "DISPOSITION EVENT"  # the DSCAT term (C74590) of a subject's end-of-study record in DS
PROVISIONAL_DLT = "DLT (provisional)"  # the picture's marker kind of a provisional DLT
ESCALATE, EXPAND, STOP, PENDING, NOT_DOSED = "ESCALATE", "EXPAND TO {n}", "STOP: MTD EXCEEDED", "PENDING", ""


def levels(study: Study) -> list[str]:
    """Dose levels (ARMCD) in escalation order."""
    return [a["armcd"] for a in study.arms]


def treated(dm: pd.DataFrame) -> pd.DataFrame:
    """Treated subjects (ACTARMCD present): USUBJID, level, first infusion date, last known date, death flag."""
    rows = dm[dm["ACTARMCD"].notna()]
    return pd.DataFrame(
        {
            "USUBJID": rows["USUBJID"].astype("str").to_numpy(),
            "level": rows["ACTARMCD"].astype("str").to_numpy(),
            "first": parse_date(rows["RFXSTDTC"]).to_numpy(),
            "last": parse_date(rows["RFPENDTC"]).to_numpy(),
            "died": rows["DTHFL"].eq("Y").fillna(False).to_numpy(bool),
        }
    )


def _by_level(flags: pd.DataFrame, subjects: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Subjects per level (and total) for each boolean column of flags (index USUBJID): 'n (pct%)' strings."""
    cols = levels(study)
    n = subjects["level"].value_counts().reindex(cols, fill_value=0)
    out = {}
    aligned = flags.index.equals(pd.Index(subjects["USUBJID"]))  # one row per subject, in order: no look-up
    for name in flags.columns:
        column = flags[name] if aligned else subjects["USUBJID"].map(flags[name])
        hit = column.fillna(False).astype(bool).to_numpy()
        count = pd.Series(hit, index=subjects.index).groupby(subjects["level"]).sum().reindex(cols, fill_value=0)
        row = {lv: _pct(int(count[lv]), int(n[lv])) for lv in cols}
        row[TOTAL] = _pct(int(count.sum()), int(n.sum()))
        out[name] = row
    return pd.DataFrame.from_dict(out, orient="index", columns=[*cols, TOTAL])


def _pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f}%)" if n else str(k)


def _stat_rows(values: pd.Series, level: pd.Series, study: Study, digits: int = 1) -> dict[str, dict[str, str]]:
    """n, mean (SD), median and min-max of a numeric series per level and in total."""
    cols = levels(study)
    rows: dict[str, dict[str, str]] = {"n": {}, "Mean (SD)": {}, "Median": {}, "Min - max": {}}
    groups = {lv: values[level == lv].dropna().astype(float) for lv in cols}
    groups[TOTAL] = values.dropna().astype(float)
    for col, v in groups.items():
        rows["n"][col] = str(len(v))
        if len(v):
            sd = f"{v.std(ddof=1):.{digits}f}" if len(v) > 1 else "-"
            rows["Mean (SD)"][col] = f"{v.mean():.{digits}f} ({sd})"
            rows["Median"][col] = f"{v.median():.{digits}f}"
            rows["Min - max"][col] = f"{v.min():.{digits}f} - {v.max():.{digits}f}"
    return rows


def _frame(rows: Mapping[str, Mapping[str, str]], study: Study) -> pd.DataFrame:
    out = pd.DataFrame.from_dict(rows, orient="index", columns=[*levels(study), TOTAL]).fillna("")
    return out.rename_axis("row").reset_index()


def demographics(dm: pd.DataFrame, study: Study, vs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Age, sex and (when VS holds a baseline weight) weight of the treated subjects, by level."""
    rows = dm[dm["ACTARMCD"].notna()]
    level = rows["ACTARMCD"].astype("str")
    age = {f"Age ({str(rows['AGEU'].dropna().iloc[0]).lower()}): {k}" if rows["AGEU"].notna().any() else f"Age: {k}": v
           for k, v in _stat_rows(pd.to_numeric(rows["AGE"]), level, study).items()}  # fmt: skip
    out: dict[str, dict[str, str]] = dict(age)
    subjects = treated(dm)
    for sex in sorted(rows["SEX"].dropna().unique()):
        flags = pd.DataFrame({f"Sex {sex}": rows.set_index("USUBJID")["SEX"].eq(sex)})
        out.update(_by_level(flags, subjects, study).to_dict(orient="index"))
    weight = baseline_weight(vs)
    if weight is not None:
        kg = rows["USUBJID"].map(weight)
        out.update({f"Weight: {k}": v for k, v in _stat_rows(kg, level, study).items()})
    return _frame(out, study)


def weight_rows(vs: pd.DataFrame) -> pd.Series:
    """The VS records baseline_weight reads: baseline weights (VSTESTCD WEIGHT, VSBLFL Y); none without them."""
    if not {"VSTESTCD", "VSSTRESN", "VSBLFL"} <= set(vs.columns):
        return pd.Series(False, index=vs.index)
    return ((vs["VSTESTCD"] == WEIGHT_TESTCD) & (vs["VSBLFL"] == "Y")).fillna(False).astype(bool)


def baseline_weight(vs: pd.DataFrame | None) -> pd.Series | None:
    """Baseline body weight per USUBJID from VS (VSTESTCD WEIGHT, VSBLFL Y), or None when VS has none; `vs` may be
    VS's weight_rows only."""
    if vs is None or not {"VSTESTCD", "VSSTRESN", "VSBLFL"} <= set(vs.columns):
        return None
    base = vs[weight_rows(vs).to_numpy(dtype=bool)]
    return base.groupby("USUBJID")["VSSTRESN"].first() if len(base) else None


def disposition(dm: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Assigned (ARMCD) and treated (ACTARMCD) per level; of the treated: deaths, DLT-evaluable, follow-up days."""
    cols = levels(study)
    assigned = dm["ARMCD"].value_counts().reindex(cols, fill_value=0)
    subjects = treated(dm)
    n = subjects["level"].value_counts().reindex(cols, fill_value=0)
    rows: dict[str, dict[str, str]] = {
        "Assigned (ARMCD)": {**{c: str(assigned[c]) for c in cols}, TOTAL: str(int(dm["ARMCD"].notna().sum()))},
        "Treated (ACTARMCD)": {**{c: str(n[c]) for c in cols}, TOTAL: str(int(n.sum()))},
    }
    days = pd.Series((subjects["last"] - subjects["first"]).dt.days + 1, index=subjects.index)
    window = _window(study)
    flags = pd.DataFrame(
        {
            "Died (DTHFL)": subjects["died"].to_numpy(),
            f"Followed through day {window[1]}": (days >= window[1]).to_numpy(),
        },
        index=subjects["USUBJID"],
    )
    rows.update(_by_level(flags, subjects, study).to_dict(orient="index"))
    stats = _stat_rows(days, subjects["level"], study, digits=0)
    rows["Follow-up days: median"] = stats["Median"]
    rows["Follow-up days: min - max"] = stats["Min - max"]
    return _frame(rows, study)


def exposure(dm: pd.DataFrame, ex: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Planned dose per level, and the dose received (EX.EXDOSE) of the treated, by their ACTARMCD."""
    cols = levels(study)
    unit = str(study.treatment["dose_unit"])
    level = ex["USUBJID"].map(dm.set_index("USUBJID")["ACTARMCD"])
    rows: dict[str, dict[str, str]] = {f"Planned dose ({unit})": {a["armcd"]: f"{a['dose']:g}" for a in study.arms}}
    rows["Infusions (EX records)"] = {**{c: str(int((level == c).sum())) for c in cols}, TOTAL: str(len(ex))}
    stats = _stat_rows(pd.to_numeric(ex["EXDOSE"]), level, study, digits=2)
    rows.update({f"Dose received ({unit}): {k}": v for k, v in stats.items() if k != "n"})
    return _frame(rows, study)


def _window(study: Study) -> tuple[int, int]:
    window = study.data["safety"]["dlt"]["window"]
    return int(window["from_day"]), int(window["to_day"])


def _grade(ae: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(ae["AETOXGR"], errors="coerce")


def isin_text(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """values.isin(ids) for text, in Arrow (pandas makes a Python list of the ids first)."""
    text = pa.chunked_array([pa.array(values.astype("str").array)])
    return pc.is_in(text, value_set=pa.array(ids.astype("str").array)).to_numpy().astype(bool)


def ae_overview(dm: pd.DataFrame, ae: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Treated subjects with: any AE, grade >= 3, serious, related, fatal; CRS and ICANS by worst grade; deaths."""
    safety = study.data["safety"]
    subjects = treated(dm)
    ae = ae[isin_text(ae["USUBJID"], subjects["USUBJID"])]
    grade = _grade(ae)
    by = ae["USUBJID"]
    flags = {
        "Any AE": by.drop_duplicates(),
        "Grade >= 3": by[grade >= 3].drop_duplicates(),
        "Serious (AESER = Y)": by[ae["AESER"] == "Y"].drop_duplicates(),
        "Related (AEREL " + ", ".join(safety["relationship"]["related"]) + ")": by[
            ae["AEREL"].isin(safety["relationship"]["related"])
        ].drop_duplicates(),
        "Fatal AE (grade 5)": by[grade == 5].drop_duplicates(),
    }
    for label, term in safety["special_interest"].items():
        hit = ae["AEDECOD"] == term
        worst = grade[hit].groupby(by[hit]).max()
        flags[f"{label} any grade"] = pd.Series(worst.index)
        for g in range(1, 6):
            flags[f"{label} worst grade {g}"] = pd.Series(worst.index[worst == g])
    frame = pd.DataFrame(
        {name: isin_text(subjects["USUBJID"], ids) for name, ids in flags.items()},
        index=subjects["USUBJID"],
    )
    frame["Deaths (DM.DTHFL)"] = subjects["died"].to_numpy()
    out = _by_level(frame, subjects, study)
    level = ae["USUBJID"].map(pd.Series(subjects["level"].to_numpy(), index=subjects["USUBJID"]))
    records = level.value_counts().reindex(levels(study), fill_value=0)
    head = pd.DataFrame([{**records.astype(str).to_dict(), TOTAL: str(len(ae))}], index=["AE records"])
    return pd.concat([head, out]).rename_axis("row").reset_index()


def dlt_events(ae: pd.DataFrame, supp: pd.DataFrame) -> pd.DataFrame:
    """AE records flagged as DLT in SUPPAE (QNAM DLTFL = Y, IDVAR AESEQ)."""
    flag = supp[(supp["QNAM"] == DLT_QNAM) & (supp["QVAL"] == "Y") & (supp["IDVAR"] == "AESEQ")]
    keys = set(zip(flag["USUBJID"].astype("str"), flag["IDVARVAL"].astype("str").str.strip(), strict=True))
    subject = ae["USUBJID"].astype("str")
    candidate = subject.isin(flag["USUBJID"].astype("str")).to_numpy()  # the pairs are looked up for these only
    seq = pd.to_numeric(ae["AESEQ"][candidate]).astype("Int64").astype("str")
    hit = np.zeros(len(ae), dtype=bool)
    hit[candidate] = [(u, s) in keys for u, s in zip(subject[candidate], seq, strict=True)]
    return ae[hit]


def decide(evaluable: int, with_dlt: int, pending: int, rule: Mapping[str, Any]) -> str:
    """What the escalation rule decides for a level: stop, pending, expand or escalate.

    `rule` has cohort_size, max_cohorts and max_dlt_to_escalate (DLTs allowed after 1, 2, ... cohorts): a 3+3 is
    (3, 2, [0, 1]). More DLTs than the last allowance stops at once; otherwise every treated subject must be
    evaluable, and the completed cohorts decide.
    """
    size, cohorts, allowed = int(rule["cohort_size"]), int(rule["max_cohorts"]), list(rule["max_dlt_to_escalate"])
    if with_dlt > allowed[-1]:
        return STOP
    done = min(evaluable // size, cohorts)
    if pending or done == 0:
        return PENDING
    if with_dlt <= allowed[done - 1]:
        return ESCALATE
    return EXPAND.format(n=size * (done + 1)) if done < cohorts else STOP


def _label(dm: pd.DataFrame) -> pd.Series:
    """SITEID-SUBJID per USUBJID: how the review names a subject."""
    return pd.Series((dm["SITEID"].astype("str") + "-" + dm["SUBJID"].astype("str")).to_numpy(), index=dm["USUBJID"])


def as_of_of(dm: pd.DataFrame, as_of: str | None) -> pd.Timestamp:
    """The date the data are as of: the cut (or the data-as-of date) given, else the latest RFPENDTC in DM."""
    if as_of:
        return pd.Timestamp(as_of[:10])
    last = parse_date(dm["RFPENDTC"]).max()
    return last if pd.notna(last) else pd.Timestamp.max.normalize()


def _days_to_resolve(events: pd.DataFrame, rule: Mapping[str, Any]) -> pd.Series:
    """Per event, the days to resolution within which an exception of the rule applies to it (NaN: none does)."""
    grade = pd.to_numeric(events["AETOXGR"], errors="coerce")
    days = pd.Series(np.nan, index=events.index)
    for exc in rule.get("exceptions", []):
        if "resolved_within_days" not in exc:
            continue
        match = events["AEDECOD"].isin(exc["terms"]).fillna(False).astype(bool)
        if "grades" in exc:
            match &= grade.isin(exc["grades"]).to_numpy()
        days = days.where(~match.to_numpy() | (days >= exc["resolved_within_days"]), exc["resolved_within_days"])
    return days


DltStatus = tuple[pd.DataFrame, pd.DataFrame]  # dlt_status's subjects and events, computed once for every table


def dlt_status(
    dm: pd.DataFrame,
    ae: pd.DataFrame,
    supp: pd.DataFrame,
    study: Study,
    as_of: str | None = None,
    ds: pd.DataFrame | None = None,
) -> DltStatus:
    """What the data as of `as_of` (the cut, or the data-as-of date) say, and leave open, about DLTs.

    Events: the AE records flagged DLT in SUPPAE, each `provisional` with its `why` when its DLT window is still
    open at `as_of` (it stays a DLT; more may come) or when it is a DLT only because its end date is not yet known
    (`withdrawable`: an exception of the rule needs the event resolved within N days, the event has no end date, and
    those N days run past `as_of`: the rule is applied again with the end date at its earliest, the day after).
    Subjects (treated): level, window end, whether followed through the window (`observed`), left the study (an
    end-of-study record in `ds`), with a DLT that stands (`firm`) or one that may not (`maybe`), and `open`: no DLT
    yet and the window's follow-up not complete (the window open at `as_of`, or not yet followed through it and no
    end-of-study record; without `ds`, every subject not followed through it).
    """
    rule = study.data["safety"]["dlt"]
    day = pd.Timedelta(days=1)
    date = as_of_of(dm, as_of)
    subjects = treated(dm)
    subjects["label"] = subjects["USUBJID"].map(_label(dm)).to_numpy()
    subjects["window_end"] = subjects["first"] + (_window(study)[1] - 1) * day
    subjects["observed"] = (subjects["last"] >= subjects["window_end"]).to_numpy(bool)
    subjects["window_open"] = (subjects["window_end"] > date).to_numpy(bool)
    ended = ds.loc[ds["DSCAT"] == END_OF_STUDY, "USUBJID"] if ds is not None and len(ds) else None
    subjects["ended"] = isin_text(subjects["USUBJID"], ended) if ended is not None else False

    events = dlt_events(ae, supp)
    events = events[isin_text(events["USUBJID"], subjects["USUBJID"])]
    missing_end = parse_date(events["AEENDTC"]).isna()
    earliest_end = events["AEENDTC"].astype("str").where(~missing_end.to_numpy(), (date + day).strftime("%Y-%m-%d"))
    related = study.lookup(rule["related_from"])
    still = is_dlt(
        rule, related, events["AESTDY"], events["AETOXGR"], events["AEREL"], events["AEDECOD"], events["AESTDTC"],
        earliest_end,
    )  # fmt: skip
    by_subject = subjects.set_index("USUBJID")
    # by position: an empty events frame (no DLT, or nobody dosed yet) keeps the window's datetime type
    window_end = pd.Series(by_subject["window_end"].reindex(events["USUBJID"].astype("str")).to_numpy(), events.index)
    n_days = _days_to_resolve(events, rule)
    resolve_by = parse_date(events["AESTDTC"]) + pd.to_timedelta(n_days, unit="D")
    out = pd.DataFrame(
        {
            "USUBJID": events["USUBJID"].astype("str").to_numpy(),
            "label": events["USUBJID"].map(by_subject["label"]).to_numpy(),
            "level": events["USUBJID"].map(by_subject["level"]).to_numpy(),
            "AESEQ": pd.to_numeric(events["AESEQ"]).to_numpy(),
            "AEDECOD": events["AEDECOD"].astype("str").to_numpy(),
            "AETOXGR": events["AETOXGR"].astype("str").to_numpy(),
            "AESTDTC": events["AESTDTC"].astype("str").to_numpy(),
            "AESTDY": events["AESTDY"].to_numpy(),
            "withdrawable": ~still.to_numpy(bool),
            "window_open": (window_end > date).to_numpy(bool),
        }
    )
    asof = date.strftime("%Y-%m-%d")
    why_end = (
        f"no end date at {asof}: a DLT only if it lasts more than "
        + n_days.astype("Int64").astype("str").fillna("")
        + " days (not resolved by "
        + resolve_by.dt.strftime("%Y-%m-%d").fillna("")
        + ")"
    ).to_numpy(dtype=object)
    ends = window_end.dt.strftime("%Y-%m-%d").fillna("")
    why_window = ("DLT window open until " + ends + ": more DLTs may follow").to_numpy(dtype=object)
    out["why"] = np.where(
        out["withdrawable"],
        np.where(out["window_open"], why_end + "; " + why_window, why_end),
        np.where(out["window_open"], why_window, ""),
    )
    out["provisional"] = out["withdrawable"] | out["window_open"]

    firm_ids = out.loc[~out["withdrawable"], "USUBJID"]
    flagged = isin_text(subjects["USUBJID"], out["USUBJID"])
    subjects["firm"] = isin_text(subjects["USUBJID"], firm_ids)
    subjects["maybe"] = flagged & ~subjects["firm"].to_numpy(bool)
    subjects["open"] = ~flagged & ~subjects["observed"].to_numpy(bool) & ~subjects["ended"].to_numpy(bool)
    return subjects, out


def _ids(labels: pd.Series, limit: int = 5) -> str:
    names = sorted(labels.astype("str"))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _subjects(n: int) -> str:
    return f"{n} subject" + ("" if n == 1 else "s")


def dlt_table(
    dm: pd.DataFrame,
    ae: pd.DataFrame,
    supp: pd.DataFrame,
    study: Study,
    as_of: str | None = None,
    ds: pd.DataFrame | None = None,
    status: DltStatus | None = None,
) -> pd.DataFrame:
    """Per level: treated, DLT-evaluable, not yet evaluable, not evaluable, subjects with a DLT and, of them,
    provisional ones, and the rule's decision with why.

    Evaluable: a DLT, or followed (RFPENDTC) through the last day of the DLT window. The decision is the rule's
    (`decide`) in the best case (every DLT that may not be one is not, every open window closes without a DLT) and
    in the worst case (each is, each does): the same decision in both is decided, whatever the open windows bring;
    otherwise PENDING, naming both and what is open.
    """
    subjects, _ = status or dlt_status(dm, ae, supp, study, as_of, ds)
    rule = study.data["safety"]["escalation"]
    has_dlt = (subjects["firm"] | subjects["maybe"]).to_numpy(bool)
    firm, maybe, observed, opened = (subjects[c].to_numpy(bool) for c in ("firm", "maybe", "observed", "open"))
    provisional = maybe | (has_dlt & subjects["window_open"].to_numpy(bool))  # a DLT, the window open
    best_dlt, worst_dlt = firm, has_dlt | opened
    best_eval, worst_eval = firm | observed | opened, worst_dlt | observed
    rows = []
    for lv in levels(study):
        at = (subjects["level"] == lv).to_numpy(bool)
        n = int(at.sum())
        counts = {
            "level": lv,
            "treated": n,
            "evaluable": int((at & (has_dlt | observed)).sum()),
            "in_window": int((at & opened).sum()),
            "not_evaluable": int((at & ~has_dlt & ~observed & ~opened).sum()),
            "dlt": int((at & has_dlt).sum()),
            "provisional": int((at & provisional).sum()),
        }
        if not n:
            rows.append({**counts, "decision": NOT_DOSED, "why": ""})
            continue
        best = decide(int((at & best_eval).sum()), int((at & best_dlt).sum()), 0, rule)
        worst = decide(int((at & worst_eval).sum()), int((at & worst_dlt).sum()), 0, rule)
        label = subjects["label"]
        parts = []
        if (at & maybe).any():
            k = int((at & maybe).sum())
            parts.append(f"{_subjects(k)} whose only DLT may turn out not to be one ({_ids(label[at & maybe])})")
        if (at & opened).any():
            k = int((at & opened).sum())
            parts.append(f"{_subjects(k)} not yet evaluable ({_ids(label[at & opened])})")
        if best != worst:
            why = f"{best} in the best case, {worst} in the worst: " + "; ".join(parts)
            rows.append({**counts, "decision": PENDING, "why": why})
        elif best == PENDING:
            size = int(rule["cohort_size"])
            why = f"no complete cohort of {size} DLT-evaluable subjects, even once the open windows close"
            rows.append({**counts, "decision": PENDING, "why": why})
        else:
            why = ("the same in the best and the worst case: " + "; ".join(parts)) if parts else ""
            rows.append({**counts, "decision": best, "why": why})
    return pd.DataFrame(rows, columns=[*DLT_COLUMNS, "decision", "why"])


DLT_COLUMNS = ["level", "treated", "evaluable", "in_window", "not_evaluable", "dlt", "provisional"]


def dlt_listing(
    dm: pd.DataFrame,
    ae: pd.DataFrame,
    supp: pd.DataFrame,
    study: Study,
    as_of: str | None = None,
    ds: pd.DataFrame | None = None,
    status: DltStatus | None = None,
) -> pd.DataFrame:
    """Every DLT (status DLT or provisional DLT, with why) and every subject not yet DLT-evaluable (status
    provisional, with why), by level in escalation order, then subject and onset."""
    subjects, events = status or dlt_status(dm, ae, supp, study, as_of, ds)
    date = as_of_of(dm, as_of).strftime("%Y-%m-%d")
    rows = events.assign(
        status=np.where(events["provisional"], "provisional DLT", "DLT"),
        onset=events["AESTDTC"] + " (day " + pd.Series(events["AESTDY"]).astype("Int64").astype("str") + ")",
    )
    waiting = subjects[subjects["open"].to_numpy(bool)]
    window_end = waiting["window_end"].dt.strftime("%Y-%m-%d")
    followed = waiting["last"].dt.strftime("%Y-%m-%d")
    why = np.where(
        waiting["window_open"],
        "no DLT so far; DLT window open at " + date + " until " + window_end,
        "no DLT so far; followed to " + followed + " only, before the window ended on " + window_end
        + ", and no end-of-study record",
    )  # fmt: skip
    open_rows = pd.DataFrame(
        {
            "label": waiting["label"].to_numpy(),
            "level": waiting["level"].to_numpy(),
            "AEDECOD": "",
            "AETOXGR": "",
            "onset": "",
            "status": "provisional: not yet evaluable",
            "why": why,
            "AESTDTC": "",
        }
    )
    out = pd.concat([rows, open_rows], ignore_index=True)
    rank = {lv: i for i, lv in enumerate(levels(study))}
    out = out.assign(_rank=out["level"].map(rank)).sort_values(["_rank", "label", "AESTDTC"], kind="stable")
    return out[["label", "level", "AEDECOD", "AETOXGR", "onset", "status", "why"]].reset_index(drop=True)


def markers(
    ae: pd.DataFrame,
    supp: pd.DataFrame,
    study: Study,
    dm: pd.DataFrame | None = None,
    as_of: str | None = None,
    ds: pd.DataFrame | None = None,
    status: DltStatus | None = None,
) -> pd.DataFrame:
    """Escalation-picture markers: USUBJID, AESTDTC and kind (a special-interest label such as CRS, DLT, or with
    `dm` PROVISIONAL_DLT for a DLT that `dlt_status` finds provisional as of `as_of`)."""
    parts = []
    for label, term in study.data["safety"]["special_interest"].items():
        hit = ae[ae["AEDECOD"] == term]
        parts.append(pd.DataFrame({"USUBJID": hit["USUBJID"], "AESTDTC": hit["AESTDTC"], "kind": label}))
    dlt = dlt_events(ae, supp)
    kind = pd.Series("DLT", index=dlt.index, dtype="str")
    if dm is not None and len(dlt):
        _, events = status or dlt_status(dm, ae, supp, study, as_of, ds)
        provisional = events.loc[events["provisional"], ["USUBJID", "AESEQ"]]
        keys = dlt["USUBJID"].astype("str") + "|" + pd.to_numeric(dlt["AESEQ"]).astype("Int64").astype("str")
        marked = provisional["USUBJID"] + "|" + pd.Series(provisional["AESEQ"]).astype("Int64").astype("str")
        kind = kind.mask(isin_text(keys, marked), PROVISIONAL_DLT)
    parts.append(pd.DataFrame({"USUBJID": dlt["USUBJID"], "AESTDTC": dlt["AESTDTC"], "kind": kind}))
    out = pd.concat(parts, ignore_index=True).astype("str")
    return out.sort_values(["kind", "USUBJID", "AESTDTC"], kind="stable").reset_index(drop=True)

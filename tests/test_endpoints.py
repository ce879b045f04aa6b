"""The statistician's endpoints (QS, SV, DS, SE and EPOCH) against values computed by hand from raw/*.csv for named
subjects of the sample: 0001 (treated at DL1, completed), 0003 (screen failure on INCL01), 0010 (assigned to DL2,
withdrew before the infusion) and 0012 (treated at DL2, died)."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.review.summary import arm_counts
from flows.run.pipeline import prepare, read_inputs, validate_raw
from tests.conftest import RAW, STUDYID

DL1_INF = "S103 CAR-T 1.0 x 10^6 cells/kg infusion"


@pytest.fixture(scope="module")
def sdtm(specs) -> dict[str, pd.DataFrame]:
    raw = read_inputs(RAW, specs)
    return prepare(raw, validate_raw(raw, specs), specs).datasets


@pytest.fixture(scope="module")
def at_cut(specs) -> dict[str, pd.DataFrame]:
    """A data cut on 2025-09-05: 0012 (assigned 2025-08-31, infused 2025-09-07) is assigned, not yet treated."""
    raw = read_inputs(RAW, specs)
    return prepare(raw, validate_raw(raw, specs), specs, cutoff="2025-09-05").datasets


def usubjid(subject: str) -> str:
    return f"{STUDYID}-01-{subject}"


def records(frame: pd.DataFrame, subject: str, columns: list[str]) -> list[tuple]:
    """The subject's records, in dataset order, as tuples of `columns` (null as None)."""
    hit = frame.loc[frame["USUBJID"] == usubjid(subject), columns].astype(object)
    return [tuple(None if pd.isna(v) else v for v in r) for r in hit.itertuples(index=False, name=None)]


def raw_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(RAW / f"{name}.csv", dtype=str, keep_default_na=False)


def expected_baseline(subject: str) -> set[tuple[str, str, str]]:
    """(instrument, item, date) of the last non-missing result of each MG-ADL/QMG item and total on or before the
    date of the first infusion, straight from raw/assessments.csv and raw/dosing.csv."""
    dosing = raw_csv("dosing")
    starts = dosing.loc[dosing["subject"] == subject, "start"].str.slice(0, 10)
    if starts.empty:
        return set()
    a = raw_csv("assessments")
    a = a[(a["subject"] == subject) & a["instrument"].isin(["MG-ADL", "QMG"]) & (a["result"] != "")]
    a = a[a["date"] <= starts.min()].sort_values("date", kind="stable")
    last = a.drop_duplicates(["instrument", "item"], keep="last")
    return set(last[["instrument", "item", "date"]].itertuples(index=False, name=None))


# ---------------------------------------------------------------------------------------------------------------
# QS baseline flags


@pytest.mark.parametrize("subject", ["0001", "0003", "0010", "0012"])
def test_qs_baseline_flags_are_the_last_results_before_the_first_infusion(sdtm, specs, subject):
    totals = {name: inst["total"]["code"] for name, inst in specs.study.data["instruments"].items() if "total" in inst}
    expected = {
        (inst, totals[inst] if item == "TOTAL" else item, day) for inst, item, day in expected_baseline(subject)
    }
    flagged = {
        (cat, testcd, dtc)
        for cat, testcd, dtc, flag in records(sdtm["QS"], subject, ["QSCAT", "QSTESTCD", "QSDTC", "QSLOBXFL"])
        if flag == "Y"
    }
    assert flagged == expected


def test_qs_baseline_by_hand(sdtm):
    # 0001: infused 2025-06-17, BASELINE visit 2025-06-12: 8 MG-ADL items + total, 13 QMG items + total
    flagged = [r for r in records(sdtm["QS"], "0001", ["VISIT", "QSDTC", "QSDY", "QSLOBXFL"]) if r[3] == "Y"]
    assert len(flagged) == 23 and set(flagged) == {("BASELINE", "2025-06-12", -5, "Y")}
    # 0012: infused 2025-09-07, BASELINE 2025-09-02
    flagged = {r for r in records(sdtm["QS"], "0012", ["VISIT", "QSDTC", "QSLOBXFL"]) if r[2] == "Y"}
    assert flagged == {("BASELINE", "2025-09-02", "Y")}
    # never treated: no baseline (0003 failed screening, 0010 withdrew before the infusion)
    for subject in ("0003", "0010"):
        assert {r[0] for r in records(sdtm["QS"], subject, ["QSLOBXFL"])} == {None}


# ---------------------------------------------------------------------------------------------------------------
# SV


def test_sv_one_record_per_visit_held(sdtm):
    cols = ["VISITNUM", "VISIT", "SVSTDTC", "SVENDTC", "SVSTDY"]
    assert records(sdtm["SV"], "0001", cols) == [  # DAY 1: no assessment, the infusion (dosing.csv 11:42-12:11)
        (1, "SCREENING", "2025-05-21", "2025-05-21", -27),
        (2, "BASELINE", "2025-06-12", "2025-06-12", -5),
        (3, "DAY 1", "2025-06-17", "2025-06-17", 1),
        (4, "WEEK 2", "2025-07-02", "2025-07-02", 16),
        (5, "MONTH 1", "2025-07-15", "2025-07-15", 29),
        (6, "MONTH 3", "2025-09-08", "2025-09-08", 84),
        (7, "MONTH 6", "2025-12-02", "2025-12-02", 169),
        (8, "MONTH 12", "2026-05-16", "2026-05-16", 334),
    ]
    assert records(sdtm["SV"], "0003", cols) == [(1, "SCREENING", "2025-05-30", "2025-05-30", None)]
    assert records(sdtm["SV"], "0010", cols) == [
        (1, "SCREENING", "2025-08-04", "2025-08-04", None),
        (2, "BASELINE", "2025-09-04", "2025-09-04", None),
    ]
    # 0012 died on 2026-01-09: no MONTH 6 or MONTH 12, not even missed (after the final disposition event)
    assert [r[1] for r in records(sdtm["SV"], "0012", cols)] == [
        "SCREENING",
        "BASELINE",
        "DAY 1",
        "WEEK 2",
        "MONTH 1",
        "MONTH 3",
    ]


def test_sv_matches_the_raw_visit_dates(sdtm):
    a = raw_csv("assessments")
    visits = a.groupby(["subject", "visit"])["date"].agg(["min", "max"])
    sv = sdtm["SV"].assign(subject=sdtm["SV"]["USUBJID"].str.rsplit("-", n=1).str[-1])
    got = sv.set_index(["subject", "VISIT"])[["SVSTDTC", "SVENDTC"]]
    infused = raw_csv("dosing").set_index("subject")["start"].str.slice(0, 10)  # one infusion each, within a day
    assert len(sv) == len(visits) + len(infused) and (sv["SVOCCUR"] == "Y").all()
    assert (got.loc[[(s, "DAY 1") for s in infused.index], "SVSTDTC"].to_numpy() == infused.to_numpy()).all()
    assert (got.loc[visits.index].to_numpy() == visits.to_numpy()).all()


# ---------------------------------------------------------------------------------------------------------------
# DS


def test_ds_events(sdtm):
    cols = ["DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "EPOCH", "DSSTDTC", "DSSTDY"]
    consent, assigned, event = "INFORMED CONSENT OBTAINED", "ENTERED INTO TRIAL", "DISPOSITION EVENT"
    assert records(sdtm["DS"], "0001", cols) == [
        (1, consent, consent, "PROTOCOL MILESTONE", "SCREENING", "2025-05-21", -27),
        (2, "ASSIGNED TO DL1", assigned, "PROTOCOL MILESTONE", "SCREENING", "2025-05-23", -25),
        (3, "COMPLETED", "COMPLETED", event, "FOLLOW-UP", "2026-05-16", 334),
    ]
    assert records(sdtm["DS"], "0003", cols) == [
        (1, consent, consent, "PROTOCOL MILESTONE", "SCREENING", "2025-05-30", None),
        (2, "SCREEN FAILURE: INCL01 not met", "SCREEN FAILURE", event, "SCREENING", "2025-06-01", None),
    ]
    assert records(sdtm["DS"], "0010", cols) == [
        (1, consent, consent, "PROTOCOL MILESTONE", "SCREENING", "2025-08-02", None),
        (2, "ASSIGNED TO DL2", assigned, "PROTOCOL MILESTONE", "SCREENING", "2025-09-02", None),
        (3, "WITHDRAWAL BY SUBJECT", "WITHDRAWAL BY SUBJECT", event, "SCREENING", "2025-09-04", None),
    ]
    assert records(sdtm["DS"], "0012", cols) == [
        (1, consent, consent, "PROTOCOL MILESTONE", "SCREENING", "2025-08-05", -33),
        (2, "ASSIGNED TO DL2", assigned, "PROTOCOL MILESTONE", "SCREENING", "2025-08-31", -7),
        (3, "DEATH", "DEATH", event, "FOLLOW-UP", "2026-01-09", 125),
    ]


def test_ds_screen_failure_names_every_failed_criterion(sdtm):
    ie, ds = sdtm["IE"], sdtm["DS"]
    sf = ds[ds["DSDECOD"] == "SCREEN FAILURE"]
    for subject, term in zip(sf["USUBJID"], sf["DSTERM"], strict=True):
        for code in ie.loc[ie["USUBJID"] == subject, "IETESTCD"]:
            assert code in term, (subject, term)


def test_assigned_not_yet_treated_at_a_cut_differs_from_never_treated(at_cut, specs):
    dm, ds = at_cut["DM"].set_index("USUBJID"), at_cut["DS"]
    for subject in ("0010", "0012"):  # both assigned to DL2, neither infused by 2025-09-05
        assert dm.loc[usubjid(subject), "ARMNRS"] == "ASSIGNED, NOT TREATED"
    cols = ["DSDECOD", "DSCAT", "DSSTDTC"]
    assert records(ds, "0012", cols) == [
        ("INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", "2025-08-05"),
        ("ENTERED INTO TRIAL", "PROTOCOL MILESTONE", "2025-08-31"),
    ]  # no end of study: not yet treated
    assert records(ds, "0010", cols)[-1] == ("WITHDRAWAL BY SUBJECT", "DISPOSITION EVENT", "2025-09-04")
    total = arm_counts(at_cut["DM"], specs.study, ds).set_index("ARMCD").loc["Total"]
    pending = (dm["ARMNRS"] == "ASSIGNED, NOT TREATED") & ~dm.index.isin(
        ds.loc[ds["DSCAT"] == "DISPOSITION EVENT", "USUBJID"]
    )
    assert usubjid("0012") in set(dm.index[pending]) and usubjid("0010") not in set(dm.index[pending])
    assert total["not_yet"] == pending.sum() < total["not_treated"]


# ---------------------------------------------------------------------------------------------------------------
# SE and EPOCH


def test_se_of_a_treated_subject(sdtm):
    cols = ["SESEQ", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC", "SESTDY", "SEENDY"]
    assert records(sdtm["SE"], "0001", cols) == [
        (1, "SCRN", "Screening", 1, "SCREENING", "2025-05-21", "2025-06-17T11:42", -27, 1),
        (2, "INF1", DL1_INF, 2, "TREATMENT", "2025-06-17T11:42", "2025-06-17T12:11", 1, 1),
        (3, "FU", "Follow-up", 3, "FOLLOW-UP", "2025-06-17T12:11", "2026-05-16", 1, 334),
    ]
    assert [r[:3] for r in records(sdtm["SE"], "0012", ["ETCD", "SESTDTC", "SEENDTC"])] == [
        ("SCRN", "2025-08-05", "2025-09-07T09:52"),
        ("INF2", "2025-09-07T09:52", "2025-09-07T10:21"),
        ("FU", "2025-09-07T10:21", "2026-01-09"),
    ]


@pytest.mark.parametrize(("subject", "end"), [("0003", "2025-06-01"), ("0010", "2025-09-04")])
def test_se_screening_only_when_never_treated(sdtm, subject, end):
    cols = ["ETCD", "EPOCH", "SESTDTC", "SEENDTC", "SESTDY"]
    start = sdtm["DM"].set_index("USUBJID").loc[usubjid(subject), "RFICDTC"]
    assert records(sdtm["SE"], subject, cols) == [("SCRN", "SCREENING", start, end, None)]


def test_epoch_of_named_subjects_records(sdtm):
    qs = records(sdtm["QS"], "0001", ["VISIT", "EPOCH"])
    assert {v: e for v, e in qs} == {
        "SCREENING": "SCREENING",
        "BASELINE": "SCREENING",
        "WEEK 2": "FOLLOW-UP",
        "MONTH 1": "FOLLOW-UP",
        "MONTH 3": "FOLLOW-UP",
        "MONTH 6": "FOLLOW-UP",
        "MONTH 12": "FOLLOW-UP",
    }
    assert records(sdtm["EX"], "0001", ["EXSTDTC", "EPOCH"]) == [("2025-06-17T11:42", "TREATMENT")]
    assert {e for (e,) in records(sdtm["QS"], "0010", ["EPOCH"])} == {"SCREENING"}  # never left screening
    assert records(sdtm["RS"], "0003", ["EPOCH"]) == [("SCREENING",)]


def test_consented_but_not_yet_assigned_at_a_cut_is_not_assigned(specs):
    """A cut on 2026-01-01: 0032 (consent 2025-12-19, assigned to DL4 on 2026-01-13) is in the trial, not assigned."""
    raw = read_inputs(RAW, specs)
    cut = prepare(raw, validate_raw(raw, specs), specs, cutoff="2026-01-01").datasets
    assert records(cut["DM"], "0032", ["ARMCD", "ARM", "ACTARMCD", "ARMNRS"]) == [(None, None, None, "NOT ASSIGNED")]
    assert records(cut["DS"], "0032", ["DSDECOD", "DSSTDTC"]) == [("INFORMED CONSENT OBTAINED", "2025-12-19")]
    assert records(cut["SE"], "0032", ["ETCD", "SESTDTC"]) == [("SCRN", "2025-12-19")]
    whole = prepare(raw, validate_raw(raw, specs), specs).datasets["DM"].set_index("USUBJID").loc[usubjid("0032")]
    assert (whole["ARMCD"], pd.isna(whole["ARMNRS"])) == ("DL4", True)

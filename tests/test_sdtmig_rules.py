"""SDTMIG 3.4 conformance rules checked on the published sample (a CORE-like subset, read from the Parquet files)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flows.kernel.dates import DATETIME, PARTIAL_DATE, study_day


@pytest.fixture(scope="module")
def sdtm(sample_export) -> dict[str, pd.DataFrame]:
    _, transfer = sample_export
    return {p.stem.upper(): pd.read_parquet(p) for p in (transfer / "parquet").glob("*.parquet")}


def test_dm_one_record_per_subject_and_arm_null_reasons(sdtm):
    dm = sdtm["DM"]
    assert dm["USUBJID"].is_unique
    assert (dm["USUBJID"] == dm["STUDYID"] + "-" + dm["SITEID"] + "-" + dm["SUBJID"]).all()
    no_arm = dm["ARMCD"].isna() | dm["ACTARMCD"].isna()
    assert (dm["ARMNRS"].notna() == no_arm).all()  # ARMNRS iff an arm is null
    assert (dm["ARMCD"].isna() == dm["ARM"].isna()).all() and (dm["ACTARMCD"].isna() == dm["ACTARM"].isna()).all()
    assert dm["ACTARMUD"].isna().all()  # every dose given was a planned level
    sf = dm["ARMNRS"] == "SCREEN FAILURE"
    assert dm.loc[sf, ["ARMCD", "ACTARMCD", "RFSTDTC", "RFENDTC", "RFXSTDTC"]].isna().all().all()


def test_dm_reference_dates(sdtm):
    dm = sdtm["DM"]
    treated = dm["ACTARMCD"].notna()
    assert dm.loc[treated, "RFSTDTC"].notna().all() and dm.loc[~treated, "RFSTDTC"].isna().all()
    assert (dm["RFSTDTC"] == dm["RFXSTDTC"]).where(treated, True).all()
    assert (dm["RFSTDTC"].str.slice(0, 10) <= dm["RFENDTC"].str.slice(0, 10)).where(treated, True).all()
    assert (dm["RFICDTC"] <= dm["RFSTDTC"].str.slice(0, 10)).where(treated, True).all()  # consent before dosing
    assert (dm["RFPENDTC"].str.slice(0, 10) >= dm["RFICDTC"]).all()
    assert ((dm["DTHFL"] == "Y") == dm["DTHDTC"].notna()).all() and dm["DTHFL"].isin(["Y"]).sum() == 1
    assert dm["AGE"].between(18, 80).where(dm["ARMCD"].notna(), True).all()  # INCL01 holds for every enrolled


def test_dates_are_iso_8601(sdtm):
    for domain, frame in sdtm.items():
        for col in (c for c in frame if c.endswith("DTC")):
            values = frame[col].dropna()
            ok = values.str.fullmatch(PARTIAL_DATE) | values.str.fullmatch(DATETIME)
            assert ok.all(), f"{domain}.{col}: {values[~ok].tolist()[:3]}"


@pytest.mark.parametrize(
    ("domain", "seq"),
    [("EX", "EXSEQ"), ("IE", "IESEQ"), ("QS", "QSSEQ"), ("RS", "RSSEQ"), ("DS", "DSSEQ"), ("SE", "SESEQ")],
)
def test_seq_unique_within_subject_from_one(sdtm, domain, seq):
    frame = sdtm[domain]
    assert not frame.duplicated(["USUBJID", seq]).any()
    assert (frame.groupby("USUBJID")[seq].min() == 1).all()
    assert (frame.groupby("USUBJID")[seq].max() == frame.groupby("USUBJID").size()).all()


@pytest.mark.parametrize(
    ("domain", "dy", "dtc"),
    [
        ("EX", "EXSTDY", "EXSTDTC"),
        ("EX", "EXENDY", "EXENDTC"),
        ("IE", "IEDY", "IEDTC"),
        ("QS", "QSDY", "QSDTC"),
        ("RS", "RSDY", "RSDTC"),
        ("DS", "DSSTDY", "DSSTDTC"),
        ("SV", "SVSTDY", "SVSTDTC"),
        ("SV", "SVENDY", "SVENDTC"),
        ("SE", "SESTDY", "SESTDTC"),
        ("SE", "SEENDY", "SEENDTC"),
    ],
)
def test_study_day_never_zero_and_consistent(sdtm, domain, dy, dtc):
    frame = sdtm[domain]
    assert not (frame[dy] == 0).any()
    ref = frame["USUBJID"].map(sdtm["DM"].set_index("USUBJID")["RFSTDTC"])
    expected = study_day(frame[dtc], ref)
    pd.testing.assert_series_equal(frame[dy].astype("Int64"), expected, check_names=False)


def test_subjects_of_every_domain_are_in_dm(sdtm):
    subjects = set(sdtm["DM"]["USUBJID"])
    for domain in ("EX", "IE", "QS", "RS", "DS", "SV", "SE"):
        assert set(sdtm[domain]["USUBJID"]) <= subjects, domain
    assert (
        set(sdtm["SE"]["USUBJID"]) == set(sdtm["DS"]["USUBJID"]) == subjects
    )  # every subject has a path and a consent
    treated = set(sdtm["DM"].loc[sdtm["DM"]["ACTARMCD"].notna(), "USUBJID"])
    assert set(sdtm["EX"]["USUBJID"]) == treated  # exposure exactly for the treated


def test_ex_intervals_and_doses(sdtm):
    ex = sdtm["EX"]
    assert (ex["EXSTDTC"] <= ex["EXENDTC"]).all() and (ex["EXDOSE"] > 0).all()
    assert ex["EPOCH"].notna().all()


def test_ie_records_are_exceptions_that_resolve_in_ti(sdtm):
    ie, ti = sdtm["IE"], sdtm["TI"]
    assert set(ie["IETESTCD"]) <= set(ti["IETESTCD"]) and ti["IETESTCD"].is_unique
    merged = ie.merge(ti, on="IETESTCD", suffixes=("", "_TI"))
    assert (merged["IETEST"] == merged["IETEST_TI"]).all() and (merged["IECAT"] == merged["IECAT_TI"]).all()
    expected = merged["IECAT"].map({"INCLUSION": "N", "EXCLUSION": "Y"})
    assert (merged["IEORRES"] == expected).all() and (merged["IESTRESC"] == merged["IEORRES"]).all()
    assert (ti["IETESTCD"].str.len() <= 8).all() and ti["IETESTCD"].str.fullmatch(r"[A-Z][A-Z0-9]*").all()


def test_ts_has_the_parameters_a_reviewer_expects(sdtm):
    ts = sdtm["TS"]
    required = {
        "ADDON",
        "AGEMAX",
        "AGEMIN",
        "LENGTH",
        "PLANSUB",
        "RANDOM",
        "SEXPOP",
        "SPONSOR",
        "TBLIND",
        "TCNTRL",
        "TITLE",
        "TPHASE",
        "TTYPE",
        "STYPE",
        "SSTDTC",
        "SDTIGVER",
        "REGID",
        "INTMODEL",
        "TRT",
    }
    assert required <= set(ts["TSPARMCD"])
    assert not ts.duplicated(["TSPARMCD", "TSSEQ"]).any()
    coded = ts["TSVALCD"].notna()
    assert ts.loc[coded, "TSVCDREF"].notna().all()  # a code names its terminology
    ct = ts["TSVCDREF"] == "CDISC CT"
    assert ts.loc[ct, "TSVCDVER"].notna().all() and set(ts.loc[coded & ~ct, "TSVCDREF"]) == {
        "SNOMED",  # INDIC, TDIGRP
        "ISO 3166",  # FCNTRY
        "ClinicalTrials.gov",  # REGID
    }
    assert (ts["TSVAL"].notna() != ts["TSVALNF"].notna()).all()  # TSVALNF exactly where TSVAL is null


def test_se_elements_are_contiguous(sdtm):
    """SDTMIG 3.4 5.3: each element ends where the next starts; the first starts at consent, the last ends at the end
    of participation once the subject ended the study (DS), and is open (SEENDTC null) while the subject is ongoing;
    the elements follow the arm's order (TA) and each start is on or before its end."""
    se, dm = sdtm["SE"].sort_values(["USUBJID", "TAETORD"]), sdtm["DM"].set_index("USUBJID")
    nxt = se.groupby("USUBJID")["SESTDTC"].shift(-1)
    assert (se["SEENDTC"] == nxt).where(nxt.notna(), True).all()
    ended = set(sdtm["DS"].loc[sdtm["DS"]["DSCAT"] == "DISPOSITION EVENT", "USUBJID"])
    closed = se["SEENDTC"].notna()
    assert (se["SESTDTC"] <= se["SEENDTC"])[closed].all() and not se.duplicated(["USUBJID", "TAETORD"]).any()
    first, last = se.groupby("USUBJID").first(), se.groupby("USUBJID").tail(1).set_index("USUBJID")
    assert (first["SESTDTC"] == dm.loc[first.index, "RFICDTC"]).all()
    done = last.index.isin(ended)
    assert (last.loc[done, "SEENDTC"] == dm.loc[last.index[done], "RFPENDTC"]).all()
    assert last.loc[~done, "SEENDTC"].isna().all() and (~done).sum() == 6  # the six DL4 subjects, ongoing
    assert closed.sum() == len(se) - 6
    ta = sdtm["TA"].set_index(["ETCD"])["TAETORD"]
    assert (se["TAETORD"] == se["ETCD"].map(ta.groupby(level=0).first())).all()
    treated = dm.index[dm["ACTARMCD"].notna()]
    assert (se.groupby("USUBJID").size().loc[dm.index.difference(treated)] == 1).all()  # SCRN only when untreated


@pytest.mark.parametrize(("domain", "dtc"), [("EX", "EXSTDTC"), ("IE", "IEDTC"), ("QS", "QSDTC"), ("RS", "RSDTC"),
                                             ("DS", "DSSTDTC")])  # fmt: skip
def test_epoch_is_an_se_element_containing_the_date(sdtm, domain, dtc):
    """EPOCH of every record is the epoch of one of the subject's SE elements whose start and end (as dates) contain
    the record's date: on a day two elements share (the infusion day), either of them."""
    frame = sdtm[domain].reset_index(names="row")
    se = sdtm["SE"][["USUBJID", "SESTDTC", "SEENDTC", "EPOCH"]].rename(columns={"EPOCH": "SEEPOCH"})
    cand = frame[["row", "USUBJID", dtc, "EPOCH"]].merge(se, on="USUBJID")
    d = cand[dtc].str.slice(0, 10)
    ends = cand["SEENDTC"].str.slice(0, 10)  # null: the element is open (the subject is ongoing)
    inside = (cand["SESTDTC"].str.slice(0, 10) <= d) & ((d <= ends) | ends.isna())
    hit = cand[inside & (cand["EPOCH"] == cand["SEEPOCH"])]
    missing = frame[~frame["row"].isin(hit["row"])]
    assert missing.empty, missing[["USUBJID", dtc, "EPOCH"]].head(3).to_dict("records")


def test_qslobxfl_at_most_one_per_subject_and_test_before_exposure(sdtm):
    qs, dm = sdtm["QS"], sdtm["DM"].set_index("USUBJID")
    flagged = qs[qs["QSLOBXFL"].notna()]
    assert (flagged["QSLOBXFL"] == "Y").all()
    assert not flagged.duplicated(["USUBJID", "QSCAT", "QSTESTCD"]).any()
    assert (flagged["QSDTC"] <= flagged["USUBJID"].map(dm["RFXSTDTC"]).str.slice(0, 10)).all()
    treated = set(dm.index[dm["RFXSTDTC"].notna()])
    assert set(flagged["USUBJID"]) == treated  # every treated subject has a baseline, no one else
    assert flagged.groupby("USUBJID").size().eq(qs["QSTESTCD"].nunique()).all()  # one per test each


def test_sv_one_record_per_subject_visit(sdtm):
    sv = sdtm["SV"]
    assert not sv.duplicated(["USUBJID", "VISITNUM"]).any() and sv["VISITNUM"].notna().all()
    held = sv["SVOCCUR"] == "Y"
    assert (sv["SVSTDTC"] <= sv["SVENDTC"])[held].all() and sv.loc[~held, "SVSTDTC"].isna().all()
    assert (sv["SVPRESP"] == "Y").all() and sv["SVOCCUR"].isin(["Y", "N"]).all()
    for domain in ("QS", "RS"):  # every visit with findings is a subject visit
        visits = set(sdtm[domain][["USUBJID", "VISITNUM"]].itertuples(index=False, name=None))
        assert visits <= set(sv[["USUBJID", "VISITNUM"]].itertuples(index=False, name=None)), domain


def test_ds_consent_assignment_and_one_end_of_study(sdtm):
    ds, dm = sdtm["DS"], sdtm["DM"].set_index("USUBJID")
    consent = ds[ds["DSDECOD"] == "INFORMED CONSENT OBTAINED"].set_index("USUBJID")
    assert consent.index.is_unique and set(consent.index) == set(dm.index)
    assert (consent["DSSTDTC"] == dm.loc[consent.index, "RFICDTC"]).all()
    assigned = ds[ds["DSDECOD"] == "ENTERED INTO TRIAL"].set_index("USUBJID")
    assert assigned.index.is_unique and set(assigned.index) == set(dm.index[dm["ARMCD"].notna()])
    assert (assigned["DSSTDTC"] > dm.loc[assigned.index, "RFICDTC"]).all()
    start = dm.loc[assigned.index, "RFXSTDTC"].str.slice(0, 10)
    assert (assigned["DSSTDTC"] < start).where(start.notna(), True).all()  # assigned before the infusion
    assert (ds.loc[ds["DSDECOD"].isin(["INFORMED CONSENT OBTAINED", "ENTERED INTO TRIAL"]), "DSCAT"]
            == "PROTOCOL MILESTONE").all()  # fmt: skip
    ends = ds[ds["DSCAT"] == "DISPOSITION EVENT"]
    assert ends["USUBJID"].is_unique
    sf = dm.index[dm["ARMNRS"] == "SCREEN FAILURE"]
    assert set(ends.loc[ends["DSDECOD"] == "SCREEN FAILURE", "USUBJID"]) == set(sf)
    died = ends[ends["DSDECOD"] == "DEATH"].set_index("USUBJID")
    assert (died["DSSTDTC"] == dm.loc[died.index, "DTHDTC"]).all() and len(died) == (dm["DTHFL"] == "Y").sum()


def test_every_assessment_row_is_tabulated(sample_export):
    _, transfer = sample_export
    manifest = json.loads((transfer / "manifest.json").read_text(encoding="utf-8"))
    assessments = manifest["inputs"]["assessments.csv"]
    assert assessments["not_tabulated"] == 0 and assessments["tabulated"] == assessments["read"] > 0

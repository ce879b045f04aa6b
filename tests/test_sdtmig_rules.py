"""SDTMIG 3.4 conformance rules checked on the published sample (a CORE-like subset, read from the Parquet files)."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.dates import DATETIME, PARTIAL_DATE, study_day


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


@pytest.mark.parametrize(("domain", "seq"), [("EX", "EXSEQ"), ("IE", "IESEQ")])
def test_seq_unique_within_subject_from_one(sdtm, domain, seq):
    frame = sdtm[domain]
    assert not frame.duplicated(["USUBJID", seq]).any()
    assert (frame.groupby("USUBJID")[seq].min() == 1).all()
    assert (frame.groupby("USUBJID")[seq].max() == frame.groupby("USUBJID").size()).all()


@pytest.mark.parametrize(
    ("domain", "dy", "dtc"), [("EX", "EXSTDY", "EXSTDTC"), ("EX", "EXENDY", "EXENDTC"), ("IE", "IEDY", "IEDTC")]
)
def test_study_day_never_zero_and_consistent(sdtm, domain, dy, dtc):
    frame = sdtm[domain]
    assert not (frame[dy] == 0).any()
    ref = frame["USUBJID"].map(sdtm["DM"].set_index("USUBJID")["RFSTDTC"])
    expected = study_day(frame[dtc], ref)
    pd.testing.assert_series_equal(frame[dy].astype("Int64"), expected, check_names=False)


def test_subjects_of_every_domain_are_in_dm(sdtm):
    subjects = set(sdtm["DM"]["USUBJID"])
    for domain in ("EX", "IE"):
        assert set(sdtm[domain]["USUBJID"]) <= subjects, domain
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
    assert (ts.loc[coded, "TSVCDREF"] == "CDISC CT").all() and ts.loc[coded, "TSVCDVER"].notna().all()
    assert (ts["TSVAL"].notna() | ts.get("TSVALNF", pd.Series(index=ts.index)).notna()).all()

"""A second study with another design and another EDC layout exports with specs only (tests/studies/PBO-2201):
randomized, double-blind, placebo-controlled, two parallel arms, 4-week kits of tablets, two sites in two countries."""

from __future__ import annotations

import pandas as pd
import pyreadstat
import pytest

from tests.conftest import ROOT, run_cli

STUDY = ROOT / "tests" / "studies" / "PBO-2201"


@pytest.fixture(scope="module")
def transfer(tmp_path_factory):
    out = tmp_path_factory.mktemp("pbo")
    proc = run_cli("export", "--raw", str(STUDY / "raw"), "--out", str(out), "--specs", str(STUDY / "specs"))
    assert proc.returncode == 0, proc.stderr
    return (out / "PBO-2201" / "latest").resolve()


def read(transfer, domain: str) -> pd.DataFrame:
    folder = transfer / "adam" if domain.startswith("ad") else transfer  # ADaM: in the transfer's adam/ folder
    frame, _ = pyreadstat.read_xport(folder / "xpt" / f"{domain}.xpt")  # an independent reader
    return frame


def subject(frame: pd.DataFrame, usubjid: str) -> pd.DataFrame:
    return frame[frame["USUBJID"] == usubjid].reset_index(drop=True)


def test_placebo_subject(transfer):
    dm = subject(read(transfer, "dm"), "PBO-2201-101-002").iloc[0]  # raw: Male, born 1985-11-02, consent 2025-01-12
    assert (dm["ARMCD"], dm["ACTARMCD"], dm["ARM"]) == ("PBO", "PBO", "Placebo once daily")  # by the recorded arm
    assert (dm["SEX"], dm["RACE"], dm["AGE"]) == ("M", "BLACK OR AFRICAN AMERICAN", 39)  # recoded; 39 at consent
    assert (dm["SITEID"], dm["COUNTRY"], dm["RFSTDTC"]) == ("101", "USA", "2025-01-23")
    assert dm["RFENDTC"] == dm["RFXENDTC"] == "2025-04-16"  # ongoing: the last dose
    ex = subject(read(transfer, "ex"), "PBO-2201-101-002")
    assert ex["EXTRT"].tolist() == ["PLACEBO", "PLACEBO", "XYZ-101"]  # two blinded kits, then open label
    assert ex["EXDOSE"].tolist() == [0, 0, 50] and set(ex["EXDOSFRM"]) == {"TABLET"} and set(ex["EXROUTE"]) == {"ORAL"}
    assert ex["EPOCH"].tolist() == ["BLINDED TREATMENT", "BLINDED TREATMENT", "OPEN LABEL TREATMENT"]  # by date
    assert ex["EXSTDY"].tolist() == [1, 29, 57] and ex["EXENDY"].tolist() == [28, 56, 84]
    assert ex["EXSEQ"].tolist() == [1, 2, 3] and ex["EXREFID"].tolist() == ["K2001", "K2002", "K2003"]


def test_screen_failure(transfer):
    dm = subject(read(transfer, "dm"), "PBO-2201-101-003").iloc[0]  # born 1944-06-01, consent 2025-01-15: 80
    assert dm["ARMNRS"] == "SCREEN FAILURE" and dm["AGE"] == 80
    assert all(dm[v] == "" for v in ("ARMCD", "ACTARMCD", "RFSTDTC", "RFENDTC", "RFXSTDTC"))
    assert dm["RFPENDTC"] == "2025-01-20"  # end of study
    ie = subject(read(transfer, "ie"), "PBO-2201-101-003")
    assert ie[["IETESTCD", "IECAT", "IEORRES", "EPOCH", "IEDTC"]].values.tolist() == [
        ["IN01", "INCLUSION", "N", "SCREENING", "2025-01-16"]
    ]
    assert pd.isna(ie["IEDY"].iloc[0])  # no reference start date
    assert len(read(transfer, "ie")) == 1  # only exceptions


def test_randomized_not_dosed(transfer):
    dm = subject(read(transfer, "dm"), "PBO-2201-201-001").iloc[0]  # Germany, randomized XYZ50, withdrew
    assert (dm["ARMCD"], dm["ACTARMCD"], dm["ARMNRS"]) == ("XYZ50", "", "ASSIGNED, NOT TREATED")
    assert dm["RFSTDTC"] == dm["RFENDTC"] == "" and dm["RFPENDTC"] == "2025-02-12"  # no RFENDTC without RFSTDTC
    assert (dm["COUNTRY"], dm["SEX"], dm["RACE"]) == ("DEU", "F", "ASIAN")
    assert subject(read(transfer, "ex"), "PBO-2201-201-001").empty


def test_trial_summary(transfer):
    ts = read(transfer, "ts")
    values = ts.groupby("TSPARMCD")["TSVAL"].apply(list).to_dict()
    assert values["FCNTRY"] == ["USA", "DEU"] and values["RANDOM"] == ["Y"] and values["TCNTRL"] == ["PLACEBO"]
    assert values["TBLIND"] == ["DOUBLE BLIND"] and values["INTMODEL"] == ["PARALLEL"]
    assert values["ACTSUB"] == ["5"] and values["TRT"] == ["XYZ-101"] and values["NARMS"] == ["2"]  # 5 randomized
    assert "TRT" in values and "INDIC" not in values  # only what its study.yaml lists


def test_define_documents_the_kit_arm_mapping(transfer):
    define = (transfer / "define.xml").read_text(encoding="utf-8")
    assert "KIT.csv column KITNO" in define and "SUBJ.csv column GENDER" in define


def test_adsl_by_specs_alone(transfer):
    """specs/adam/adsl.yaml of PBO-2201 and no code: one record per DM subject, its populations and treatments."""
    dm, adsl = read(transfer, "dm"), read(transfer, "adsl")
    assert adsl["USUBJID"].tolist() == dm["USUBJID"].tolist() and adsl["USUBJID"].is_unique
    placebo = subject(adsl, "PBO-2201-101-002").iloc[0]  # randomized to placebo, first dose 2025-01-23
    assert (placebo["TRT01P"], placebo["TRT01PN"], placebo["ITTFL"], placebo["SAFFL"]) == (
        "Placebo once daily",
        0,
        "Y",
        "Y",
    )
    assert (
        placebo["TRTSDT"] == pd.Timestamp("2025-01-23").date()
        and placebo["TRTEDT"] == pd.Timestamp("2025-04-16").date()
    )
    withdrew = subject(adsl, "PBO-2201-201-001").iloc[0]  # randomized XYZ50, never dosed
    assert (withdrew["TRT01P"], withdrew["TRT01PN"], withdrew["ITTFL"], withdrew["SAFFL"]) == (
        "XYZ-101 50 mg once daily", 50, "Y", "N"
    )  # fmt: skip
    define = (transfer / "adam" / "define.xml").read_text(encoding="utf-8")  # no CT codelist: the ADaMIG alone
    assert 'SASDatasetName="ADSL"' in define and 'Name="ADaMIG"' in define and "STD.CT." not in define
    failed = subject(adsl, "PBO-2201-101-003").iloc[0]  # screen failure
    assert (failed["ITTFL"], failed["SAFFL"], failed["TRT01P"]) == ("N", "N", "")

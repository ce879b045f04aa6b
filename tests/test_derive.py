"""Tests of the derivations (DM, EX, IE, TI, TS) against hand-computed values for named subjects of the sample."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.run.pipeline import prepare, read_inputs, validate_raw
from tests.conftest import RAW, STUDYID


@pytest.fixture(scope="module")
def sdtm(specs) -> dict[str, pd.DataFrame]:
    raw = read_inputs(RAW, specs)
    return prepare(raw, validate_raw(raw, specs), specs).datasets


def row(frame: pd.DataFrame, subject: str) -> pd.Series:
    hit = frame[frame["USUBJID"] == f"{STUDYID}-01-{subject}"]
    assert len(hit) == 1
    return hit.iloc[0]


def test_dm_dosed_subject(sdtm):
    dm = row(sdtm["DM"], "0001")  # raw: born 1984-08-26, consent 2025-05-21, DL1, infused 2025-06-17T11:42-12:35
    assert dm["RFSTDTC"] == dm["RFXSTDTC"] == "2025-06-17T11:42"
    assert dm["RFXENDTC"] == "2025-06-17T12:11"
    assert dm["RFENDTC"] == dm["RFXENDTC"]  # the end of the last infusion: one meaning for every treated subject
    assert dm["RFPENDTC"] == "2026-05-16"  # end of study (completed)
    assert dm["RFICDTC"] == "2025-05-21"
    assert dm["AGE"] == 40 and dm["AGEU"] == "YEARS"  # 40 at consent, 41 only on 2025-08-26
    assert (dm["ARMCD"], dm["ACTARMCD"]) == ("DL1", "DL1")
    assert dm["ARM"] == dm["ACTARM"] == "Dose Level 1: S103 CAR-T 1.0 x 10^6 cells/kg"
    assert pd.isna(dm["ARMNRS"]) and pd.isna(dm["DTHFL"])
    assert (dm["SITEID"], dm["SUBJID"], dm["COUNTRY"]) == ("01", "0001", "CHN")


def test_dm_screen_failure(sdtm):
    dm = row(sdtm["DM"], "0003")  # raw: born 1939-08-01, consent 2025-05-30: 85, fails INCL01
    assert dm["ARMNRS"] == "SCREEN FAILURE"
    for var in ("ARMCD", "ARM", "ACTARMCD", "ACTARM", "RFSTDTC", "RFENDTC", "RFXSTDTC"):
        assert pd.isna(dm[var]), var
    assert dm["AGE"] == 85
    assert dm["RFPENDTC"] == "2025-06-01"


def test_dm_assigned_never_dosed(sdtm):
    dm = row(sdtm["DM"], "0010")  # raw: DL2, withdrew 2025-09-04, no dosing row
    assert dm["ARMCD"] == "DL2" and pd.isna(dm["ACTARMCD"]) and pd.isna(dm["ACTARM"])
    assert dm["ARMNRS"] == "ASSIGNED, NOT TREATED"  # the CT term (ARMNULRS C142238)
    for var in ("RFSTDTC", "RFXSTDTC", "RFXENDTC"):  # never exposed (SDTMIG 3.4 DM assumption 9: RFSTDTC null)
        assert pd.isna(dm[var]), var
    assert dm["RFPENDTC"] == "2025-09-04"  # withdrew
    assert dm["RFENDTC"] == "2025-09-04"  # required for every assigned subject (CG0529): his end of participation
    assert not (sdtm["EX"]["USUBJID"] == dm["USUBJID"]).any()


def test_dm_death(sdtm):
    dm = row(sdtm["DM"], "0012")
    assert dm["DTHFL"] == "Y" and dm["DTHDTC"] == "2026-01-09" == dm["RFPENDTC"]


def test_dm_one_row_per_screened_subject_sorted(sdtm):
    dm = sdtm["DM"]
    assert len(dm) == 34 and dm["USUBJID"].is_unique and dm["USUBJID"].is_monotonic_increasing
    assert dm["ARMNRS"].value_counts().to_dict() == {"SCREEN FAILURE": 9, "ASSIGNED, NOT TREATED": 1}
    assert dm["ACTARMCD"].value_counts().to_dict() == {"DL1": 6, "DL2": 6, "DL3": 6, "DL4": 6}


def test_ex(sdtm):
    ex = row(sdtm["EX"], "0001")
    assert ex["EXSEQ"] == 1 and ex["EXDOSE"] == 0.98 and ex["EXDOSU"] == "10^6/kg"
    assert (ex["EXSTDY"], ex["EXENDY"]) == (1, 1)  # infusion day is study day 1
    assert (ex["EXTRT"], ex["EXROUTE"], ex["EXDOSFRM"], ex["EPOCH"]) == (
        "S103 CAR-T CELLS",
        "INTRAVENOUS",
        "INJECTION, SUSPENSION",
        "TREATMENT",
    )
    assert len(sdtm["EX"]) == 24


def test_ie_only_criteria_not_met(sdtm):
    ie = sdtm["IE"]
    sf = ie[ie["USUBJID"] == f"{STUDYID}-01-0003"]
    assert list(sf[["IESEQ", "IETESTCD", "IECAT", "IEORRES", "IESTRESC"]].itertuples(index=False, name=None)) == [
        (1, "INCL01", "INCLUSION", "N", "N")
    ]
    assert sf["IEDTC"].iloc[0] == "2025-05-30" and pd.isna(sf["IEDY"].iloc[0])  # no RFSTDTC: no study day
    excl = ie[ie["IECAT"] == "EXCLUSION"]
    assert (excl["IEORRES"] == "Y").all() and (ie.loc[ie["IECAT"] == "INCLUSION", "IEORRES"] == "N").all()
    dm = sdtm["DM"].set_index("USUBJID")
    assert set(ie["USUBJID"]) == set(dm.index[dm["ARMNRS"] == "SCREEN FAILURE"])  # every failure explained
    assert not ie.duplicated(["USUBJID", "IESEQ"]).any()


def test_ti_resolves_every_ietestcd(sdtm, specs):
    ti = sdtm["TI"]
    assert len(ti) == len(specs.study.criteria) == 17
    assert set(sdtm["IE"]["IETESTCD"]) <= set(ti["IETESTCD"])
    assert (ti["IETEST"].str.len() <= 200).all()
    incl01 = ti[ti["IETESTCD"] == "INCL01"].iloc[0]
    assert "min 18" in incl01["TIRL"] and "max 80" in incl01["TIRL"]


def test_ts(sdtm):
    ts = sdtm["TS"].set_index("TSPARMCD")
    assert ts.loc["AGEMIN", "TSVAL"] == "P18Y" and ts.loc["AGEMAX", "TSVAL"] == "P80Y"
    assert ts.loc["TPHASE", "TSVALCD"] == "C15600" and ts.loc["TPHASE", "TSVCDVER"] == "2025-03-28"
    # ACTSUB counts enrolled subjects (CT C98703): 25 assigned to an arm, of whom 24 treated (0010 never dosed)
    assert ts.loc["PLANSUB", "TSVAL"] == "24" and ts.loc["ACTSUB", "TSVAL"] == "25"
    assert ts.loc["REGID", "TSVAL"] == "NCT06958939"
    assert ts.loc["DCUTDTC", "TSVAL"] == "2026-10-26"  # no cut asked: the latest date of the sample's data


@pytest.mark.parametrize(
    ("parmcd", "tsval", "tsvalcd", "ref"),
    [
        ("TINDTP", "TREATMENT", "C49656", "CDISC CT"),  # registry: primary purpose TREATMENT
        ("SEXPOP", "BOTH", "C49636", "CDISC CT"),  # registry: ALL
        ("INTMODEL", "SEQUENTIAL", "C142568", "CDISC CT"),
        ("INTTYPE", "BIOLOGIC", "C307", "CDISC CT"),
        ("PCLAS", "Genetically Modified Autologous T Cell Immunotherapy", None, None),  # assumption: no code claimed
        ("DCUTDTC", "2026-10-26", None, "ISO 8601"),
    ],
)
def test_ts_parameters_with_their_codes(sdtm, parmcd, tsval, tsvalcd, ref):
    row = sdtm["TS"].set_index("TSPARMCD").loc[parmcd]
    assert row["TSVAL"] == tsval
    assert row["TSVCDREF"] == ref if ref else pd.isna(row["TSVCDREF"])
    assert row["TSVALCD"] == tsvalcd if tsvalcd else pd.isna(row["TSVALCD"])


def test_ts_objective_stop_rule_and_trial_types(sdtm):
    ts = sdtm["TS"]
    values = ts.groupby("TSPARMCD")["TSVAL"].apply(list).to_dict()
    assert values["TTYPE"] == ["SAFETY", "TOLERABILITY", "DOSE FINDING", "EFFICACY"]  # the title: Safety and Efficacy
    assert values["OBJPRIM"][0].startswith("To evaluate the safety and efficacy of S103")
    assert "dose-limiting toxicity" in values["STOPRULE"][0]
    assert (ts["TSVAL"].dropna().str.len() <= 200).all()  # null where TSVALNF says why (OBJSEC, SENDTC)


def test_ti_rules_keep_their_lists(sdtm):
    tirl = sdtm["TI"].set_index("IETESTCD")["TIRL"]
    assert (
        tirl["EXCL07"] == "check=washout; event=tocilizumab | eculizumab | efgartigimod; window=P3M; before=SCREENING"
    )
    assert "event=intravenous immunoglobulin | plasma exchange | immunotherapy;" in tirl["EXCL08"]
    assert not tirl.dropna().str.contains("=None").any()


def test_ti_ietest_is_the_registry_text_where_it_fits(sdtm, specs):
    ti = sdtm["TI"].set_index("IETESTCD")
    assert ti.loc["EXCL07", "IETEST"] == (
        "Treatment with tocilizumab, eculizumab, or efgartigimod within 3 months prior to screening"
    )
    assert ti.loc["INCL05", "IETEST"].startswith("Refractory MG per investigator")  # 859 characters: shortened

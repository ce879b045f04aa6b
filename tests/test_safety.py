"""Tests of flows/review/safety.py: the safety tables by dose level against counts made by hand on small SDTM frames."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.mapping.load import load_specs
from flows.review import safety
from flows.spec.model import Specs
from tests.test_summary import make_ae, make_dm, make_ex, make_suppae

THREE_PLUS_THREE = {"cohort_size": 3, "max_cohorts": 2, "max_dlt_to_escalate": [0, 1]}


@pytest.fixture(scope="module")
def specs() -> Specs:
    return load_specs()


@pytest.fixture(scope="module")
def frames(specs):
    dm = make_dm(specs)
    return dm, make_ex(dm, specs), make_ae(dm, specs), make_suppae(specs)


def cell(table: pd.DataFrame, row: str, column: str) -> int:
    """The count of an 'n (pct%)' cell."""
    return int(table.set_index("row").loc[row, column].split()[0])


@pytest.mark.parametrize(
    ("evaluable", "dlt", "pending", "decision"),
    [
        (3, 0, 0, "ESCALATE"),  # 0/3
        (3, 1, 0, "EXPAND TO 6"),  # 1/3
        (6, 1, 0, "ESCALATE"),  # 1/6
        (6, 2, 0, "STOP: MTD EXCEEDED"),  # 2/6
        (3, 2, 0, "STOP: MTD EXCEEDED"),  # 2/3: no need to expand
        (2, 2, 1, "STOP: MTD EXCEEDED"),  # stop even before the cohort is complete
        (2, 0, 1, "PENDING"),  # one subject still in the window
        (5, 1, 1, "PENDING"),  # the sixth still in the window
        (2, 0, 0, "PENDING"),  # cohort not full yet
        (4, 1, 0, "EXPAND TO 6"),  # one cohort complete with a DLT, the expansion started
        (12, 1, 0, "ESCALATE"),  # more than two cohorts: the last allowance applies
    ],
)
def test_decide_three_plus_three(evaluable, dlt, pending, decision):
    assert safety.decide(evaluable, dlt, pending, THREE_PLUS_THREE) == decision


def test_decide_reads_the_rule():
    """A 2+4 design (cohorts of 2, up to 3 cohorts) decides by its own allowances."""
    rule = {"cohort_size": 2, "max_cohorts": 3, "max_dlt_to_escalate": [0, 0, 1]}
    assert safety.decide(2, 1, 0, rule) == "EXPAND TO 4"
    assert safety.decide(4, 1, 0, rule) == "EXPAND TO 6"
    assert safety.decide(6, 1, 0, rule) == "ESCALATE"


def test_dlt_table_against_an_independent_count(frames, specs):
    dm, _, ae, supp = frames
    got = safety.dlt_table(dm, ae, supp, specs.study).set_index("level")
    flagged = supp[(supp["QNAM"] == "DLTFL") & (supp["QVAL"] == "Y")]
    dlt_ids = set(flagged["USUBJID"])  # every flagged record here exists in AE
    level = dm.set_index("USUBJID")["ACTARMCD"]
    for lv in [a["armcd"] for a in specs.study.arms]:
        ids = set(level.index[level == lv])
        assert got.loc[lv, "treated"] == len(ids)
        assert got.loc[lv, "dlt"] == len(ids & dlt_ids)
    a1, a2, a3 = (a["armcd"] for a in specs.study.arms[:3])
    # treated, evaluable, not yet evaluable, not evaluable, with a DLT, of which provisional, decision, why
    assert got.loc[a1].tolist() == [3, 3, 0, 0, 2, 0, "STOP: MTD EXCEEDED", ""]  # 0001 and 0004 of 0001, 0004, 0006
    assert got.loc[a2].tolist()[:7] == [1, 1, 0, 0, 0, 0, "PENDING"]  # one subject: the cohort is not complete
    assert got.loc[a2, "why"].startswith("no complete cohort of 3")
    assert got.loc[a3].tolist() == [0, 0, 0, 0, 0, 0, "", ""]  # not dosed


def test_dlt_needs_the_flag_on_the_record(frames, specs):
    """A DLTFL naming an AESEQ that is not in AE marks nothing; N never counts."""
    _, _, ae, supp = frames
    moved = supp.assign(IDVARVAL=supp["IDVARVAL"].where(supp["QNAM"] != "DLTFL", "7"))
    assert safety.dlt_events(ae, moved).empty
    assert set(safety.dlt_events(ae, supp)["AESEQ"]) == {1, 2}


def test_subject_in_window_is_not_evaluable(frames, specs):
    dm, _, ae, supp = frames
    short = dm.assign(RFPENDTC=dm["RFPENDTC"].where(dm["SUBJID"] != "0005", "2025-08-10"))  # day 10 of 28
    got = safety.dlt_table(short, ae, supp, specs.study, "2025-08-10").set_index("level")
    a2 = specs.study.arms[1]["armcd"]
    assert got.loc[a2, ["evaluable", "in_window", "decision"]].tolist() == [0, 1, "PENDING"]
    listing = safety.dlt_listing(short, ae, supp, specs.study, "2025-08-10").set_index("label")
    assert listing.loc["01-0005", "status"] == "provisional: not yet evaluable"
    assert listing.loc["01-0005", "why"] == "no DLT so far; DLT window open at 2025-08-10 until 2025-08-28"  # day 28


def test_ae_overview_counts(frames, specs):
    dm, _, ae, _ = frames
    got = safety.ae_overview(dm, ae, specs.study)
    a1, a2 = (a["armcd"] for a in specs.study.arms[:2])
    related = next(r for r in got["row"] if r.startswith("Related"))
    expected = {
        # row                         level 1 (0001, 0004, 0006)  level 2 (0005)
        "Any AE": (3, 1),
        "Grade >= 3": (2, 0),  # 0001 grade 4, 0004 grade 3 and 5
        "Serious (AESER = Y)": (2, 0),
        related: (3, 0),
        "Fatal AE (grade 5)": (1, 0),
        "CRS any grade": (3, 0),
        "CRS worst grade 1": (0, 0),  # 0006 had grade 1 then 2
        "CRS worst grade 2": (2, 0),  # 0001, 0006
        "CRS worst grade 3": (1, 0),  # 0004
        "ICANS any grade": (1, 0),
        "ICANS worst grade 1": (1, 0),
        "Deaths (DM.DTHFL)": (1, 0),
    }
    for row, (n1, n2) in expected.items():
        assert (cell(got, row, a1), cell(got, row, a2), cell(got, row, "Total")) == (n1, n2, n1 + n2), row
    assert got.set_index("row").loc["AE records", "Total"] == "8"  # 0099 is not a treated subject
    assert got.set_index("row").loc["Any AE", a1] == "3 (100%)"


def test_demographics_disposition_exposure(frames, specs):
    dm, ex, _, _ = frames
    assert dm["AGE"].tolist() == [40, 50, 60, 30, 45, 35, 70] and dm["SEX"].tolist() == list("FMFMFFM")
    a1, a2 = (a["armcd"] for a in specs.study.arms[:2])
    demo = safety.demographics(dm, specs.study).set_index("row")
    assert demo.loc["Age (years): n", a1] == "3" and demo.loc["Age (years): Median", a1] == "35.0"  # 40, 30, 35
    assert demo.loc["Age (years): Min - max", "Total"] == "30.0 - 45.0"  # treated only: 40, 30, 45, 35
    assert cell(demo.reset_index(), "Sex F", a1) == 2 and cell(demo.reset_index(), "Sex M", a1) == 1
    assert not any(r.startswith("Weight") for r in demo.index)  # no VS
    vs = pd.DataFrame({"USUBJID": dm["USUBJID"], "VSTESTCD": "WEIGHT", "VSSTRESN": 60.0, "VSBLFL": "Y"})
    assert safety.demographics(dm, specs.study, vs).set_index("row").loc["Weight: Mean (SD)", a1] == "60.0 (0.0)"
    disp = safety.disposition(dm, specs.study).set_index("row")
    assert disp.loc["Assigned (ARMCD)", a1] == "3" and disp.loc["Treated (ACTARMCD)", a1] == "3"
    assert disp.loc["Assigned (ARMCD)", "Total"] == "5" and disp.loc["Died (DTHFL)", a1].startswith("1 ")
    assert disp.loc["Follow-up days: min - max", a1] == "77 - 175"  # 0004: 07-01 to 09-15; 0001: 06-10 to 12-01
    exp = safety.exposure(dm, ex, specs.study).set_index("row")
    unit = specs.study.treatment["dose_unit"]
    assert exp.loc[f"Planned dose ({unit})", a2] == "2"
    assert exp.loc["Infusions (EX records)", a1] == "3" and exp.loc["Infusions (EX records)", "Total"] == "4"
    assert exp.loc[f"Dose received ({unit}): Median", a1] == "1.00"


def test_markers(frames, specs):
    _, _, ae, supp = frames
    got = safety.markers(ae, supp, specs.study)
    assert got.groupby("kind").size().to_dict() == {"CRS": 5, "ICANS": 1, "DLT": 2}
    assert list(got.columns) == ["USUBJID", "AESTDTC", "kind"]


# ----------------------------------------------------------------------------------------------------------------
# Provisional DLTs and pending decisions: one dose level of subjects built by hand, all infused on 2025-09-01 (day 28
# of the DLT window: 2025-09-28)

INFUSED = "2025-09-01T10:00"


def level_of(specs, subjects: list[tuple], ended: tuple[str, ...] = ()):
    """DM, AE, SUPPAE and DS of one level (the study's second): per subject its number, last date (RFPENDTC),
    its event and optionally its infusion (default INFUSED). Events: 'dlt' (grade 4 pyrexia day 5, ended), 'anaemia'
    (grade 3 anaemia day 20, 2025-09-20, no end date: a DLT only if it lasts more than 28 days), or None.
    `ended`: subjects with an end-of-study record in DS."""
    study = specs.study
    level = study.arms[1]["armcd"]
    ids = [f"{study.studyid}-01-{s[0]}" for s in subjects]
    dm = pd.DataFrame(
        {
            "USUBJID": ids,
            "SITEID": "01",
            "SUBJID": [s[0] for s in subjects],
            "RFXSTDTC": [s[3] if len(s) > 3 else INFUSED for s in subjects],
            "RFPENDTC": [s[1] for s in subjects],
            "ACTARMCD": level,
            "ARMCD": level,
            "DTHFL": None,
        }
    )
    events = {
        "dlt": ("Pyrexia", "4", "2025-09-05", 5, "2025-09-07"),
        "anaemia": ("Anaemia", "3", "2025-09-20", 20, None),
    }
    rows = [(u, 1, *events[s[2]]) for u, s in zip(ids, subjects, strict=True) if s[2]]
    ae = pd.DataFrame(rows, columns=["USUBJID", "AESEQ", "AEDECOD", "AETOXGR", "AESTDTC", "AESTDY", "AEENDTC"])
    ae = ae.assign(AEREL="RELATED").astype({"AESTDY": "Int64"})
    supp = pd.DataFrame({"USUBJID": ae["USUBJID"], "IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "DLTFL", "QVAL": "Y"})
    ds = pd.DataFrame({"USUBJID": [f"{study.studyid}-01-{n}" for n in ended], "DSCAT": safety.END_OF_STUDY})
    return dm, ae, supp, ds, level


FOLLOWED = "2025-10-01"  # followed past day 28
LATE = "2025-09-20T10:00"  # infused 19 days later: day 28 is 2025-10-17


@pytest.mark.parametrize(
    ("as_of", "provisional", "why"),
    [
        # the anaemia began 2025-09-20: an exception if it resolves within 28 days, by 2025-10-18
        ("2025-10-01", True, "no end date at 2025-10-01: a DLT only if it lasts more than 28 days (not resolved by "
         "2025-10-18)"),
        ("2025-10-17", True, "no end date at 2025-10-17: a DLT only if it lasts more than 28 days (not resolved by "
         "2025-10-18)"),
        ("2025-10-18", False, ""),  # not resolved by its 28th day, known at the data date: a DLT
        ("2025-12-01", False, ""),  # data as of a later date: RFPENDTC need not reach it
    ],
)  # fmt: skip
def test_a_dlt_that_hangs_on_an_unknown_end_date_is_provisional(specs, as_of, provisional, why):
    dm, ae, supp, ds, _ = level_of(specs, [("0101", FOLLOWED, "anaemia")])
    _, events = safety.dlt_status(dm, ae, supp, specs.study, as_of, ds)
    assert events[["label", "provisional", "withdrawable", "why"]].values.tolist() == [
        ["01-0101", provisional, provisional, why]
    ]


def test_a_dlt_in_an_open_window_is_provisional_and_stays_a_dlt(specs):
    dm, ae, supp, ds, level = level_of(specs, [("0101", "2025-09-10", "dlt")])
    _, events = safety.dlt_status(dm, ae, supp, specs.study, "2025-09-10", ds)  # day 10 of 28
    assert events[["provisional", "withdrawable", "window_open"]].values.tolist() == [[True, False, True]]
    assert events["why"].iloc[0] == "DLT window open until 2025-09-28: more DLTs may follow"
    got = safety.dlt_table(dm, ae, supp, specs.study, "2025-09-10", ds).set_index("level").loc[level]
    assert (got["dlt"], got["provisional"], got["evaluable"]) == (1, 1, 1)


CLEAN = [(f"01{i}", FOLLOWED, None) for i in range(10, 15)]  # five subjects followed through without a DLT
PENDING_BOTH = "ESCALATE in the best case, STOP: MTD EXCEEDED in the worst"


@pytest.mark.parametrize(
    ("subjects", "ended", "as_of", "expected"),
    [
        # six followed through, one DLT, one anaemia that may resolve: 1/6 escalates, 2/6 stops
        ([("0101", FOLLOWED, "dlt"), ("0102", FOLLOWED, "anaemia"), *CLEAN[:4]],
         (), "2025-10-01", ("PENDING", 2, 1, PENDING_BOTH + ": 1 subject whose only DLT may turn out not to be one "
                                        "(01-0102)")),
        # the same once the anaemia has lasted past its 28 days: a DLT, 2/6 stops
        ([("0101", FOLLOWED, "dlt"), ("0102", FOLLOWED, "anaemia"), *CLEAN[:4]],
         (), "2025-10-18", ("STOP: MTD EXCEEDED", 2, 0, "")),
        # two DLTs that stand (provisional: their windows are open on day 10) and one subject in the window: STOP
        # whatever the window brings
        ([("0101", "2025-09-10", "dlt"), ("0102", "2025-09-10", "dlt"), ("0103", "2025-09-10", None)],
         (), "2025-09-10", ("STOP: MTD EXCEEDED", 2, 2, "the same in the best and the worst case: 1 subject not yet "
                                                         "evaluable (01-0103)")),
        # five clean, the sixth in the window: 0/6 or 1/6, ESCALATE either way
        ([*CLEAN, ("0103", FOLLOWED, None, LATE)],
         (), "2025-10-01", ("ESCALATE", 0, 0, "the same in the best and the worst case: 1 subject not yet evaluable "
                                              "(01-0103)")),
        # two clean, the third in the window: 0/3 escalates, 1/3 expands
        ([("0110", FOLLOWED, None), ("0111", FOLLOWED, None), ("0103", FOLLOWED, None, LATE)],
         (), "2025-10-01", ("PENDING", 0, 0, "ESCALATE in the best case, EXPAND TO 6 in the worst: 1 subject not yet "
                                             "evaluable (01-0103)")),
        # the third left before day 28 without a DLT (an end-of-study record): not evaluable, the cohort incomplete
        ([("0110", FOLLOWED, None), ("0111", FOLLOWED, None), ("0103", "2025-09-10", None)],
         ("0103",), "2025-10-01", ("PENDING", 0, 0, "no complete cohort of 3 DLT-evaluable subjects, even once the "
                                                    "open windows close")),
        # ... without that record, seen last on day 10 though the window closed: not yet evaluable
        ([("0110", FOLLOWED, None), ("0111", FOLLOWED, None), ("0103", "2025-09-10", None)],
         (), "2025-10-01", ("PENDING", 0, 0, "ESCALATE in the best case, EXPAND TO 6 in the worst: 1 subject not yet "
                                             "evaluable (01-0103)")),
    ],
)  # fmt: skip
def test_the_decision_is_decided_only_when_best_and_worst_case_agree(specs, subjects, ended, as_of, expected):
    dm, ae, supp, ds, level = level_of(specs, subjects, ended)
    got = safety.dlt_table(dm, ae, supp, specs.study, as_of, ds).set_index("level").loc[level]
    assert (got["decision"], got["dlt"], got["provisional"], got["why"]) == expected
    assert got["treated"] == got["evaluable"] + got["in_window"] + got["not_evaluable"]


def test_listing_names_why_a_subject_is_not_yet_evaluable(specs):
    dm, ae, supp, ds, _ = level_of(specs, [("0110", FOLLOWED, None), ("0103", "2025-09-10", None)])
    listing = safety.dlt_listing(dm, ae, supp, specs.study, "2025-10-01", ds).set_index("label")
    assert list(listing.index) == ["01-0103"]  # 0110: followed through, no DLT: not listed
    assert listing.loc["01-0103", "why"] == (
        "no DLT so far; followed to 2025-09-10 only, before the window ended on 2025-09-28, and no end-of-study record"
    )


def test_markers_name_the_provisional_dlts(specs):
    dm, ae, supp, ds, _ = level_of(specs, [("0101", FOLLOWED, "dlt"), ("0102", FOLLOWED, "anaemia")])
    assert safety.markers(ae, supp, specs.study)["kind"].tolist() == ["DLT", "DLT"]  # without DM: as SUPPAE says
    got = safety.markers(ae, supp, specs.study, dm, "2025-10-01", ds).set_index("USUBJID")["kind"]
    assert got.to_dict() == {
        f"{specs.study.studyid}-01-0101": "DLT",
        f"{specs.study.studyid}-01-0102": "DLT (provisional)",
    }


def test_baseline_weight_from_its_rows_alone():
    """What the summary reads of VS (its baseline weights, read a block at a time) gives the same weights as VS."""
    vs = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1", "S-2", "S-2"],
            "VSTESTCD": ["WEIGHT", "WEIGHT", "HEIGHT", "WEIGHT"],
            "VSBLFL": ["Y", None, "Y", "Y"],
            "VSSTRESN": [70.5, 71.0, 180.0, 64.0],
        }
    )
    assert safety.weight_rows(vs).tolist() == [True, False, False, True]
    weights = safety.baseline_weight(vs)
    assert weights.to_dict() == {"S-1": 70.5, "S-2": 64.0}
    pd.testing.assert_series_equal(safety.baseline_weight(vs[safety.weight_rows(vs)]), weights)
    assert not safety.weight_rows(vs.drop(columns="VSBLFL")).any()  # no baseline flag: no weight

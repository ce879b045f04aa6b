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
    assert got.loc[a1].tolist() == [3, 3, 0, 2, "STOP: MTD EXCEEDED"]  # 0001 and 0004 of 0001, 0004, 0006
    assert got.loc[a2].tolist() == [1, 1, 0, 0, "PENDING"]  # one subject: the cohort is not complete
    assert got.loc[a3].tolist() == [0, 0, 0, 0, ""]  # not dosed


def test_dlt_needs_the_flag_on_the_record(frames, specs):
    """A DLTFL naming an AESEQ that is not in AE marks nothing; N never counts."""
    _, _, ae, supp = frames
    moved = supp.assign(IDVARVAL=supp["IDVARVAL"].where(supp["QNAM"] != "DLTFL", "7"))
    assert safety.dlt_events(ae, moved).empty
    assert set(safety.dlt_events(ae, supp)["AESEQ"]) == {1, 2}


def test_subject_in_window_is_not_evaluable(frames, specs):
    dm, _, ae, supp = frames
    short = dm.assign(RFPENDTC=dm["RFPENDTC"].where(dm["SUBJID"] != "0005", "2025-08-10"))  # day 10 of 28
    got = safety.dlt_table(short, ae, supp, specs.study).set_index("level")
    a2 = specs.study.arms[1]["armcd"]
    assert got.loc[a2, ["evaluable", "in_window", "decision"]].tolist() == [0, 1, "PENDING"]


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

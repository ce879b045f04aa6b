"""Tests of flows/review/efficacy.py: change from baseline of the instrument totals by dose level and visit, on a
small ADQS built here and in the sample's summary.html (read back with pandas' HTML reader)."""

from __future__ import annotations

import pandas as pd

from flows.review.efficacy import analysed_totals, change_by_visit


def test_analysed_records_with_a_change_by_level_and_visit(specs):
    adqs = pd.DataFrame(
        {
            "PARAMCD": ["MGADLTOT", "MGADLTOT", "MGADLTOT", "MGADLTOT", "MGADLTOT", "MGADL01", "QMGTOT"],
            "PARAM": ["MG-ADL Total Score"] * 5 + ["Talking", "QMG Total Score"],
            "TRTA": ["DL1", "DL1", "DL1", "DL1", "DL2", "DL1", "DL1"],
            "AVISITN": [6, 6, 6, 2, 6, 6, 6],
            "AVISIT": ["MONTH 3", "MONTH 3", "MONTH 3", "BASELINE", "MONTH 3", "MONTH 3", "MONTH 3"],
            "ANL01FL": ["Y", "Y", None, "Y", "Y", "Y", "Y"],  # the third: not the analysed record of its visit
            "CHG": [-2.0, -5.0, -9.0, None, 1.0, -1.0, -4.0],  # baseline: no change
        }
    )
    out = change_by_visit(adqs, specs.study)
    assert analysed_totals(adqs, specs.study).tolist() == [True, True, False, False, True, False, True]
    kept = adqs[analysed_totals(adqs, specs.study)]  # what the summary reads of ADQS: the same table from them
    pd.testing.assert_frame_equal(change_by_visit(kept, specs.study), out)
    # an item (MGADL01) is not a total; MG-ADL before QMG (study.yaml order), DL1 before DL2
    assert out[["PARAMCD", "TRTA", "AVISIT", "n"]].values.tolist() == [
        ["MGADLTOT", "DL1", "MONTH 3", 2],
        ["MGADLTOT", "DL2", "MONTH 3", 1],
        ["QMGTOT", "DL1", "MONTH 3", 1],
    ]
    first = out.iloc[0]
    assert (first["mean"], first["median"], first["range"]) == (-3.5, -3.5, "-5 to -2")


def test_summary_shows_the_change_of_dl1_at_month_3(sample_export):
    _, transfer = sample_export
    table = pd.read_html(transfer / "summary.html", attrs={"id": "efficacy"})[0]
    row = table[
        (table["Parameter"] == "MG-ADL Total Score")
        & table["Dose level (TRTA)"].str.startswith("Dose Level 1")
        & (table["Analysis visit"] == "MONTH 3")
    ].iloc[0]
    assert (row["n"], row["Mean"]) == (6, -5.7)  # issue 22's hand computation from the SDTM

"""Tests of flows/review/teae.py: treatment-emergent events by dose level from ADAE and ADSL, on small frames built
here, and in the sample's summary.html against the safety section's own counts from AE (they must agree)."""

from __future__ import annotations

import pandas as pd

from flows.review.teae import teae_by_level


def test_subjects_counted_once_per_kind(specs):
    adsl = pd.DataFrame(
        {"USUBJID": ["A", "B", "C", "D"], "ACTARMCD": ["DL1", "DL1", "DL2", None], "SAFFL": ["Y", "Y", "Y", "N"]}
    )
    adae = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "C", "C"],
            "TRTEMFL": ["Y", "Y", None, "Y"],  # C's first event began before the infusion
            "AOCCFL": ["Y", None, None, "Y"],
            "AOCCIFL": [None, "Y", None, "Y"],
            "ATOXGRN": [1, 3, 4, 2],
            "CRSFL": [None, "Y", "Y", None],
            "ICANSFL": [None, None, None, None],
            "DLTFL": ["N", "Y", "N", "N"],
        }
    )
    table = teae_by_level(adae, adsl, specs.study).set_index("row")
    assert list(table.columns) == ["DL1", "DL2", "Total"]  # D is not in the safety population
    assert table.loc["Safety population (ADSL.SAFFL = Y)"].tolist() == ["2", "1", "3"]
    assert table.loc["Any TEAE (AOCCFL = Y)"].tolist() == ["1 (50%)", "1 (100%)", "2 (67%)"]
    assert table.loc["Worst grade 3 or more (AOCCIFL = Y, ATOXGRN >= 3)"].tolist() == ["1 (50%)", "0 (0%)", "1 (33%)"]
    assert table.loc["CRS (CRSFL = Y)"].tolist() == ["1 (50%)", "0 (0%)", "1 (33%)"]  # C's CRS was not emergent
    assert table.loc["DLT (DLTFL = Y)"].tolist() == ["1 (50%)", "0 (0%)", "1 (33%)"]


def test_the_review_from_adae_agrees_with_the_review_from_ae(sample_export):
    _, transfer = sample_export
    page = transfer / "summary.html"
    teae = pd.read_html(page, attrs={"id": "teae"})[0].set_index("Subjects")
    overview = next(t for t in pd.read_html(page) if "Any AE" in t.iloc[:, 0].astype(str).tolist())
    overview = overview.set_index(overview.columns[0])
    # every AE of the sample begins on or after its subject's infusion: the TEAEs are all AEs of treated subjects
    assert teae.loc["Any TEAE (AOCCFL = Y)"].tolist() == overview.loc["Any AE"].tolist()
    assert teae.loc["Worst grade 3 or more (AOCCIFL = Y, ATOXGRN >= 3)"].tolist() == overview.loc["Grade >= 3"].tolist()

"""Tests of flows/review/eligibility.py: the summary.html section of the eligibility rules checked on the data."""

from __future__ import annotations

import pandas as pd

from flows.raw.eligibility import WARNING_COLUMNS, Eligibility
from flows.review.eligibility import eligibility_section

CHECKS = {
    "INCL01": {"check": "age_range", "evaluated": 34, "warnings": 1},
    "EXCL07": {"check": "washout", "not_evaluated": "no raw file holds prior therapies"},
}
WARNING = ["S-01-0003", "INCL01", "age 85 years <birth 1939-08-01>", "N", "Y", "eligibility.csv", 36]


def test_no_rule_checked_gives_no_section():
    assert eligibility_section(None) == "" and eligibility_section(Eligibility()) == ""


def test_warnings_listed_with_subject_criterion_data_and_checklist():
    html = eligibility_section(Eligibility(pd.DataFrame([WARNING], columns=WARNING_COLUMNS), CHECKS))
    assert html.startswith("\n<h2>Eligibility rules checked against the data</h2>")
    assert (
        "<tr><td>S-01-0003</td><td>INCL01</td><td>age 85 years &lt;birth 1939-08-01&gt;</td><td>N</td><td>Y</td>"
        "<td>eligibility.csv line 36</td></tr>"
    ) in html  # escaped
    assert '<tr><td>INCL01</td><td>age_range</td><td class="n">34</td><td class="n">1</td><td></td></tr>' in html
    assert "<td>EXCL07</td><td>washout</td>" in html and "no raw file holds prior therapies" in html


def test_no_disagreement_says_so():
    html = eligibility_section(Eligibility(checks={"INCL01": {"check": "age_range", "evaluated": 3, "warnings": 0}}))
    assert "No disagreement between the data and the checklist." in html and "eligibility-warnings" not in html


def test_the_rows_rejected_are_said_when_given():
    checks = {"INCL01": {"check": "age_range", "evaluated": 3, "warnings": 0}}
    note = "Checked on the valid rows; 2 rows of enrollment.csv rejected at validation, not counted (see rejects.csv)."
    html = eligibility_section(Eligibility(checks=checks), note)
    assert f'<p class="note rejected-note">{note}</p>' in html
    assert "rejected-note" not in eligibility_section(Eligibility(checks=checks))

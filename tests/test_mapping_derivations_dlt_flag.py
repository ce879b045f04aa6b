"""derivations/dlt_flag.py: Y for a dose-limiting toxicity by the rule of study.yaml."""

from __future__ import annotations

import pytest

from flows.mapping.derivations.dlt_flag import is_dlt
from tests.mapping_cases import context, run, s

STEP = "{derivation: dlt_flag, rule: safety.dlt, day: DY, grade: GR, relation: REL, term: TERM, began: ST, ended: EN}"


@pytest.mark.parametrize(
    ("day", "grade", "relation", "term", "ended", "flag"),
    [
        ("5", "3", "RELATED", "Pyrexia", "2025-06-30", "Y"),  # in the window, grade 3, related
        ("29", "3", "RELATED", "Pyrexia", "2025-06-30", "N"),  # after day 28
        ("5", "2", "RELATED", "Pyrexia", "2025-06-30", "N"),  # below grade 3
        ("5", "4", "NOT RELATED", "Pyrexia", "2025-06-30", "N"),  # not related
        ("5", "3", "RELATED", "Cytokine release syndrome", "2025-06-03", "N"),  # grade 3 CRS resolved in 2 days
        ("5", "3", "RELATED", "Cytokine release syndrome", "2025-06-10", "Y"),  # ... in 9 days
        ("5", "4", "RELATED", "Lymphocyte count decreased", "2025-06-30", "N"),  # always an exception
        ("5", "3", "RELATED", "Anaemia", "2025-06-29", "N"),  # resolved in 28 days: an expected cytopenia
        ("5", "3", "RELATED", "Anaemia", "2025-06-30", "Y"),  # ... in 29 days
        ("5", "3", "RELATED", "Anaemia", None, "Y"),  # no end date: not resolved, so not the exception
    ],
)
def test_dlt_flag_by_the_rule(specs, day, grade, relation, term, ended, flag):
    variables = {
        "DY": s(int(day), dtype="Int64"),
        "GR": s(grade),
        "REL": s(relation),
        "TERM": s(term),
        "ST": s("2025-06-01"),
        "EN": s(ended),
    }
    assert run(STEP, context(specs, variables=variables)).iloc[0] == flag


def test_is_dlt_with_an_unknown_end_set_to_its_earliest(specs):
    """The review's best case: an anaemia without an end date is no DLT if it may still resolve within 28 days."""
    rule = specs.study.lookup("safety.dlt")
    related = specs.study.lookup(rule["related_from"])
    args = (
        s(5, 5, dtype="Int64"),
        s("3", "4"),
        s("RELATED", "RELATED"),
        s("Anaemia", "Pyrexia"),
        s("2025-06-01", "2025-06-01"),
    )
    assert hits(rule, related, *args, s(None, None)) == [True, True]  # the flag: unresolved
    assert hits(rule, related, *args, s("2025-06-20", "2025-06-20")) == [False, True]  # ended by day 19


def hits(rule, related, *args) -> list[bool]:
    return is_dlt(rule, related, *args).tolist()

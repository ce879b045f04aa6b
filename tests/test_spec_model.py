"""flows.spec.model: the study's look-ups (dotted paths through mappings and lists, `*`, `count`), a contract's
columns by role and by their name in the file, on the sample's specs with hand-checked answers."""

from __future__ import annotations

import dataclasses

import pytest

from flows.spec.model import RawFormat, Study


def test_lookups_through_mappings_and_lists(specs):
    study = specs.study
    assert study.studyid == "CART-20250321"
    assert study.lookup("population.age.max") == 80
    assert study.lookup("arms.armcd") == ["DL1", "DL2", "DL3", "DL4"]  # through a list: the field of every element
    assert study.lookup("arms.count") == 4
    assert study.lookup("sites.id") == ["01"]
    with pytest.raises(KeyError):
        study.lookup("population.age.median")


def test_star_joins_the_lists_of_every_value():
    study = Study(
        {"instruments": {"A": {"items": [{"code": "A1"}, {"code": "A2"}]}, "B": {"items": [{"code": "B1"}]}}}, None
    )
    assert study.lookup("instruments.*.items.code") == ["A1", "A2", "B1"]
    assert study.allowed("instruments") == ["A", "B"]  # a mapping of mappings: its keys


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("27.1", ["27.1"]),  # one value (the MedDRA version): itself, not its characters
        (27, ["27"]),
        (["N", "Y"], ["N", "Y"]),  # a list
        ({"CRS": "Cytokine release syndrome"}, ["Cytokine release syndrome"]),  # a mapping of text: its values
    ],
)
def test_allowed_values_of_one_fact(value, allowed):
    assert Study({"safety": {"fact": value}}, None).allowed("safety.fact") == allowed


def test_a_contracts_columns_by_role_and_name_in_the_file(specs):
    enrollment = specs.raw["enrollment"]
    assert enrollment.subject_columns == ["site", "subject"]
    assert enrollment.role("CONSENT_DATE") == "consent_date" and enrollment.role("ANSWER") is None
    site = enrollment.column("site")
    assert site.in_file == "site" and dataclasses.replace(site, source="SITENO").in_file == "SITENO"
    assert enrollment.format == RawFormat() and (enrollment.format.type, enrollment.format.delimiter) == ("csv", ",")


def test_the_copies_worked_out_at_load(specs):
    assert [c.variable for c in specs.copies[("adverse_events", "verbatim_term")]] == ["AE.AETERM"]
    assert specs.base is None

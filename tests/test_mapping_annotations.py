"""Tests of flows/mapping/annotations.py: which dataset and variable each raw column of the sample's contracts
feeds (hand-read from specs/sdtm), and why a column feeding nothing is not submitted."""

from __future__ import annotations

import dataclasses

import pytest

from flows.mapping.annotations import Annotation, column_annotations, not_submitted_because


@pytest.fixture(scope="module")
def notes(specs):
    return column_annotations(specs)


def texts(notes, field) -> list[str]:
    return [f"{n.dataset}: {n.text}" for n in notes.get(field, ())]


@pytest.mark.parametrize(
    "field, expected",
    [
        (("adverse_events", "verbatim_term"), ["AE: AETERM"]),  # assign
        (("adverse_events", "meddra_soc"), ["AE: AEBODSYS", "AE: AESOC"]),  # one column, two variables
        (("adverse_events", "astct_grade"), ["AE: AETOXGR"]),  # the first of two steps
        (("adverse_events", "site"), ["AE: USUBJID"]),  # usubjid reads the columns of role SITEID and SUBJID
        # one long form, two datasets told apart by their record filters (QSCAT copies instrument; RSCAT does not)
        (("assessments", "result"), ["QS: QSORRES when QSCAT in (MG-ADL, QMG)", "RS: RSORRES when instrument = MGFA"]),
        (
            ("assessments", "date"),
            ["QS: QSDTC when QSCAT in (MG-ADL, QMG)", "RS: RSDTC when instrument = MGFA", "SV: SVSTDTC", "SV: SVENDTC"],
        ),  # SV's group: min_date and max_date
        # unpivoted dates: the constant that tells their DS records apart
        (
            ("enrollment", "consent_date"),
            [  # and the enrollment form's weight: a VS record at screening
                *("DM: RFICDTC", "DM: RFPENDTC", "DM: AGE", "DS: DSSTDTC when DSDECOD = INFORMED CONSENT OBTAINED"),
                *("VS: VISIT", "VS: EPOCH"),
            ],
        ),
        (("enrollment", "assign_date"), ["DS: DSSTDTC when DSDECOD = ENTERED INTO TRIAL"]),
        (("enrollment", "eos_date"), ["DM: RFPENDTC", "DS: DSSTDTC when DSCAT = DISPOSITION EVENT"]),
        (("enrollment", "eos_reason"), ["DS: DSTERM", "DS: DSDECOD"]),
        (("enrollment", "screening_outcome"), ["DM: ARMNRS"]),  # read by a condition of ARMNRS
        (("enrollment", "dose_level"), ["DM: ARMCD", "DS: DSTERM"]),  # DSTERM: a template's part
        (("eligibility", "criterion"), ["IE: IETESTCD", "IE: IETEST", "IE: IECAT"]),
        (("dosing", "cells_per_kg"), ["EX: EXDOSE"]),
    ],
)
def test_column_annotations(notes, field, expected):
    assert texts(notes, field) == expected


@pytest.mark.parametrize(
    "contract, column, why",
    [
        ("enrollment", "initials", "personal data, never output"),
        ("adverse_events", "meddra_version", "collected; no SDTM variable in this transfer takes it"),
        ("dosing", "planned_level", "collected to check other fields; no SDTM variable in this transfer takes it"),
    ],
)
def test_not_submitted(notes, specs, contract, column, why):
    assert (contract, column) not in notes
    assert not_submitted_because(specs.raw[contract], column, specs) == why


def test_a_form_no_dataset_reads_says_its_contract_reason(specs):
    without_ae = {d: s for d, s in specs.sdtm.items() if d not in ("AE", "SUPPAE")}
    specs = dataclasses.replace(specs, sdtm=without_ae)
    assert not any(f[0] == "adverse_events" for f in column_annotations(specs))
    contract = specs.raw["adverse_events"]
    assert not_submitted_because(contract, "verbatim_term", specs) == contract.not_tabulated


def test_a_supplemental_qualifier_reading_a_raw_column_is_annotated_in_its_supp_dataset(specs):
    supp = specs.sdtm["SUPPAE"]
    how = dict(supp.records["supplemental"])
    extra = {"qnam": "AETRMX", "qlabel": "Verbatim Term Copy", "qorig": "Collected", "map": {"assign": "verbatim_term"}}
    how["qualifiers"] = [*how["qualifiers"], extra]
    supp = dataclasses.replace(supp, records={"supplemental": how})
    notes = column_annotations(dataclasses.replace(specs, sdtm={**specs.sdtm, "SUPPAE": supp}))
    assert notes[("adverse_events", "verbatim_term")] == (
        Annotation("AE", "AETERM"),
        Annotation("SUPPAE", "AETRMX", supplemental=True),
    )
    assert notes[("adverse_events", "verbatim_term")][1].text == "AETRMX in SUPPAE"


def test_every_collected_variable_is_annotated_on_a_field(notes, specs):
    annotated = {(n.dataset, n.variable) for field in notes.values() for n in field}
    collected = {(d, v.name) for d, s in specs.sdtm.items() for v in s.variables if v.origin == "Collected"}
    assert len(collected) == 46 and collected <= annotated  # the MedDRA terms are Assigned (a dictionary)


def test_the_columns_that_feed_nothing(notes, specs):
    every = {(n, c) for n, contract in specs.raw.items() for c in contract.column_names}
    assert set(notes) <= every
    assert sorted(every - set(notes)) == [
        ("adverse_events", "meddra_version"),  # checked against study.yaml's MedDRA version (a row rule)
        ("dosing", "planned_level"),  # checked against the enrollment's level (a parent rule)
        ("enrollment", "initials"),  # personal data
    ]  # the weights, the infusion number and the total cells feed VS and SUPPEX

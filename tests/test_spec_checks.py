"""Tests of flows/spec/checks.py on its own: each check on the sample's specs with one fact broken in memory, the
message one line naming the file and key. (tests/test_specs.py breaks the YAML files and loads them whole.)"""

from __future__ import annotations

import dataclasses

import pytest

from flows.kernel.errors import SpecError
from flows.spec.checks import check_conformance, check_raw, check_sdtm, check_study_schedule
from flows.spec.model import Specs

OUTCOME = "screening_outcomes.enrolled"


def with_contract(specs: Specs, name: str, **changes) -> Specs:
    return dataclasses.replace(specs, raw={**specs.raw, name: dataclasses.replace(specs.raw[name], **changes)})


def with_column(specs: Specs, name: str, column: str, **changes) -> Specs:
    contract = specs.raw[name]
    columns = tuple(dataclasses.replace(c, **changes) if c.name == column else c for c in contract.columns)
    return with_contract(specs, name, columns=columns)


def with_variable(specs: Specs, domain: str, variable: str, **changes) -> Specs:
    spec = specs.sdtm[domain]
    variables = tuple(dataclasses.replace(v, **changes) if v.name == variable else v for v in spec.variables)
    return dataclasses.replace(specs, sdtm={**specs.sdtm, domain: dataclasses.replace(spec, variables=variables)})


def message(check, specs: Specs) -> str:
    with pytest.raises(SpecError) as err:
        check(specs)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_the_sample_passes(specs):
    check_raw(specs)
    check_sdtm(specs)
    check_study_schedule(specs.study.data, "study.yaml")


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (
            lambda s: with_contract(s, "dosing", key=("site", "subject", "dose")),
            "dosing.yaml: key: 'dose' is not a column",
        ),
        (lambda s: with_contract(s, "dosing", parent="enrolment"), "dosing.yaml: parent: unknown raw file 'enrolment'"),
        (lambda s: with_column(s, "dosing", "lot", type="text"), "dosing.yaml: columns.lot.type: 'text' is not one of"),
        (
            lambda s: with_contract(s, "assessments", cut={"date": "visit_date"}),
            "assessments.yaml: cut: unknown column 'visit_date'",
        ),
        (
            lambda s: with_contract(
                s, "adverse_events", cut={"date": "start_date", "blank_after": {"end_date": ["stop"]}}
            ),
            "adverse_events.yaml: cut: unknown column 'stop'",
        ),
        (
            lambda s: with_column(s, "dosing", "lot", role="SUBJID"),
            "dosing.yaml: columns: a role is given to more than one column",
        ),
        (
            lambda s: with_column(s, "dosing", "subject", role=None),
            "dosing.yaml: columns: a file with a parent or children needs a column with role: SUBJID",
        ),
        (
            lambda s: with_column(s, "enrollment", "subject", role=None),  # a parent, by its children
            "enrollment.yaml: columns: a file with a parent or children needs a column with role: SUBJID",
        ),
        (
            lambda s: with_column(s, "dosing", "lot", role="BATCH"),
            "dosing.yaml: columns.lot.role: 'BATCH' is not one of",
        ),
        (
            lambda s: with_contract(s, "enrollment", parent_rules=({"rule": "parent_equals", "value": "Y"},)),
            "enrollment.yaml: parent_rules: the file has no parent",
        ),
        (
            lambda s: with_contract(s, "dosing", parent_rules=({"rule": "parent_is"},)),
            "dosing.yaml: parent_rules[0]: unknown rule 'parent_is'",
        ),
        (
            lambda s: with_contract(
                s,
                "dosing",
                parent_rules=({"rule": "equals_parent", "column": "planned_level", "parent_column": "arm"},),
            ),
            "dosing.yaml: parent_rules[0]: unknown column 'arm' of the parent file enrollment.csv",
        ),
        (
            lambda s: with_contract(
                s,
                "dosing",
                parent_rules=(
                    {
                        "rule": "parent_equals",
                        "parent_column": "screening_outcome",
                        "value": "ENROLLED",
                        "value_from": OUTCOME,
                    },
                ),
            ),
            "dosing.yaml: parent_rules[0]: parent_equals needs value or value_from",
        ),
        (
            lambda s: with_contract(
                s,
                "dosing",
                parent_rules=({"rule": "parent_equals", "parent_column": "screening_outcome", "value_from": "x.y"},),
            ),
            "dosing.yaml: parent_rules[0].value_from: 'x.y' names no fact in the study",
        ),
        (
            lambda s: with_contract(
                s, "dosing", row_rules=({"rule": "not_before", "column": "end", "other": "begin"},)
            ),
            "dosing.yaml: row_rules[0]: unknown column 'begin'",
        ),
    ],
)
def test_a_broken_contract_is_named(specs, broken, expected):
    assert expected in message(check_raw, broken(specs))


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (lambda s: with_variable(s, "DM", "AGE", name="age"), "dm.yaml: variables.age: name must be upper case"),
        (lambda s: with_variable(s, "DM", "AGE", name="AGEATCONSENT"), "at most 8 characters"),
        (lambda s: with_variable(s, "DM", "AGE", type="Integer"), "dm.yaml: variables.AGE: type, core or origin not"),
        (lambda s: with_variable(s, "DM", "AGE", core="Required"), "dm.yaml: variables.AGE: type, core or origin not"),
        (
            lambda s: with_variable(s, "DM", "USUBJID", method=None),
            "dm.yaml: variables.USUBJID: a Derived variable needs",
        ),
        (lambda s: with_variable(s, "DM", "AGE", method="AGECALC"), "variables.AGE.method: unknown method 'AGECALC'"),
        (
            lambda s: dataclasses.replace(s, sdtm={**s.sdtm, "AE": dataclasses.replace(s.sdtm["AE"], seq="AESEQN")}),
            "ae.yaml: keys: unknown variable 'AESEQN'",
        ),
        (
            lambda s: dataclasses.replace(s, sdtm={**s.sdtm, "AX": dataclasses.replace(s.sdtm["AE"], domain="AX")}),
            "ae.yaml: domain: 'AX' does not match the file name",
        ),
    ],
)
def test_a_broken_dataset_spec_is_named(specs, broken, expected):
    assert expected in message(check_sdtm, broken(specs))


@pytest.mark.parametrize(
    "schedule",
    [
        {"cron": "0 2 * * *"},
        {"cron": "*/15 1-5 * * MON-FRI", "timezone": "UTC"},
        {"cron": "30 2 1,15 * *", "source": "x"},
    ],
)
def test_a_good_schedule_passes(schedule):
    check_study_schedule({"sites": [{"timezone": "Asia/Shanghai"}], "schedule": schedule}, "study.yaml")


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 2 * * *", "study.yaml: schedule: expected a mapping with 'cron'"),
        ({"timezone": "UTC"}, "study.yaml: schedule: expected a mapping with 'cron'"),
        ({"cron": "0 2 * * * *"}, "study.yaml: schedule.cron '0 2 * * * *' is not a five-field cron"),  # six fields
        ({"cron": "0 2 * * ?"}, "is not a five-field cron"),  # Quartz syntax
        ({"cron": "0 2 * * *", "timezone": "CST"}, "study.yaml: schedule.timezone: 'CST' is not an IANA time zone"),
    ],
)
def test_a_bad_schedule_is_named(schedule, expected):
    with pytest.raises(SpecError) as err:
        check_study_schedule({"schedule": schedule}, "study.yaml")
    assert expected in str(err.value)


def test_a_site_without_a_time_zone_is_named():
    with pytest.raises(SpecError, match=r"study\.yaml: sites\[1\]\.timezone: None is not an IANA time zone"):
        check_study_schedule({"sites": [{"timezone": "Asia/Shanghai"}, {"id": "02"}]}, "study.yaml")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "sas7bdat"}, "format.type: 'sas7bdat' is not one of ['csv', 'xpt', 'odm']"),
        ({"encoding": "ebcdic"}, "format.encoding: 'ebcdic' is not one of"),
        ({"delimiter": ";;"}, "format.delimiter: one character, not ';;'"),
        ({"decimal": ","}, "format: a decimal comma needs another delimiter (e.g. ';')"),
        ({"decimal": "·"}, "format.decimal: '.' or ',', not '·'"),
        ({"type": "odm", "form": "F.AE"}, "format: an ODM file needs the form and item_group"),
        ({"form": "F.AE"}, "format: form, item_group and study_event are for type odm"),
    ],
)
def test_a_broken_format_is_named(specs, fmt, expected):
    from flows.spec.model import RawFormat

    found = message(check_raw, with_contract(specs, "adverse_events", format=RawFormat(**fmt)))
    assert found.startswith(f"{specs.raw['adverse_events'].path}: ") and expected in found


@pytest.mark.parametrize(
    ("column", "changes", "expected"),
    [
        ("sex", {"format": "DDMONYYYY"}, "columns.sex.format: only a date column has a format (the column is string)"),
        ("consent_date", {"format": "YYYYMMDD"}, "columns.consent_date.format: 'YYYYMMDD' is not one of"),
        ("weight_kg", {"decode": {"1": "Y"}}, "columns.weight_kg.decode: only a text column is decoded"),
        ("sex", {"decode": {"1": "M", "2": "W"}}, "columns.sex.decode: ['W'] not in codelist SEX"),
    ],
)
def test_a_broken_column_format_or_decode_is_named(specs, column, changes, expected):
    assert expected in message(check_raw, with_column(specs, "enrollment", column, **changes))


def test_an_element_epoch_outside_ct_is_named(specs):
    from flows.spec.checks import check_study
    from flows.spec.model import Study

    elements = [dict(e) for e in specs.study.data["elements"]]
    elements[1]["epoch"] = "INFUSION"
    study = Study({**specs.study.data, "elements": elements}, specs.study.path)
    found = message(check_study, dataclasses.replace(specs, study=study))
    assert found == f"{specs.study.path}: elements[1].epoch: ['INFUSION'] not in codelist EPOCH (CT 2025-03-28)"


@pytest.mark.parametrize("file", ["../../../../../../etc/passwd", "sub/dosing.csv", ".."])
def test_a_contract_file_outside_the_raw_folder_is_named(specs, file):
    found = message(check_raw, with_contract(specs, "dosing", file=file))
    assert found == f"{specs.raw['dosing'].path}: file: '{file}' must be a plain file name in the raw folder (no path)"


@pytest.mark.parametrize(
    "change, ref",
    [
        ({"datasets": ["AE", "XX"]}, "XX"),  # no such dataset
        ({"affected": {"later": "AE.AESTDT", "than_last": "DS.DSSTDTC"}}, "AE.AESTDT"),  # no such variable
    ],
)
def test_a_conformance_finding_naming_what_does_not_exist_is_named(specs, change, ref):
    check_conformance(specs)  # the sample's pass
    finding = {**specs.conformance["findings"][0], **change}
    broken = dataclasses.replace(specs, conformance={**specs.conformance, "findings": [finding]})
    with pytest.raises(SpecError, match=rf"conformance.yaml: findings\[0\]: '{ref}' names no dataset"):
        check_conformance(broken)

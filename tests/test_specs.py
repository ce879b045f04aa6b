"""Tests of flows/spec/model.py and flows/spec/checks.py: broken specs stop start-up with one line naming file and
key."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.load import load_specs
from flows.spec.read import SPECS_DIR
from tests.conftest import run_cli


def test_specs_load_and_agree(specs):
    assert specs.study.studyid == "CART-20250321"
    assert [a["dose"] for a in specs.study.arms] == [1.0, 2.0, 4.0, 8.0]
    assert set(specs.sdtm) >= {"DM", "EX", "IE", "TI", "TS"}
    assert specs.ct_release == "2025-03-28"
    assert specs.codelists["ARMNULRS"].code_of("SCREEN FAILURE") == "C49628"


def broken(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    root = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, root)
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {rel}: {old}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("rel", "old", "new", "expected"),
    [
        (
            "sdtm/dm.yaml",
            "codelist: SEX,",
            "codelist: GENDER,",
            "dm.yaml: variables.SEX.values: unknown codelist 'GENDER'",
        ),
        (
            "sdtm/ex.yaml",
            "keys: [STUDYID, USUBJID, EXTRT, EXSTDTC]",
            "keys: [STUDYID, USUBJID, EXTRTX]",
            "ex.yaml: keys: unknown variable 'EXTRTX'",
        ),
        (
            "sdtm/ie.yaml",
            "map: {assign: criterion}",
            "map: {assign: criterio}",
            "ie.yaml: variables.IETESTCD.map.assign.column: unknown column 'criterio' (not in the records of IE)",
        ),
        (
            "raw/enrollment.yaml",
            "values_from: arms.armcd",
            "values_from: arms.code",
            "enrollment.yaml: columns.dose_level.values_from: 'arms.code' names no fact in the study",
        ),
        (
            "study.yaml",
            "route: INTRAVENOUS ",
            "route: INTRAVENUS ",
            "study.yaml: treatment.route: ['INTRAVENUS'] not in codelist ROUTE",
        ),
        (
            "study.yaml",
            "rule: {check: class_in, instrument: MGFA, visit: SCREENING",
            "rule: {check: class_in, instrument: MGFB, visit: SCREENING",
            "study.yaml: criteria.INCL02.rule.instrument: 'MGFB' is not an instrument of study.yaml (MG-ADL, QMG",
        ),
        ("sdtm/ti.yaml", "label: Trial Inclusion/Exclusion Criteria\n", "", "ti.yaml: missing required key 'label'"),
        (
            "study.yaml",
            'plausible_dates: {earliest: "2025-01-01"',
            'plausible_dates: {earliest: "2025-13-01"',
            "study.yaml: plausible_dates.earliest: '2025-13-01' is not a date YYYY-MM-DD",
        ),
        (
            "raw/enrollment.yaml",
            'earliest: "1900-01-01"',
            "earliest: 1900-01-01",  # unquoted: YAML makes it a date, not the text the checks compare
            "enrollment.yaml: columns.birth_date.earliest: '1900-01-01' is not a date YYYY-MM-DD (quote it)",
        ),
        (
            "raw/enrollment.yaml",
            "{name: sex, type: string,",
            '{name: sex, type: string, earliest: "1900-01-01",',
            "enrollment.yaml: columns.sex.earliest: only a date column has an earliest date",
        ),
        (
            "study.yaml",
            'schedule: {cron: "0 2 * * *"',
            'schedule: {cron: "0 2 * *"',  # four fields
            "study.yaml: schedule.cron '0 2 * *' is not a five-field cron",
        ),
        (
            "study.yaml",
            'schedule: {cron: "0 2 * * *"',
            'schedule: {cron: "0 2am * * *"',
            "study.yaml: schedule.cron '0 2am * * *' is not a five-field cron",
        ),
        (
            "study.yaml",
            'schedule: {cron: "0 2 * * *"',
            'schedule: {cron: "0 2 * * *", timezone: Asia/Shanghi',
            "study.yaml: schedule.timezone: 'Asia/Shanghi' is not an IANA time zone",
        ),
        (
            "study.yaml",
            'schedule: {cron: "0 2 * * *"',
            'schedule: {cron: "0 2 * * *", zone: UTC',
            "study.yaml: schedule: unknown key(s) ['zone']",
        ),
        (
            "study.yaml",
            "    timezone: Asia/Shanghai\n",
            "    timezone: China Standard Time\n",
            "study.yaml: sites[0].timezone: 'China Standard Time' is not an IANA time zone",
        ),
        (
            "sdtm/dm.yaml",
            "label: Subject Reference Start Date/Time,",
            "label: Subject Reference Start Date/Time of the First Exposure,",
            "dm.yaml: variables.RFSTDTC.label: longer than 40 characters",
        ),
        (
            "sdtm/qs.yaml",
            "value_level: {by: QSTESTCD}",
            "value_level: {by: QSTESCD}",
            "qs.yaml: variables.QSORRES.value_level.by: 'QSTESCD' is not another variable of the dataset",
        ),
        (
            "sdtm/ds.yaml",
            "DISPOSITION EVENT: NCOMPLT}",
            "DISPOSITION EVENT: NCOMPLETE}",
            "ds.yaml: variables.DSDECOD.value_level.codelists.DISPOSITION EVENT: unknown codelist 'NCOMPLETE'",
        ),
        (
            "sdtm/dm.yaml",
            "version_from: standards.country_codes.version}",
            "version_from: standards.country_code.version}",
            "dm.yaml: variables.COUNTRY.external_codelist.version_from: no 'standards.country_code.version' in study",
        ),
        (
            "sdtm/ts.yaml",
            "value_level: {by: TSPARMCD},",
            "value_level: {by: TSPARMCD, codelist: NY},",
            "ts.yaml: variables.TSVAL.value_level: expected {by: <variable>",
        ),
    ],
)
def test_broken_spec_names_file_and_key(tmp_path, rel, old, new, expected):
    root = broken(tmp_path, rel, old, new)
    with pytest.raises(SpecError) as err:
        load_specs(root)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_broken_spec_stops_cli_with_one_line(tmp_path):
    root = broken(tmp_path, "sdtm/dm.yaml", "codelist: SEX,", "codelist: GENDER,")
    proc = run_cli("export", "--raw", "raw", "--out", str(tmp_path / "out"), "--specs", str(root))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown codelist 'GENDER'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "when_in: {meddra_pt: safety.special_interest}}",
            "when_in: {meddra_pt: safety.special_interests}}",
            "row_rules[2]: when_in.meddra_pt: 'safety.special_interests' names no fact in the study",
        ),
        ("when_in: {meddra_pt: safety", "when_in: {meddra_term: safety", "row_rules[2]: unknown column 'meddra_term'"),
        ("{rule: same_within, column: meddra_soc, by: meddra_pt}", "{rule: same_within, column: meddra_soc, by: pt}",
         "row_rules[1]: unknown column 'pt'"),
        ("{rule: blank_unless, column: astct_grade, when_in: {meddra_pt: safety.special_interest}}",
         "{rule: blank_unless, column: astct_grade}",
         "row_rules[3]: needs a condition: 'when', 'when_in' or 'when_present'"),
        ("{rule: blank_unless,", "{rule: blank_when_not,", "row_rules[3]: unknown rule 'blank_when_not'"),
        ("when_in: {meddra_pt: safety.special_interest}}", "when_present: {meddra: true}}",
         "row_rules[2]: unknown column 'meddra'"),
        ("when_in: {meddra_pt: safety.special_interest}}", "when_present: {meddra_pt: yes please}}",
         "row_rules[2]: when_present.meddra_pt: true or false, not 'yes please'"),
    ],
)  # fmt: skip
def test_broken_row_rule_names_file_and_rule(tmp_path, old, new, expected):
    with pytest.raises(SpecError) as err:
        load_specs(broken(tmp_path, "raw/adverse_events.yaml", old, new))
    assert f"adverse_events.yaml: {expected}" in str(err.value)


EXCL07 = "event: [tocilizumab, eculizumab, efgartigimod], window: P3M"


@pytest.mark.parametrize(
    ("rel", "old", "new", "expected"),
    [
        (  # the EXCL07 of issue 10: unquoted commas in a flow mapping make keys without values
            "study.yaml",
            EXCL07,
            "event: tocilizumab, eculizumab or efgartigimod, window: P3M",
            "criteria.EXCL07.rule: 'eculizumab or efgartigimod' is not a parameter of washout (event, window, before):"
            " an unquoted comma in a value? quote it or give a list",
        ),
        (
            "study.yaml",
            EXCL07,
            "event: [], window: P3M",
            "study.yaml: criteria.EXCL07.rule.event: [] is not a name or a list",
        ),
        ("study.yaml", EXCL07, "window: P3M", "study.yaml: criteria.EXCL07.rule: washout needs event"),
        ("study.yaml", EXCL07, "event: rituximab, window: 3 months", "EXCL07.rule.window: '3 months' is not an ISO"),
        (
            "study.yaml",
            "check: class_in, instrument: MGFA, visit: BASELINE",
            "check: class_in, instrument: MGFA, visit: BASELINE, window: P1W",
            "EXCL11.rule: 'window' is not a parameter of class_in",
        ),
        ("study.yaml", "classes: [IVb, V]", "classes: [IVb, VI]", "EXCL11.rule.classes: ['IVb', 'VI'] is not a list"),
        ("study.yaml", "visits: [SCREENING, BASELINE]", "visits: [SCREENING, DAY 0]", "INCL06.rule.visits:"),
        ("study.yaml", "{instrument: QMG, min: 11}", "{instrument: QMG, max: 11}", "INCL06.rule.any_of: [{"),
        ("study.yaml", "ocular_share_below: 0.5", "ocular_share_below: 50", "INCL06.rule.ocular_share_below: 50"),
        ("study.yaml", "check: age_range, age: *age", "check: age_range, age: 18", "INCL01.rule.age: 18 is not"),
        ("study.yaml", "check: age_range", "check: age_between", "INCL01.rule.check: unknown check 'age_between'"),
        (  # a registry criterion whose text fits in IETEST must be IETEST
            "study.yaml",
            "test: Unresected thymoma",
            "test: Thymoma not resected",
            "criteria.EXCL10.test: the registry's text fits in 200 characters: IETEST must be the text itself",
        ),
        (  # the evaluator finds the date of birth by role
            "raw/enrollment.yaml",
            "role: BIRTH_DATE, ",
            "",
            "study.yaml: criteria.INCL01.rule: evaluated on the data, it needs a raw contract with columns of roles"
            " ['BIRTH_DATE', 'CONSENT_DATE', 'SUBJID']",
        ),
        ("raw/eligibility.yaml", "role: ANSWER, ", "", "INCL01.rule: evaluated on the data, it needs a raw contract"),
        (
            "raw/eligibility.yaml",
            "codelist: NY, values: [N, Y],",
            "values: [N, Y],",
            "eligibility.yaml: columns.met: the checklist ANSWER needs codelist: NY (Y/N)",
        ),
        (
            "raw/assessments.yaml",
            "role: VISIT,",
            "role: VISITS,",
            "assessments.yaml: columns.visit.role: 'VISITS' is not one of",
        ),
        ("study.yaml", "from: data.enrolled_subjects}", "from: data.treated}", "unknown data fact 'data.treated'"),
        ("study.yaml", "{parmcd: ADDON, value: N,", "{parmcd: ADDON, valeu: N,", "unknown key(s) ['valeu']"),
    ],
)
def test_broken_rule_or_trial_summary_names_file_and_key(tmp_path, rel, old, new, expected):
    root = broken(tmp_path, rel, old, new)
    with pytest.raises(SpecError) as err:
        load_specs(root)
    assert expected in str(err.value) and "\n" not in str(err.value)


SDTMIG_VARIABLES = (  # ../shared/ sits beside the repository, here and in CI
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "sdtmig" / "sdtmig-3.4-variables-all.csv"
)


@pytest.mark.skipif(not SDTMIG_VARIABLES.exists(), reason="SDTMIG 3.4 variable metadata not available")
def test_every_role_is_the_sdtmig_role(specs):
    """Each variable SDTMIG 3.4 defines has its role there (SUPP-- datasets: SUPPQUAL's); define.xml shows it."""
    with SDTMIG_VARIABLES.open(encoding="utf-8") as f:
        roles = {(r["Dataset Name"], r["Variable Name"]): r["Role"] for r in csv.DictReader(f)}
    checked, wrong = 0, []
    for domain, spec in specs.sdtm.items():
        for var in spec.variables:
            role = roles.get((domain, var.name)) or roles.get(
                ("SUPPQUAL", var.name) if domain.startswith("SUPP") else ()
            )
            if role is None:
                continue
            checked += 1
            if var.role != role:
                wrong.append(f"{domain}.{var.name}: {var.role} (SDTMIG 3.4: {role})")
    assert not wrong
    assert roles[("AE", "AESOC")] == "Variable Qualifier" and specs.sdtm["AE"].variable("AESOC").role == (
        "Variable Qualifier"
    )
    assert checked > 150  # the spec variables SDTMIG defines, not a handful

"""Tests of flows/raw/eligibility.py: the criteria rules of study.yaml on the sample's raw rows (hand-computed from
raw/), the checks' edge cases on small frames, and a planted checklist disagreement through a whole export."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flows.raw.eligibility import age_range, class_in, evaluate_eligibility, score_threshold
from flows.raw.read import SOURCE
from flows.raw.validate import validate_raw
from flows.run.pipeline import read_inputs, run_export
from tests.conftest import RAW, STUDYID


def uid(subject: str) -> str:
    return f"{STUDYID}-01-{subject}"


@pytest.fixture(scope="module")
def valid(specs):
    return validate_raw(read_inputs(RAW, specs), specs).valid


def rule(specs, code: str) -> dict:
    return next(c["rule"] for c in specs.study.criteria if c["code"] == code)


@pytest.mark.parametrize(
    ("subject", "says", "data"),
    [
        ("0001", "Y", "age 40 years (birth 1984-08-26, RFICDTC 2025-05-21); range 18-80"),
        ("0003", "N", "age 85 years (birth 1939-08-01, RFICDTC 2025-05-30); range 18-80"),  # screen failure
        ("0007", "Y", "age 78 years (birth 1947-03, RFICDTC 2025-06-30); range 18-80"),  # partial: from 1947-03-01
        ("0026", "N", "age 16 years (birth 2009-07-18, RFICDTC 2025-11-03); range 18-80"),
    ],
)
def test_age_range_at_consent(specs, valid, subject, says, data):
    answers, describe = age_range(rule(specs, "INCL01"), valid, specs)
    assert answers[uid(subject)] == says
    assert describe(pd.Index([uid(subject)])).tolist() == [data]


@pytest.mark.parametrize(
    ("code", "subject", "says", "data"),
    [
        ("INCL02", "0001", "Y", "MGFA class at SCREENING: IIIa"),  # IIa-IVa
        ("INCL02", "0023", "N", "MGFA class at SCREENING: IVb"),  # the sample's one crisis-state screen failure
        ("EXCL11", "0001", "N", "MGFA class at BASELINE: IIIb"),  # exclusion IVb-V does not apply
        ("EXCL11", "0010", "N", "MGFA class at BASELINE: IIIb"),
    ],
)
def test_class_in_at_the_rules_visit(specs, valid, code, subject, says, data):
    answers, describe = class_in(rule(specs, code), valid, specs)
    assert answers[uid(subject)] == says
    assert describe(pd.Index([uid(subject)])).tolist() == [data]


def test_class_in_gives_no_answer_without_the_visit(specs, valid):
    answers, _ = class_in(rule(specs, "EXCL11"), valid, specs)  # BASELINE: screen failures were never seen there
    assert uid("0003") not in answers.index and len(answers) == 25


def test_score_threshold_on_named_subjects(specs, valid):
    answers, describe = score_threshold(rule(specs, "INCL06"), valid, specs)
    # 0001, SCREENING: MG-ADL 1+0+2+2+1+0+1+0 = 7, ocular MGADL07+08 = 1+0; QMG 0+1+1+0+1+2+3+1+0+0+0+0+2 = 11,
    # ocular QMG01+02 = 0+1. BASELINE: MG-ADL 8 (ocular 1), QMG 11 (ocular 1): holds at both visits.
    assert answers[uid("0001")] == "Y"
    assert describe(pd.Index([uid("0001")])).tolist() == [
        "SCREENING: MG-ADL 7 (ocular 1), QMG 11 (ocular 1); BASELINE: MG-ADL 8 (ocular 1), QMG 11 (ocular 1)"
    ]
    # 0029 (screen failure), SCREENING: MG-ADL 0+1+0+1+0+0+1+0 = 3 < 6, QMG 1+0+2+1+0+2+0+0+1+1+0+1+1 = 10 < 11
    assert answers[uid("0029")] == "N"
    assert describe(pd.Index([uid("0029")])).tolist() == ["SCREENING: MG-ADL 3 (ocular 1), QMG 10 (ocular 1)"]
    # 0003 (screen failure) passes at SCREENING (MG-ADL 9) but was never seen at BASELINE: the data cannot tell
    assert uid("0003") not in answers.index
    assert answers.value_counts().to_dict() == {"Y": 25, "N": 1}


def scales(specs, rows: list[tuple[str, str, str, list[int]]]) -> dict[str, pd.DataFrame]:
    """Assessment rows of subject 01-0001 from (visit, instrument, item prefix, item scores)."""
    records = [
        {"site": "01", "subject": "0001", "visit": v, "instrument": inst, "item": f"{prefix}{i:02d}", "result": str(x)}
        for v, inst, prefix, scores in rows
        for i, x in enumerate(scores, start=1)
    ]
    frame = pd.DataFrame(records, dtype="str").assign(**{SOURCE: "assessments.csv"})
    return {"assessments": frame}


ADL_OK = [1, 1, 1, 1, 1, 0, 1, 0]  # 6, ocular (items 7, 8) 1
ADL_OCULAR = [1, 1, 1, 0, 0, 0, 3, 0]  # 6, ocular 3: 50% is not below half
QMG_OK = [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]  # 11, ocular (items 1, 2) 1
QMG_LOW = [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]  # 10


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([("SCREENING", "MG-ADL", "MGADL", ADL_OCULAR), ("BASELINE", "QMG", "QMG", QMG_OK)], None),  # no QMG: unknown
        ([("SCREENING", "MG-ADL", "MGADL", ADL_OK), ("BASELINE", "QMG", "QMG", QMG_OK)], "Y"),  # one passes per visit
        (
            [
                ("SCREENING", "MG-ADL", "MGADL", ADL_OCULAR),
                ("SCREENING", "QMG", "QMG", QMG_OK),
                ("BASELINE", "MG-ADL", "MGADL", ADL_OK),
            ],
            "Y",  # MG-ADL too ocular at SCREENING, QMG passes
        ),
        ([("SCREENING", "MG-ADL", "MGADL", ADL_OCULAR), ("SCREENING", "QMG", "QMG", QMG_LOW)], "N"),  # both fail
        ([("SCREENING", "MG-ADL", "MGADL", ADL_OCULAR), ("SCREENING", "QMG", "QMG", QMG_OK[:-1])], None),  # partial
        ([("BASELINE", "MG-ADL", "MGADL", ADL_OCULAR), ("BASELINE", "QMG", "QMG", QMG_LOW)], "N"),  # fails at one
    ],
)
def test_score_threshold_cases(specs, rows, says):
    answers, _ = score_threshold(rule(specs, "INCL06"), scales(specs, rows), specs)
    assert answers.get(uid("0001")) == says


def test_the_sample_agrees_with_its_checklist(specs, valid):
    result = evaluate_eligibility(valid, specs)
    assert result.warnings.empty
    assert result.checks["INCL01"] == {"check": "age_range", "evaluated": 34, "warnings": 0}
    assert result.checks["INCL06"] == {"check": "score_threshold", "evaluated": 26, "warnings": 0}
    assert result.checks["EXCL11"] == {"check": "class_in", "evaluated": 25, "warnings": 0}
    assert "no raw file holds" in result.checks["EXCL07"]["not_evaluated"]  # washout: no data on prior therapies
    assert "EXCL02" not in result.checks  # no rule


def test_a_planted_disagreement_is_one_warning_not_a_reject(tmp_path, specs, raw_copy):
    path = raw_copy / "eligibility.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    line = lines.index("01,0003,INCL01,N,2025-05-30") + 1  # 1-based, the header is line 1
    lines[line - 1] = "01,0003,INCL01,Y,2025-05-30"  # the investigator ticks 'age in range' for an 85-year-old
    path.write_text("\n".join(lines), encoding="utf-8")
    result = run_export(raw_copy, tmp_path / "out", specs)
    assert result.exit_code == 0 and result.rejects.empty  # a warning, not a reject
    manifest = json.loads((result.transfer / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["eligibility_warnings"] == [
        {
            "USUBJID": uid("0003"),
            "IETESTCD": "INCL01",
            "data": "age 85 years (birth 1939-08-01, RFICDTC 2025-05-30); range 18-80",
            "data_says": "N",
            "checklist": "Y",
            "file": "eligibility.csv",
            "line": line,
        }
    ]
    assert manifest["eligibility_checks"]["INCL01"] == {"check": "age_range", "evaluated": 34, "warnings": 1}
    html = (result.transfer / "summary.html").read_text(encoding="utf-8")
    assert '<table id="eligibility-warnings">' in html and f"<td>eligibility.csv line {line}</td>" in html
    assert f"<td>{uid('0003')}</td><td>INCL01</td>" in html
    ie = pd.read_csv(result.transfer / "csv" / "ie.csv", dtype=str)  # IE still reports what the checklist says
    assert not ((ie["USUBJID"] == uid("0003")) & (ie["IETESTCD"] == "INCL01")).any()


def test_no_assessment_rows_give_no_answers(specs):
    empty = scales(specs, [])["assessments"].reindex(
        columns=["site", "subject", "visit", "instrument", "item", "result"]
    )
    for code, check in (("INCL06", score_threshold), ("INCL02", class_in)):
        answers, _ = check(rule(specs, code), {"assessments": empty.astype("str")}, specs)
        assert answers.empty


def test_washout_rules_alone_read_no_checklist(specs):
    """Only washout rules (which no raw file can check) and no checklist ANSWER column: nothing is evaluated, and
    nothing asks for the checklist (it ended in StopIteration)."""
    import dataclasses

    from flows.spec.model import Study

    criteria = [c for c in specs.study.criteria if (c.get("rule") or {}).get("check") in (None, "washout")]
    study = Study(
        {**specs.study.data, "criteria": {**specs.study.data["criteria"], "list": criteria}}, specs.study.path
    )
    checklist = specs.raw["eligibility"]
    columns = tuple(dataclasses.replace(c, role=None) if c.role == "ANSWER" else c for c in checklist.columns)
    washout_only = dataclasses.replace(
        specs, study=study, raw={**specs.raw, "eligibility": dataclasses.replace(checklist, columns=columns)}
    )
    found = evaluate_eligibility({}, washout_only)
    assert found.warnings.empty
    assert {c["check"] for c in found.checks.values()} == {"washout"}
    assert all("not_evaluated" in c for c in found.checks.values()) and len(found.checks) == 6

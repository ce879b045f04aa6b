"""Tests of flows/raw/validate.py: every rule rejects the right raw line with its reason, and nothing else."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.kernel.held import Held
from flows.run.pipeline import read_inputs, validate_raw
from tests.conftest import RAW as RAW_DIR
from tests.conftest import ROOT


def edit(raw: Path, file: str, subject: str, column: str, value: str, nth: int = 0) -> int:
    """Set one cell of the nth row of a subject in a raw CSV; return that row's line number (header = line 1)."""
    frame = pd.read_csv(raw / file, dtype=str, keep_default_na=False)
    idx = frame.index[frame["subject"] == subject][nth]
    frame.loc[idx, column] = value
    frame.to_csv(raw / file, index=False, lineterminator="\n")
    return int(idx) + 2


TODAY = date(2026, 11, 1)  # the run's date at the sites, fixed: after every date of the sample


def validated(raw: Path, specs, today: date = TODAY):
    """The validation of the raw files as read, checked to be the one of the rows held compact (as the export holds
    them, flows/kernel/held.py): the same rejects, counts and lines, and the same valid rows, still held."""
    plain = validate_raw(read_inputs(raw, specs), specs, today)
    held = validate_raw(read_inputs(raw, specs, hold=True), specs, today)
    pd.testing.assert_frame_equal(held.rejects, plain.rejects)
    assert (held.counts, held.lines) == (plain.counts, plain.lines)
    assert all(isinstance(rows, Held) for rows in held.valid.values())
    for name, frame in plain.valid.items():
        pd.testing.assert_frame_equal(held.valid[name].frame(), frame)
    return plain


def test_sample_is_clean(specs):
    from tests.conftest import RAW

    v = validated(RAW, specs)
    assert v.rejects.empty
    assert all(c["read"] == c["valid"] for c in v.counts.values())
    assert "initials" not in v.valid["enrollment"]  # personal data never enters the core


@pytest.mark.parametrize(
    ("file", "subject", "column", "value", "rule", "message"),
    [
        ("enrollment.csv", "0001", "weight_kg", "250", "range", "must be between 30 and 200"),
        ("enrollment.csv", "0001", "sex", "X", "codelist:SEX", "not a term of codelist SEX"),
        ("enrollment.csv", "0001", "consent_date", "2025-02-30", "type:date", "valid ISO 8601"),
        ("enrollment.csv", "0001", "race", "", "required", "is required"),
        (
            "enrollment.csv",
            "0001",
            "dose_level",
            "DL9",
            "study:arms.armcd",
            "must be one of ['DL1', 'DL2', 'DL3', 'DL4']",
        ),
        (
            "enrollment.csv",
            "0003",
            "dose_level",
            "DL1",
            "blank_if",
            "must be blank when screening_outcome is SCREEN FAILURE",
        ),
        (
            "dosing.csv",
            "0001",
            "cells_per_kg",
            "2.00",
            "dose_matches_level",
            "not within 10% of the assigned level's dose 1.0",
        ),
        (
            "dosing.csv",
            "0001",
            "start",
            "2025-01-01T09:00",
            "infusion_before_consent",
            "infusion before informed consent",
        ),
        ("dosing.csv", "0001", "total_cells", "999", "product_matches", "must equal cells_per_kg x weight_kg"),
        ("assessments.csv", "0001", "result", "5", "instrument_result", "must be a whole score between 0 and 3"),
        ("assessments.csv", "0001", "item", "MGADL99", "instrument_item", "is not an item of the instrument"),
        ("eligibility.csv", "0001", "met", "U", "codelist:NY", "not a term of codelist NY"),
    ],
)
def test_row_rule_rejects_one_line(raw_copy, specs, file, subject, column, value, rule, message):
    line = edit(raw_copy, file, subject, column, value)
    v = validated(raw_copy, specs)
    hit = v.rejects[(v.rejects["file"] == file) & (v.rejects["line"] == line)]
    assert rule in set(hit["rule"]), v.rejects.to_string()
    assert message in " ".join(hit["message"])
    name = file.removesuffix(".csv")
    assert v.counts[name]["read"] == v.counts[name]["valid"] + v.counts[name]["rejected"]
    assert line not in v.valid[name].index


@pytest.mark.parametrize(
    ("nth", "column", "value", "rule", "message"),
    [  # 0001's rows of vital_signs.csv: 0 SCREENING (131/71 mmHg), 1 BASELINE, 2 DAY 1 PRE-INFUSION
        (0, "systolic_bp", "70", "greater_than", "must be greater than diastolic_bp (71)"),  # 70/71 mmHg
        (0, "systolic_bp", "71", "greater_than", "must be greater than diastolic_bp (71)"),  # equal: not above
        (0, "temperature_c", "45.0", "range", "must be between 34 and 42"),
        (0, "height_cm", "", "required_if", "is required when visit is SCREENING"),
        (1, "height_cm", "170.0", "blank_unless", "must be blank unless visit is SCREENING"),
        (2, "timepoint", "", "required_if", "is required when visit is DAY 1"),
        (1, "timepoint", "1H POST", "blank_unless", "must be blank unless visit is DAY 1"),
        (0, "position", "PRONE", "codelist:POSITION", "not a term of codelist POSITION"),
        (0, "date", "2025-05-01", "vital_signs_before_consent", "vital signs before informed consent"),
    ],
)
def test_vital_signs_rules(raw_copy, specs, nth, column, value, rule, message):
    line = edit(raw_copy, "vital_signs.csv", "0001", column, value, nth)
    v = validated(raw_copy, specs)
    hit = v.rejects[(v.rejects["file"] == "vital_signs.csv") & (v.rejects["line"] == line)]
    assert list(hit["rule"]) == [rule], v.rejects.to_string()
    assert list(hit["column"]) == [column] and message in hit["message"].iloc[0]
    assert len(v.rejects) == 1  # nothing else: the row's subject keeps its other rows


def test_rejected_enrollment_takes_its_subjects_rows(raw_copy, specs):
    line = edit(raw_copy, "enrollment.csv", "0001", "birth_date", "2010-01-01")  # 15 at consent, enrolled
    v = validated(raw_copy, specs)
    own = v.rejects[v.rejects["file"] == "enrollment.csv"]
    assert list(own[["line", "rule"]].itertuples(index=False, name=None)) == [(line, "age_in_range")]
    for name in ("dosing", "assessments", "eligibility"):
        raw = pd.read_csv(raw_copy / f"{name}.csv", dtype=str, keep_default_na=False)
        lines = set(raw.index[raw["subject"] == "0001"] + 2)
        got = v.rejects[v.rejects["file"] == f"{name}.csv"]
        assert set(got["line"]) == lines and set(got["rule"]) == {"parent_rejected"}
        assert got["message"].eq(f"subject's enrollment.csv line {line} was rejected (age_in_range)").all()
        assert not lines & set(v.valid[name].index)
    assert sum(c["rejected"] for c in v.counts.values()) == len(v.rejects.drop_duplicates(["file", "line"]))


def test_unknown_subject_and_duplicate_key(raw_copy, specs):
    line = edit(raw_copy, "assessments.csv", "0002", "subject", "9999")
    enrol = pd.read_csv(raw_copy / "enrollment.csv", dtype=str, keep_default_na=False)
    pd.concat([enrol, enrol.iloc[[4]]]).to_csv(raw_copy / "enrollment.csv", index=False, lineterminator="\n")
    v = validated(raw_copy, specs)
    unknown = v.rejects[v.rejects["rule"] == "unknown_subject"]
    assert list(unknown["line"]) == [line]
    dup = v.rejects[v.rejects["rule"] == "duplicate_key"]
    assert list(dup["line"]) == [6, len(enrol) + 2]  # both copies: which one is right cannot be known


def test_dosing_for_screen_failure(raw_copy, specs):
    line = edit(raw_copy, "dosing.csv", "0001", "subject", "0003")  # 0003 failed screening
    v = validated(raw_copy, specs)
    assert "not_enrolled" in set(v.rejects.loc[v.rejects["line"] == line, "rule"])


def test_ragged_row_is_rejected_with_its_line(raw_copy, specs):
    lines = (raw_copy / "enrollment.csv").read_text().splitlines(keepends=True)
    lines.insert(3, "01,0077,XX\n")  # line 4: three fields instead of fifteen
    lines.insert(5, "\n")  # a blank line is not a record, but it moves the lines after it
    (raw_copy / "enrollment.csv").write_text("".join(lines))
    v = validated(raw_copy, specs)
    assert v.rejects[["line", "rule", "message"]].values.tolist()[0] == [4, "field_count", "expected 15 fields, got 3"]
    assert v.counts["enrollment"] == {"read": 35, "valid": 34, "rejected": 1}
    enrol = v.valid["enrollment"]
    assert enrol.loc[enrol["subject"] == "0005"].index.tolist() == [8]  # header 1, 0001-0003, ragged, 0004, blank


CRS_ICANS = "meddra_pt is one of Cytokine release syndrome, Immune effector cell-associated neurotoxicity syndrome"


@pytest.mark.parametrize(
    ("subject", "nth", "column", "value", "rule", "message"),
    [
        ("0001", 0, "end_date", "2025-06-01", "not_before", "must not be before start_date"),
        ("0001", 0, "ctcae_grade", "6", "range", "must be between 1 and 5"),
        ("0001", 0, "astct_grade", "2", "blank_unless", "must be blank unless " + CRS_ICANS),  # not CRS/ICANS
        ("0005", 0, "astct_grade", "", "required_if", "is required when " + CRS_ICANS),  # CRS without its grade
        ("0005", 0, "serious", "Y", "required_if", "is required when serious is Y"),  # criteria missing
        ("0005", 1, "serious", "N", "blank_if", "must be blank when serious is N"),  # criteria of a non-serious event
        ("0005", 1, "hospitalization", "N", "any_of_if", "must be Y when serious is Y"),  # serious, but no criterion
        ("0001", 0, "causality", "MAYBE", "study:safety.relationship.terms", "must be one of"),
        ("0001", 0, "outcome", "RESOLVED", "codelist:OUT", "not a term of codelist OUT"),
        ("0001", 0, "action_taken", "NONE", "codelist:ACN", "not a term of codelist ACN"),
        # copied into AETERM as it is: the row is rejected, not the whole transfer failing AE's output check
        ("0001", 0, "verbatim_term", "Fièvre", "ascii", "must be ASCII text (it becomes AE.AETERM;"),
        ("0001", 0, "verbatim_term", "x" * 201, "length", "must be at most 200 characters (AE.AETERM's length)"),
        ("0001", 0, "verbatim_term", "Fever  ", "trailing_blank", "must not end in white space"),  # XPT: 'Fever'
        ("0001", 0, "verbatim_term", "   ", "trailing_blank", "a blank value would be missing"),  # XPT: missing
    ],
)
def test_adverse_event_rules(raw_copy, specs, subject, nth, column, value, rule, message):
    line = edit(raw_copy, "adverse_events.csv", subject, column, value, nth)
    v = validated(raw_copy, specs)
    hit = v.rejects[(v.rejects["file"] == "adverse_events.csv") & (v.rejects["line"] == line)]
    assert rule in set(hit["rule"]), v.rejects.to_string()
    assert message in " ".join(hit["message"])
    assert set(v.rejects["line"]) == {line} and line not in v.valid["adverse_events"].index  # nothing else


def test_seriousness_criteria_each_named(raw_copy, specs):
    """A list-form required_if rejects each missing criterion on its own column."""
    line = edit(raw_copy, "adverse_events.csv", "0005", "serious", "Y")
    v = validated(raw_copy, specs)
    criteria = ["results_in_death", "life_threatening", "hospitalization", "disability", "congenital_anomaly"]
    criteria.append("medically_important")
    assert sorted(v.rejects.loc[v.rejects["rule"] == "required_if", "column"]) == sorted(criteria)
    assert set(v.rejects["line"]) == {line}


def test_one_soc_per_preferred_term(raw_copy, specs):
    """A PT coded to two SOCs rejects every row of that PT: which coding is right cannot be known."""
    line = edit(raw_copy, "adverse_events.csv", "0001", "meddra_soc", "Blood and lymphatic system disorders")
    ae = pd.read_csv(raw_copy / "adverse_events.csv", dtype=str, keep_default_na=False)
    same_pt = set(ae.index[ae["meddra_pt"] == ae.loc[line - 2, "meddra_pt"]] + 2)
    same_soc = set(ae.index[ae["meddra_soc"] == "Blood and lymphatic system disorders"] + 2)  # the edit among them
    v = validated(raw_copy, specs)
    hit = v.rejects[v.rejects["rule"] == "same_within"]
    soc = hit[hit["column"] == "meddra_soc"]
    assert set(soc["line"]) == same_pt and line in same_pt and len(same_pt) > 1
    assert soc["message"].str.contains("differs between rows with the same meddra_pt").all()
    # the SOC name now has two codes (the edited row kept its SOC code): every row of that name is rejected too
    code = hit[hit["column"] == "meddra_soc_code"]
    assert set(code["line"]) == same_soc and line in same_soc and len(same_soc) > 1
    assert set(hit["column"]) == {"meddra_soc", "meddra_soc_code"}


def test_adverse_event_parent_rules(raw_copy, specs):
    """AE against the subject's enrollment row: not before consent; a fatal event ends on the death date."""
    early = edit(raw_copy, "adverse_events.csv", "0001", "start_date", "2025-01-01")
    ae = pd.read_csv(raw_copy / "adverse_events.csv", dtype=str, keep_default_na=False)
    (fatal,) = ae.index[ae["ctcae_grade"] == "5"]
    subject = ae.loc[fatal, "subject"]
    nth = list(ae.index[ae["subject"] == subject]).index(fatal)
    moved = edit(raw_copy, "adverse_events.csv", subject, "end_date", "2026-01-08", nth)
    v = validated(raw_copy, specs)
    got = set(v.rejects[["line", "rule"]].itertuples(index=False, name=None))
    assert got == {(early, "ae_before_consent"), (moved, "fatal_ae_death_date")}


FUTURE = "must not be after today (2026-11-01 at the study's sites)"
STUDY_EARLIEST = "must not be before 2025-01-01 (study plausible_dates.earliest)"


@pytest.mark.parametrize(
    ("file", "subject", "column", "value", "rule", "message"),
    [
        ("assessments.csv", "0001", "date", "1800-01-01", "date_too_early", STUDY_EARLIEST),
        ("assessments.csv", "0001", "date", "2099-12-31", "date_in_future", FUTURE),
        ("assessments.csv", "0001", "date", "2026-11-02", "date_in_future", FUTURE),  # the day after the run's date
        ("eligibility.csv", "0001", "date", "2099-01-15", "date_in_future", FUTURE),
        ("enrollment.csv", "0001", "eos_date", "2099-06-30", "date_in_future", FUTURE),
        ("enrollment.csv", "0001", "death_date", "2024", "date_too_early", STUDY_EARLIEST),  # all of 2024: before
        ("dosing.csv", "0001", "start", "2099-01-01T09:00", "date_in_future", FUTURE),
        ("adverse_events.csv", "0001", "start_date", "2024-12-31", "date_too_early", STUDY_EARLIEST),
        ("enrollment.csv", "0001", "birth_date", "1899-12", "date_too_early", "must not be before 1900-01-01 (its "),
        ("assessments.csv", "0001", "date", "2025-01-02", "assessment_before_consent", "assessment before informed"),
        ("eligibility.csv", "0001", "date", "2025-01-02", "eligibility_before_consent", "eligibility assessed before"),
    ],
)
def test_implausible_dates_are_row_rejects_with_their_rule(
    raw_copy, specs, file, subject, column, value, rule, message
):
    """Dates before the study could start, after the run's date or before consent passed (issue 12): each is now
    a reject of its own line, with its rule."""
    line = edit(raw_copy, file, subject, column, value)
    v = validated(raw_copy, specs)
    own = v.rejects[(v.rejects["file"] == file) & (v.rejects["line"] == line) & (v.rejects["rule"] == rule)]
    assert own[["column", "value"]].values.tolist() == [[column, value]], v.rejects.to_string()
    assert own["message"].iloc[0].startswith(message)
    roots = v.rejects[v.rejects["rule"] != "parent_rejected"]
    assert set(roots["file"] + ":" + roots["line"].astype(str)) == {f"{file}:{line}"}  # nothing else


@pytest.mark.parametrize("value", ["1900", "1900-01", "1939-08-01", "2026-11"])
def test_plausible_dates_at_the_bounds_pass(raw_copy, specs, value):
    """A partial date is a range: it is implausible only when all of it is (1900 for birth; 2026-11 is this month)."""
    column = "birth_date" if value < "2000" else "death_date"
    edit(raw_copy, "enrollment.csv", "0003", column, value)  # 0003: a screen failure (no age rule)
    v = validated(raw_copy, specs)
    assert v.rejects.empty, v.rejects.to_string()


def test_dependents_of_a_ragged_enrollment_row_name_it(raw_copy, specs):
    """A ragged enrollment row still says whose it is: its subject's rows are `parent_rejected` naming its line and
    reason, not `unknown_subject: no row in enrollment.csv` (issue 12)."""
    lines = (raw_copy / "enrollment.csv").read_text().splitlines(keepends=True)
    lines[1] = lines[1].rstrip("\n") + ",extra\n"  # line 2 (subject 0001): one field too many
    (raw_copy / "enrollment.csv").write_text("".join(lines))
    v = validated(raw_copy, specs)
    assert "unknown_subject" not in set(v.rejects["rule"])
    cascade = v.rejects[v.rejects["rule"] == "parent_rejected"]
    assert len(cascade) and cascade["message"].eq("subject's enrollment.csv line 2 was rejected (field_count)").all()
    for name in ("dosing", "assessments", "eligibility"):
        raw = pd.read_csv(raw_copy / f"{name}.csv", dtype=str, keep_default_na=False)
        assert set(cascade.loc[cascade["file"] == f"{name}.csv", "line"]) == set(
            raw.index[raw["subject"] == "0001"] + 2
        )


def test_rows_an_unbalanced_quote_swallowed_are_not_unknown_subjects(raw_copy, specs):
    """The subjects on the lines an unbalanced quote swallowed are known: their rows cascade from that record."""
    lines = (raw_copy / "enrollment.csv").read_text().split("\n")
    lines[10] = lines[10].replace(",", ',"', 1)  # line 11 opens a quote that is never closed
    (raw_copy / "enrollment.csv").write_text("\n".join(lines))
    v = validated(raw_copy, specs)
    enrol = pd.read_csv(RAW_DIR / "enrollment.csv", dtype=str, keep_default_na=False)
    swallowed = set(enrol["subject"].iloc[9:])  # lines 11 to the end
    cascade = v.rejects[v.rejects["rule"] == "parent_rejected"]
    assert cascade["message"].eq("subject's enrollment.csv line 11 was rejected (field_count)").all()
    for name in ("dosing", "assessments", "eligibility"):
        raw = pd.read_csv(raw_copy / f"{name}.csv", dtype=str, keep_default_na=False)
        assert set(cascade.loc[cascade["file"] == f"{name}.csv", "line"]) >= set(
            raw.index[raw["subject"].isin(swallowed)] + 2
        )
    assert "unknown_subject" not in set(v.rejects["rule"])  # nor the subject of line 11, whose quote it was


def test_a_ragged_row_does_not_shadow_its_subjects_valid_row(raw_copy, specs):
    """A ragged record that repeats a subject of a valid row leaves that subject's rows alone."""
    lines = (raw_copy / "enrollment.csv").read_text().splitlines(keepends=True)
    lines.append(lines[1].rstrip("\n") + ",extra\n")  # a second, ragged row of subject 0001
    (raw_copy / "enrollment.csv").write_text("".join(lines))
    v = validated(raw_copy, specs)
    assert v.rejects[["line", "rule"]].values.tolist() == [[len(lines), "field_count"]]


@pytest.mark.parametrize(
    ("value", "early", "late"),
    [
        ("2025-06-01", True, True),  # in bounds
        ("1999-06-01", False, True),  # before the earliest
        ("2031-06-01", True, False),  # after today
        ("1999-13-45", True, True),  # out of bounds but not a date: left to the type check
        ("2031-02-30", True, True),
        ("2025", True, True),  # a partial date is a range: in bounds
        (None, True, True),
    ],
)
def test_date_bounds_leave_invalid_dates_to_the_type_check(value, early, late):
    from flows.spec.raw_schema import _not_before, not_after

    values = pd.Series(["2025-01-02", value, "2025-03-04"], index=[2, 3, 4], dtype="str")
    assert _not_before("partial_date", "2025-01-01")(values).tolist() == [True, early, True]
    assert not_after("partial_date", "2030-12-31")(values).tolist() == [True, late, True]


def test_text_no_dataset_copies_may_be_any_unicode(raw_copy, specs):
    """Personal data never output (initials) is not held to what SAS XPORT v5 can store."""
    edit(raw_copy, "enrollment.csv", "0001", "initials", "张三")
    assert validated(raw_copy, specs).rejects.empty


def test_copied_columns_of_the_sample(specs):
    """Which raw columns SDTM text variables copy, and the length each must fit where every value lands in one:
    worked out from the mappings when the specs are loaded (Specs.copies), for raw validation to read."""
    from flows.mapping.plan import copied_columns
    from flows.spec.model import Copy

    copies = specs.copies
    assert copies == copied_columns(specs)
    assert copies[("adverse_events", "verbatim_term")] == (Copy("AE.AETERM", 200),)
    assert copies[("adverse_events", "meddra_soc")] == (Copy("AE.AEBODSYS", 200), Copy("AE.AESOC", 200))
    assert Copy("QS.QSORRES", None) in copies[("assessments", "result")]  # QS takes some rows only: no length
    assert ("enrollment", "initials") not in copies and ("enrollment", "consent_date") not in copies


@pytest.mark.parametrize(
    ("subject", "eos_date", "eos_reason", "message"),
    [
        ("0001", "2026-05-16", "", "is required when eos_date is given"),  # DS would hold an end without its reason
        ("0001", "", "COMPLETED", "must be blank when eos_date is blank"),  # a reason DS would never show
    ],
)
def test_end_of_study_date_and_reason_come_together(raw_copy, specs, subject, eos_date, eos_reason, message):
    line = edit(raw_copy, "enrollment.csv", subject, "eos_date", eos_date)
    edit(raw_copy, "enrollment.csv", subject, "eos_reason", eos_reason)
    v = validated(raw_copy, specs)
    hit = v.rejects[(v.rejects["file"] == "enrollment.csv") & (v.rejects["line"] == line)]
    assert hit[["column", "rule", "message"]].values.tolist() == [
        ["eos_reason", "required_if" if eos_date else "blank_if", message]
    ]


def test_dates_are_judged_by_each_sites_calendar():
    """PBO-2201 has sites in Boston and Berlin. At 23:30 UTC on 10 March Berlin is already on the 11th: its date of
    the 11th is today there, not in the future, while the same date at Boston's site is a day ahead."""
    from datetime import UTC, date, datetime

    from flows.mapping.load import load_specs
    from flows.raw.read import SOURCE
    from flows.raw.validate import site_dates, site_future_rejects, site_today

    pbo = load_specs(ROOT / "tests" / "studies" / "PBO-2201" / "specs")
    now = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    sites = site_dates(pbo, now)
    assert sites == {"101": date(2026, 3, 10), "201": date(2026, 3, 11)}
    assert site_today(pbo, now) == date(2026, 3, 11)
    frame = pd.DataFrame(
        {
            SOURCE: "IE.csv",
            "SITENO": ["101", "201", "101", "101"],
            "IEDAT": ["2026-03-11", "2026-03-11", "2026-03", None],
        },
        index=pd.Index([2, 3, 4, 5], name="line"),
        dtype="str",
    )
    found = site_future_rejects(frame, pbo.raw["eligibility"], date(2026, 3, 11), sites)
    assert found[["line", "column", "value", "rule"]].values.tolist() == [[2, "IEDAT", "2026-03-11", "date_in_future"]]
    assert found["message"].iloc[0] == "must not be after today (2026-03-10 at site 101)"


def test_digits_of_another_script_are_a_row_reject(raw_copy, specs):
    """Arabic-Indic digits match \\d but no number parser reads them: a reject, not a failed transfer."""
    line = edit(raw_copy, "enrollment.csv", "0001", "weight_kg", "٦٥.٩")
    v = validated(raw_copy, specs)
    hit = v.rejects[(v.rejects["file"] == "enrollment.csv") & (v.rejects["line"] == line)]
    assert hit[["column", "rule"]].values.tolist() == [["weight_kg", "type:number"]]


def test_a_cell_longer_than_arrows_block_is_read_and_rejected_for_its_length(raw_copy, specs):
    """A 3,000,000-character verbatim term (Arrow reads in 1 MiB blocks): the documented length reject."""
    line = edit(raw_copy, "adverse_events.csv", "0001", "verbatim_term", "x" * 3_000_000)
    v = validated(raw_copy, specs)
    hit = v.rejects[(v.rejects["file"] == "adverse_events.csv") & (v.rejects["line"] == line)]
    assert hit[["column", "rule"]].values.tolist() == [["verbatim_term", "length"]]

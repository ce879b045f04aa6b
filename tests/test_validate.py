"""Tests of flows/validate.py: every rule rejects the right raw line with its reason, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows.pipeline import read_inputs, validate_raw


def edit(raw: Path, file: str, subject: str, column: str, value: str, nth: int = 0) -> int:
    """Set one cell of the nth row of a subject in a raw CSV; return that row's line number (header = line 1)."""
    frame = pd.read_csv(raw / file, dtype=str, keep_default_na=False)
    idx = frame.index[frame["subject"] == subject][nth]
    frame.loc[idx, column] = value
    frame.to_csv(raw / file, index=False, lineterminator="\n")
    return int(idx) + 2


def validated(raw: Path, specs):
    return validate_raw(read_inputs(raw, specs), specs)


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
        assert got["message"].str.contains(f"enrollment.csv line {line} was rejected").all()
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
    lines.insert(3, "01,0077,XX\n")  # line 4: three fields instead of fourteen
    lines.insert(5, "\n")  # a blank line is not a record, but it moves the lines after it
    (raw_copy / "enrollment.csv").write_text("".join(lines))
    v = validated(raw_copy, specs)
    assert v.rejects[["line", "rule", "message"]].values.tolist()[0] == [4, "field_count", "expected 14 fields, got 3"]
    assert v.counts["enrollment"] == {"read": 35, "valid": 34, "rejected": 1}
    enrol = v.valid["enrollment"]
    assert enrol.loc[enrol["subject"] == "0005"].index.tolist() == [8]  # header 1, 0001-0003, ragged, 0004, blank

"""Tests of flows/spec/raw_schema.py: the pandera schema generated from a raw contract rejects each value by the right
rule, and nothing else. Hand-built one-column contracts, inputs annotated beside the rule they break."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from flows.spec.model import Copy, RawColumn, RawContract
from flows.spec.raw_schema import earliest_date, raw_schema

TODAY = date(2025, 7, 1)  # the run's date at the sites; the sample study's plausible_dates.earliest is 2025-01-01


def contract(*columns: RawColumn) -> RawContract:
    return RawContract("visits", "visits.csv", "test", (), False, None, columns, (), None, "no", Path("visits.yaml"))


def failed(specs, column: RawColumn, values: list, today: date | None = TODAY) -> list[tuple[int, str]]:
    """(row, rule) of every failure, in row order, as rejects report them."""
    schema = raw_schema(contract(column), specs, today)
    frame = pd.DataFrame({column.name: pd.Series(values, dtype="str")})
    try:
        schema.schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        return sorted((int(i), schema.rules[(c, check)]) for c, check, i in cases[["column", "check", "index"]].values)
    return []


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        (RawColumn("n", "integer", True, ""), ["1", "-2", None], [(2, "required")]),
        (RawColumn("n", "integer", False, ""), ["1", "1.0", "x", None], [(1, "type:integer"), (2, "type:integer")]),
        (RawColumn("w", "float", False, ""), ["65.9", "-1", "6,5", ".5"], [(2, "type:number"), (3, "type:number")]),
        (RawColumn("n", "integer", False, "", min=1, max=3), ["1", "3", "0", "4"], [(2, "range"), (3, "range")]),
        (
            RawColumn("s", "string", False, "", pattern=r"^\d{4}$"),
            ["0001", "01", "00012"],
            [(1, "pattern"), (2, "pattern")],
        ),
        (RawColumn("s", "string", False, "", values=("Y", "N")), ["Y", "y", None], [(1, "values")]),
        (RawColumn("sex", "string", False, "", codelist="SEX"), ["M", "F", "X"], [(2, "codelist:SEX")]),
        (
            RawColumn("dl", "string", False, "", values_from="arms.armcd"),
            ["DL1", "DL4", "DL5"],
            [(2, "study:arms.armcd")],
        ),
        (
            RawColumn("d", "date", False, ""),
            ["2025-06-30", "2025-7-01", "2025-02-30", "2024-12-31", "2025-07-01", "2025-07-02"],
            # not ISO; not a day of the calendar; before 2025-01-01 (study); today passes; after today
            [(1, "type:date"), (2, "type:date"), (3, "date_too_early"), (5, "date_in_future")],
        ),
        (
            RawColumn("d", "partial_date", False, ""),
            ["2024", "2025", "2024-12", "2025-01", "2025-07", "2025-08", "2025-13"],
            # a partial date is a range: too early only if all of it is before, in the future only if all is after
            [(0, "date_too_early"), (2, "date_too_early"), (5, "date_in_future"), (6, "type:partial_date")],
        ),
        (
            RawColumn("t", "datetime", False, ""),
            ["2025-06-30T23:59", "2025-06-30", "2025-07-01T25:00", "2025-07-02T00:00"],
            [(1, "type:datetime"), (2, "type:datetime"), (3, "date_in_future")],
        ),
        (
            RawColumn("birth", "partial_date", False, "", earliest="1900-01-01"),
            ["1899", "1900", "1984-08"],  # the column's own earliest, not the study's
            [(0, "date_too_early")],
        ),
    ],
    ids=lambda x: x.name + ":" + x.type if isinstance(x, RawColumn) else "",
)
def test_each_value_fails_by_its_rule(specs, column, values, expected):
    assert failed(specs, column, values) == expected


def test_an_invalid_date_out_of_bounds_is_reported_once_as_not_a_date(specs):
    """2024-02-30 is before 2025-01-01 as text, but it is no date: the type check names it, the bound does not."""
    assert failed(specs, RawColumn("d", "date", False, ""), ["2024-02-30", "1999-99-99"]) == [
        (0, "type:date"),
        (1, "type:date"),
    ]


def test_without_a_run_date_no_date_is_in_the_future(specs):
    assert failed(specs, RawColumn("d", "date", False, ""), ["2099-01-01"], today=None) == []


def test_earliest_date_is_the_columns_else_the_studys(specs):
    assert earliest_date(RawColumn("d", "date", False, "", earliest="1900-01-01"), specs) == "1900-01-01"
    assert earliest_date(RawColumn("d", "date", False, ""), specs) == "2025-01-01"
    study = dataclasses.replace(specs.study, data={k: v for k, v in specs.study.data.items() if k != "plausible_dates"})
    assert earliest_date(RawColumn("d", "date", False, ""), dataclasses.replace(specs, study=study)) is None


def test_a_column_an_sdtm_variable_copies_is_checked_for_xpt(specs):
    """ASCII, no white space at its end, and the length of the shortest variable taking every value."""
    copies = {("visits", "term"): (Copy("AE.AETERM", 10), Copy("AE.AEDECOD", 8), Copy("SUPPAE.QVAL", None))}
    copied = dataclasses.replace(specs, copies=copies)
    values = ["Pyrexia", "Fièvre", "Pyrexia ", "Rash      x"]  # fine; not ASCII; trailing blank; 11 > 8 characters
    assert failed(copied, RawColumn("term", "string", False, ""), values) == [
        (1, "ascii"),
        (2, "trailing_blank"),
        (3, "length"),
    ]
    assert failed(specs, RawColumn("term", "string", False, ""), values) == []  # not copied: any text


def test_many_rows_are_checked_per_distinct_value_and_fail_at_their_own_rows(specs):
    values = ["DL1", "DL2"] * 3000 + ["DL9"] + ["DL1"] * 10 + ["DL9"]
    expected = [(6000, "study:arms.armcd"), (6011, "study:arms.armcd")]
    assert failed(specs, RawColumn("dl", "string", False, "", values_from="arms.armcd"), values) == expected


def test_every_column_is_required_to_be_present_and_others_are_allowed(specs):
    schema = raw_schema(contract(RawColumn("a", "string", False, ""), RawColumn("b", "string", False, "")), specs)
    assert schema.schema.name == "visits.csv"
    with pytest.raises(pa.errors.SchemaErrors, match="column 'b' not in dataframe"):
        schema.schema.validate(pd.DataFrame({"a": ["x"], "extra": ["y"]}, dtype="str"), lazy=True)
    schema.schema.validate(pd.DataFrame({"a": ["x"], "b": [None], "extra": ["y"]}, dtype="str"), lazy=True)

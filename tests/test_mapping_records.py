"""records.py: a dataset's records from a raw file (unpivoted, grouped, filtered), a study list, a source."""

from __future__ import annotations

import dataclasses

import pandas as pd

from flows.kernel.distinct import rows_where
from flows.mapping.context import Context
from flows.mapping.evaluate import holds
from flows.mapping.plan import parse_filter
from flows.mapping.records import _explode, _group, _unpivot, _unpivot_where, build_records


def test_unpivot_makes_one_record_per_row_and_column():
    wide = pd.DataFrame({"subject": ["0001", "0002"], "ITEM1": ["1", "2"], "ITEM2": ["3", None], "_line": [2, 3]})
    long = _unpivot(wide, {"columns": ["ITEM1", "ITEM2"], "name": "item", "value": "score"})
    assert long[["subject", "item", "score", "_line"]].astype(str).fillna("").values.tolist() == [
        ["0001", "ITEM1", "1", "2"],
        ["0002", "ITEM1", "2", "3"],
        ["0001", "ITEM2", "3", "2"],  # each record keeps the line of its raw row
        ["0002", "ITEM2", "", "3"],  # a blank cell stays a record with a null value
    ]


def test_group_keeps_min_max_and_the_first_line():
    frame = pd.DataFrame(
        {
            "subject": ["1", "1", "2", "1"],
            "visit": ["V1", "V1", "V1", "V2"],
            "date": ["2025-06-02", "2025-06-01", "2025-06-05", "2025-07-01"],
            "_file": ["a.csv"] * 4,
            "_line": [2, 3, 4, 5],
        },
        dtype="str",
    ).astype({"_line": int})
    out = _group(frame, {"by": ["subject", "visit"], "min": ["date"], "max": ["date"]})
    assert out[["subject", "visit", "min_date", "max_date", "_line"]].values.tolist() == [
        ["1", "V1", "2025-06-01", "2025-06-02", 2],  # two rows: the earliest and latest, the first line
        ["2", "V1", "2025-06-05", "2025-06-05", 4],
        ["1", "V2", "2025-07-01", "2025-07-01", 5],
    ]


def test_explode_numbers_the_elements_of_a_list_field():
    out = _explode(
        [{"armcd": "A", "elements": ["S", "T"]}, {"armcd": "B", "elements": []}],
        {"field": "elements", "as": "etcd", "order": "n"},
    )
    assert out[["armcd", "etcd", "n"]].values.tolist() == [["A", "S", 1], ["A", "T", 2]]  # an empty list: none


def test_build_records_from_a_filtered_raw_file(specs):
    enrollment = pd.DataFrame(
        {"subject": ["1", "2", "3"], "screening_outcome": ["ENROLLED", "SCREEN FAILURE", "ENROLLED"]}
    )
    enrollment.index = pd.RangeIndex(2, 5)  # the lines of the rows
    spec = specs.sdtm["DM"]
    spec = type(spec)(
        **{
            **spec.__dict__,
            "records": {"from": "enrollment", "where": {"column": "screening_outcome", "equals": "ENROLLED"}},
        }
    )
    ctx = Context("DM", pd.DataFrame(), specs, specs.raw["enrollment"], {"enrollment": enrollment}, {"DM": {}})
    out = build_records(spec, ctx)
    assert out["subject"].tolist() == ["1", "3"] and out["_line"].tolist() == [2, 4]


def test_unpivot_writes_each_columns_value_as_its_type_does():
    """Typed raw columns (validation makes integer Int64, float Float64): 72 stays 72 beside a float's 65.0."""
    wide = pd.DataFrame(
        {"hr": pd.array([72, None], dtype="Int64"), "kg": pd.array([65.9, 66.0], dtype="Float64"), "_line": [2, 3]}
    )
    long = _unpivot(wide, {"columns": ["hr", "kg"], "name": "test", "value": "result"})
    assert long["result"].fillna("").tolist() == ["72", "", "65.9", "66.0"]


def test_records_of_several_forms_take_each_forms_rows_with_its_own_columns(specs):
    """VS: the vital signs form's rows, the enrollment form's and the infusion form's, each with its file and line; a
    column a form lacks is null on its rows (the weight on the vital signs form, the heart rate on the others), so
    it makes no record."""
    vital = pd.DataFrame({"subject": ["1"], "heart_rate": pd.array([72], dtype="Int64")}, index=[2])
    enrollment = pd.DataFrame({"subject": ["1", "2"], "weight_kg": pd.array([65.9, None], dtype="Float64")})
    enrollment.index = pd.RangeIndex(2, 4)
    dosing = pd.DataFrame({"subject": ["1"], "weight_kg": pd.array([66.0], dtype="Float64")}, index=[2])
    valid = {"vital_signs": vital, "enrollment": enrollment, "dosing": dosing}
    for name, frame in valid.items():
        frame["_file"] = f"{name}.csv"
    spec = specs.sdtm["VS"]
    unpivot = {"columns": ["weight_kg", "heart_rate"], "name": "test", "value": "result"}
    spec = type(spec)(**{**spec.__dict__, "records": {**spec.records, "unpivot": unpivot}})
    ctx = Context("VS", pd.DataFrame(), specs, specs.raw["vital_signs"], valid, {"VS": {}})
    out = build_records(spec, ctx)
    got = out[["_file", "_line", "subject", "test", "result"]].values.tolist()
    assert got == [  # by unpivoted column, then the forms' rows in turn
        ["enrollment.csv", 2, "1", "weight_kg", "65.9"],  # subject 2 has no weight: no record
        ["dosing.csv", 2, "1", "weight_kg", "66.0"],
        ["vital_signs.csv", 2, "1", "heart_rate", "72"],
    ]


def test_build_records_from_a_derived_sdtm_dataset(specs):
    """An analysis dataset's records (`from_sdtm`): the SDTM dataset's records, filtered by `where`."""
    spec = dataclasses.replace(
        specs.adam["ADRS"], records={"from_sdtm": "RS", "where": {"column": "RSTESTCD", "equals": "MGFACLS"}}
    )
    rs = {"USUBJID": pd.Series(["A", "A", "B"], dtype="str"), "RSTESTCD": pd.Series(["MGFACLS", "X", "MGFACLS"])}
    ctx = Context("ADRS", pd.DataFrame(), specs, None, {}, {"RS": rs, "ADRS": {}})
    out = build_records(spec, ctx)
    assert out["USUBJID"].tolist() == ["A", "B"] and "_line" not in out


def test_unpivot_filtered_by_column_conditions_is_unpivot_then_filter(specs):
    """The filter applied one listed column at a time gives the records, their order and types, of the unpivot
    filtered as a whole: by listed column, then by row; a condition on another column holds on every part."""
    wide = pd.DataFrame(
        {
            "site": pd.Series(["01", "02", "01"], dtype="str"),
            "hr": pd.array([72, None, 65], dtype="Int64"),  # row 2: no heart rate, no record
            "kg": pd.array([None, 66.0, 70.5], dtype="Float64"),
            "_line": [2, 3, 4],
        }
    )
    how = {"columns": ["hr", "kg"], "name": "test", "value": "result"}
    where = parse_filter([{"column": "result", "present": True}, {"column": "site", "equals": "01"}], "where")
    ctx = Context("VS", pd.DataFrame(), specs, None, {}, {"VS": {}})
    out = _unpivot_where(wide, how, where, ctx)
    ctx.records = whole = _unpivot(wide, how)
    expected = rows_where(whole, holds(ctx, where.conditions).to_numpy()).reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)
    assert out[["_line", "test", "result"]].values.tolist() == [[2, "hr", "72"], [4, "hr", "65"], [4, "kg", "70.5"]]


def test_group_on_codes_is_the_group_in_arrow():
    """Text columns are grouped on their codes; the result is that of Arrow's group_by (used for other columns): a
    null is a key of its own, a group whose values are all null has a null min and max."""
    frame = pd.DataFrame(
        {
            "subject": ["1", "1", "2", None, "1"],
            "date": ["2025-06-02", None, None, "2025-06-09", "2025-06-01"],
            "_file": ["a.csv"] * 5,
            "_line": [2, 3, 4, 5, 6],
        },
        dtype="str",
    ).astype({"_line": int})
    how = {"by": ["subject"], "min": ["date"], "max": ["date"]}
    in_arrow = _group(frame.astype({"subject": object}), how)  # not text: grouped in Arrow
    pd.testing.assert_frame_equal(_group(frame, how), in_arrow)
    assert in_arrow.fillna("").values.tolist() == [
        ["1", "2025-06-01", "2025-06-02", "a.csv", 2],
        ["2", "", "", "a.csv", 4],  # only a null date
        ["", "2025-06-09", "2025-06-09", "a.csv", 5],  # no subject: a group of its own
    ]

"""flows.raw.values: dates in their declared format read into ISO 8601 (UN/UNK parts make a partial date), a decimal
comma into a point, coded values decoded; what is not in the declared format is left as written, for the type check
to reject naming the format."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from flows.raw.values import iso_of, normalise_values
from flows.spec.model import RawFormat


@pytest.mark.parametrize(
    ("written", "value", "iso"),
    [
        ("DDMONYYYY", "21MAY2025", "2025-05-21"),
        ("DDMONYYYY", "21may2025", "2025-05-21"),  # month names in any case
        ("DDMONYYYY", "UNFEB1979", "1979-02"),  # unknown day: a partial date
        ("DDMONYYYY", "UKFEB1979", "1979-02"),
        ("DDMONYYYY", "UNUNK1995", "1995"),  # unknown day and month
        ("DDMONYYYY", "17JUN2025 11:42", "2025-06-17T11:42"),  # a date-time
        ("DDMONYYYY", "17JUN2025:11:42:05", "2025-06-17T11:42:05"),  # SAS's DATETIME form
        ("DDMONYYYY", "21XYZ2025", "21XYZ2025"),  # no such month: left as written
        ("DDMONYYYY", "21UNK2025", "21UNK2025"),  # a known day of an unknown month says nothing
        ("DDMONYYYY", "UNFEB1979 10:00", "UNFEB1979 10:00"),  # a time on a partial date
        ("DDMONYYYY", "2025-05-21", "2025-05-21"),  # already ISO 8601: taken as it is
        ("DD/MM/YYYY", "21/05/2025", "2025-05-21"),
        ("DD/MM/YYYY", "UN/02/1979", "1979-02"),
        ("DD/MM/YYYY", "05/21/2025", "05/21/2025"),  # month 21: left as written
        ("MM/DD/YYYY", "05/21/2025", "2025-05-21"),
        ("MM/DD/YYYY", "02/UN/1979", "1979-02"),
        ("SAS date", "23882", "2025-05-21"),  # days since 1960-01-01
        ("SAS date", "0", "1960-01-01"),
        ("SAS date", "-1", "1959-12-31"),
        ("SAS date", "21MAY2025", "21MAY2025"),
    ],
)
def test_iso_of(written, value, iso):
    assert iso_of(value, written) == iso


def _contract(specs, name, **fmt):
    contract = specs.raw[name]
    return dataclasses.replace(contract, format=RawFormat(**fmt)) if fmt else contract


def test_dates_decimal_comma_and_codes_in_one_frame(specs):
    enrollment = specs.raw["enrollment"]
    columns = tuple(
        dataclasses.replace(c, format="DDMONYYYY")
        if c.name in ("birth_date", "consent_date")
        else dataclasses.replace(c, decode={"1": "M", "2": "F"})
        if c.name == "sex"
        else c
        for c in enrollment.columns
    )
    contract = dataclasses.replace(enrollment, columns=columns, format=RawFormat(delimiter=";", decimal=","))
    frame = pd.DataFrame(
        {
            "birth_date": ["UNFEB1979", "26AUG1984", None],
            "consent_date": ["21MAY2025", "21MAY2025", "31FEB2025"],
            "sex": ["1", "2", "9"],  # 9: no code, left for the codelist check
            "weight_kg": ["65,9", "70", None],
            "race": ["ASIAN", "ASIAN", "ASIAN"],
        },
        dtype="str",
    )
    out = normalise_values(frame, contract)
    assert out["birth_date"].tolist()[:2] == ["1979-02", "1984-08-26"] and pd.isna(out["birth_date"].iloc[2])
    assert out["consent_date"].tolist() == ["2025-05-21", "2025-05-21", "2025-02-31"]  # the type check rejects it
    assert out["sex"].tolist() == ["M", "F", "9"]
    assert out["weight_kg"].tolist()[:2] == ["65.9", "70"]
    assert out["race"].tolist() == ["ASIAN"] * 3
    assert all(out[c].dtype == "str" for c in out)


def test_a_contract_without_formats_leaves_the_frame_as_it_is(specs):
    frame = pd.DataFrame({"consent_date": ["2025-05-21"], "weight_kg": ["65.9"]}, dtype="str")
    column = frame["consent_date"]
    out = normalise_values(frame, specs.raw["enrollment"])
    assert out["consent_date"] is column or out["consent_date"].equals(column)
    assert out["weight_kg"].tolist() == ["65.9"]

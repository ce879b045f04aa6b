"""algorithms/template.py: text with placeholders filled by parts, each a mapping step."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.kernel.errors import SpecError
from flows.mapping.algorithms.template import check_placeholders, fill_template
from tests.mapping_cases import context, run, s, step


def test_fill_template_is_null_where_a_part_is():
    out = fill_template("ASSIGNED TO {level}", {"level": s("DL1", None)}, pd.RangeIndex(2))
    assert out.iloc[0] == "ASSIGNED TO DL1" and pd.isna(out.iloc[1])


def test_template_parts_are_steps(specs):
    ctx = context(specs, {"level": ["DL2", "DL3"]})
    out = run('{template: {text: "{a}/{b}", parts: {a: {assign: level}, b: {hardcode: X}}}}', ctx)
    assert out.tolist() == ["DL2/X", "DL3/X"]
    parsed = step('{template: {text: "{a}", parts: {a: {assign: level}}}}')
    assert [p.name for p in parsed.parts()] == ["assign"]


def test_check_placeholders_needs_a_part_for_each(specs):
    with pytest.raises(SpecError, match=r"placeholders \['b'\] have no part"):
        check_placeholders({"text": "{a} {b}", "parts": {"a": None}}, specs.sdtm["DS"], specs, "ds.DSTERM")

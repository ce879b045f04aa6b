"""vocabulary.py: the records of the vocabulary and a step's nested steps."""

from __future__ import annotations

import pytest

from flows.mapping.vocabulary import KINDS, Param
from tests.mapping_cases import step


def test_a_parameter_names_a_known_kind():
    assert Param("date", "variable").kind in KINDS
    with pytest.raises(ValueError, match="unknown kind 'colum'"):
        Param("date", "colum")


def test_an_operation_finds_its_parameter_and_a_step_its_parts():
    parsed = step('{template: {text: "{a}-{b}", parts: {a: {assign: x}, b: {dtc: d}}}}')
    assert parsed.operation.param("parts").kind == "steps"
    assert [p.name for p in parsed.parts()] == ["assign", "dtc"] and step("{assign: x}").parts() == []

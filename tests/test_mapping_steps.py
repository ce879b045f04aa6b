"""steps.py: a variable's `map` read into steps, conditions and record filters."""

from __future__ import annotations

import pytest

from flows.mapping.registry import ALGORITHMS, DERIVATIONS, RECORD_FILTERS
from flows.mapping.steps import StepError, parse_condition, parse_map, parse_step, parse_where


def parse(raw):
    return parse_step(raw, ALGORITHMS, DERIVATIONS, "x.map")


@pytest.mark.parametrize(
    ("raw", "name", "args"),
    [
        ("usubjid", "usubjid", {}),  # a bare name
        ({"dtc": "start"}, "dtc", {"date": "start"}),  # a single value fills the primary argument
        ({"dtc": {"date": "d", "time": "t"}}, "dtc", {"date": "d", "time": "t"}),
        ({"hardcode": {"a": 1}}, "hardcode", {"value": {"a": 1}}),  # a value argument takes a mapping whole
        ({"derivation": "age", "birth": "b", "at": "c"}, "age", {"birth": "b", "at": "c"}),
    ],
)
def test_parse_step(raw, name, args):
    step = parse(raw)
    assert step.name == name and dict(step.args) == args and step.when == ()


def test_conditions_and_nested_steps():
    step = parse({"template": {"text": "{a}", "parts": {"a": {"assign": "x"}}}, "when": {"column": "e", "in": [1]}})
    assert step.parts()[0].name == "assign" and step.when[0].isin == (1,)
    assert parse_condition({"variable": "V", "in_from": "a.b"}, "w").in_from == "a.b"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"assign_text": "lot"}, "x.map: unknown algorithm 'assign_text'"),
        ({"derivation": "age_at_dose"}, "x.map.derivation: unknown derivation 'age_at_dose'"),
        ({"derivation": "age", "birth": "b"}, "x.map.derivation age: missing argument(s) ['at']"),
        ({"dtc": {"day": "d"}}, "x.map.dtc: unknown argument(s) ['day']"),
        ({"assign": "a", "copy": "b"}, "a mapping step names one algorithm"),
        ({"template": {"text": "{a}", "parts": ["a"]}}, "x.map.template.parts: a mapping placeholder -> mapping step"),
        ({"assign": "a", "when": {"column": "c"}}, "exactly one of equals, equals_from, in, in_from, present"),
        ({"assign": "a", "when": {"column": "c", "variable": "V", "equals": 1}}, "names one column or one variable"),
    ],
)
def test_unreadable_steps_name_the_key(raw, message):
    with pytest.raises(StepError) as err:
        parse(raw)
    assert message in str(err.value)


def test_parse_map_numbers_the_candidates():
    assert [s.name for s in parse_map([{"dtc": "a"}, {"copy": "B"}], ALGORITHMS, DERIVATIONS, "w")] == ["dtc", "copy"]
    with pytest.raises(StepError, match=r"w\[1\]: unknown algorithm"):
        parse_map([{"dtc": "a"}, {"nope": 1}], ALGORITHMS, DERIVATIONS, "w")
    with pytest.raises(StepError, match="missing required key 'map'"):
        parse_map(None, ALGORITHMS, DERIVATIONS, "w")


def test_parse_where_conditions_or_a_named_filter():
    assert len(parse_where([{"column": "a", "equals": 1}, {"column": "b", "present": True}], {}, "w").conditions) == 2
    named = parse_where({"derivation": "criterion_not_met", "code": "c", "answer": "a"}, RECORD_FILTERS, "w")
    assert named.step.name == "criterion_not_met" and named.conditions == ()

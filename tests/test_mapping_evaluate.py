"""evaluate.py: a step on every record, null where its conditions do not hold."""

from __future__ import annotations

from flows.mapping.evaluate import holds
from flows.mapping.steps import parse_condition
from tests.mapping_cases import context, run, s


def test_holds_every_condition(specs):
    ctx = context(specs, {"c": ["a", "b", None]}, variables={"V": s("x", None, "y")})
    both = (
        parse_condition({"column": "c", "in": ["a", "b"]}, "w"),
        parse_condition({"variable": "V", "present": True}, "w"),
    )
    assert holds(ctx, both).tolist() == [True, False, False]  # b: V is null; null c: not in the list
    assert holds(ctx, ()).all()  # no condition: every record


def test_in_from_and_equals_from_read_the_study(specs):
    ctx = context(specs, {"o": ["SCREEN FAILURE", "x"]})  # screening_outcomes: {enrolled: ..., failed: SCREEN FAILURE}
    in_from = parse_condition({"column": "o", "in_from": "screening_outcomes"}, "w")  # a mapping's values
    equals_from = parse_condition({"column": "o", "equals_from": "screening_outcomes.failed"}, "w")
    assert holds(ctx, (in_from,)).tolist() == [True, False]
    assert holds(ctx, (equals_from,)).tolist() == [True, False]


def test_a_step_is_null_where_its_conditions_fail(specs):
    ctx = context(specs, {"c": ["a", "b"]})
    out = run("{hardcode: X, when: {column: c, equals: a}}", ctx)
    assert out.iloc[0] == "X" and out.isna().tolist() == [False, True]

"""derivations/rule_text.py: a criterion rule as one line."""

from __future__ import annotations

import pandas as pd

from tests.mapping_cases import context, run


def test_rule_text_of_a_nested_rule(specs):
    rules = [{"check": "class_in", "classes": ["IIa", "IIb"]}, {"check": "age_range", "age": {"min": 18}}, None]
    ctx = context(specs, {"rule": rules})
    out = run("{derivation: rule_text, rule: rule}", ctx)
    assert out.iloc[0] == "check=class_in; classes=IIa | IIb"
    assert out.iloc[1] == "check=age_range; age=min 18" and pd.isna(out.iloc[2])  # no rule: null

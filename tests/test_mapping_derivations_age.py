"""derivations/age.py: completed years, a partial birth date imputed to the first day."""

from __future__ import annotations

import pytest

from tests.mapping_cases import context, run


@pytest.mark.parametrize(
    ("birth", "at", "age"),
    [
        ("1984-08-26", "2025-05-21", 40),  # birthday not yet reached
        ("1984-05-21", "2025-05-21", 41),  # on the birthday
        ("1984", "2025-05-21", 41),  # partial: 1984-01-01
        ("1984-06", "2025-05-21", 40),  # partial: 1984-06-01
    ],
)
def test_age_in_completed_years(specs, birth, at, age):
    ctx = context(specs, {"birth": [birth], "at": [at]})
    assert run("{derivation: age, birth: birth, at: at}", ctx).iloc[0] == age

"""What the adapter tests share: a check that fails loudly, naming the library whose private API changed, the
adapter module to mend and the versions it was checked with."""

from __future__ import annotations

import pytest


def relied_on(condition: bool, what: str, api: str, adapter: str, checked: str, running: str) -> None:
    """Fail, without a traceback, when `api` no longer behaves as `adapter` relies on (`what` says how)."""
    if not condition:
        pytest.fail(
            f"{api} changed: {what}. {adapter} was checked with {checked}; running is {running}. Adapt that module "
            "(nothing else relies on the private names).",
            pytrace=False,
        )

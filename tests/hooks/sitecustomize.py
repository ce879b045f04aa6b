"""A test hook, loaded only by the processes of the crash tests (tests/test_serve.py puts this folder on PYTHONPATH,
so Python imports this module at start-up): while the file S103_TEST_HOLD_FILE names exists, an export run holds the
study lock in a first step `test-hold` (a Prefect task like every step, at most HOLD_MAX seconds) before it reads
anything, so that a test can kill the stack mid-run. The pipeline itself carries no test hook."""

from __future__ import annotations

import os
import time
from pathlib import Path

HOLD_ENV = "S103_TEST_HOLD_FILE"
HOLD_MAX = 600


def hold(run: object) -> None:
    """Wait while the hold file exists; then the run goes on as usual."""
    path, deadline = Path(os.environ[HOLD_ENV]), time.monotonic() + HOLD_MAX
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


if os.environ.get(HOLD_ENV):
    from flows.run import pipeline

    pipeline.STEPS = (pipeline.RunStep("test-hold", hold), *pipeline.STEPS)

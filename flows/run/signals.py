"""SIGTERM and SIGINT as an exception in the main thread, so a stopped export cleans up on its way out.

`handled()` (the command line) turns the first SIGTERM or SIGINT into `Interrupted`, raised where the main thread
is; every `finally` on the way out then runs (staging removed, lock released). A second signal during that cleanup
is ignored, so the cleanup is not cut short. `shielded()` holds a signal back over a few steps that must happen
together (publishing: rename, then switch `latest`) and delivers it right after.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flows.kernel.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _restore(handlers: dict[int, object]) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)  # None: set outside Python


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, the first SIGTERM or SIGINT raises Interrupted; later ones are ignored."""
    if not _main_thread():
        yield
        return
    fired: list[int] = []

    def raise_once(signum: int, _frame: object) -> None:
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    before = {s: signal.signal(s, raise_once) for s in SIGNALS}
    try:
        yield
    finally:
        _restore(before)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back during the block and deliver them, to whatever handler is in place, after it."""
    if not _main_thread():
        yield
        return
    held: list[int] = []
    before = {s: signal.signal(s, lambda signum, _frame: held.append(signum)) for s in SIGNALS}
    try:
        yield
    finally:
        _restore(before)
        for signum in dict.fromkeys(held):
            os.kill(os.getpid(), signum)

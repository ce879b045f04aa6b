"""SIGTERM and SIGINT as an exception in the main thread, so a stopped export cleans up on its way out.

`handled()` (the command line) turns the first SIGTERM or SIGINT into `Interrupted`, raised where the main thread
is; every `finally` on the way out then runs (staging removed, lock released). A second signal during that cleanup
is ignored, so the cleanup is not cut short. `shielded()` holds a signal back over a few steps that must happen
together (publishing: rename, then switch `latest`) and delivers it right after. `settle()`, once a transfer is
published, ignores both signals until the process exits (only in a process whose entry point asked for it with
`exit_when_done()`): a signal then can no longer turn a publication into "stopped, nothing published".
Each block gives back only the handler that is still its own, so a settled process stays settled.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flows.kernel.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_settle_on_publish: list[bool] = []  # set by the command line's entry point: its process exits when the command ends


def exit_when_done() -> None:
    """This process ends when its command does: settle() may ignore signals until then."""
    _settle_on_publish.append(True)


def settle() -> None:
    """The run's outcome is decided (published): from now to the process's exit, SIGTERM and SIGINT are ignored."""
    if _settle_on_publish and _main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _restore(handlers: dict[int, object], ours: object) -> None:
    """Give back each signal's handler from before, where our handler is still the one in place."""
    for signum, handler in handlers.items():
        if signal.getsignal(signum) is ours:
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
        _restore(before, raise_once)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back during the block and deliver them, to whatever handler is in place, after it."""
    if not _main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        held.append(signum)

    before = {s: signal.signal(s, hold) for s in SIGNALS}
    try:
        yield
    finally:
        _restore(before, hold)
        for signum in dict.fromkeys(held):
            os.kill(os.getpid(), signum)

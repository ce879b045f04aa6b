"""`python -m flows` and the `s103-sdtm` script: SIGTERM and SIGINT are caught from the first line, before the
command line's imports, so a Ctrl-C at any moment ends in one line and its exit code, never a traceback."""

from __future__ import annotations

import signal
import sys

from flows.kernel.errors import Interrupted


def _raise(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def main() -> int:
    """Run the command line in a process that exits when its command ends."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise)
    try:
        from flows import cli
        from flows.run.signals import exit_when_done

        exit_when_done()
        code = cli.main()
        for signum in (signal.SIGTERM, signal.SIGINT):  # done and reported: a late signal changes nothing
            signal.signal(signum, signal.SIG_IGN)
        return code
    except Interrupted as exc:  # before the command started (imports), or after it ended
        print(exc.line(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())

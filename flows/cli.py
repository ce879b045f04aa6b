"""Command line: `s103-sdtm` (or `python -m flows`) export|diff|status|serve|synth|ct-extract. `export` imports
Prefect only when a server is configured (PREFECT_API_URL).

Every failure ends in one line on stderr and an exit code (README, "The command line"); a traceback only with
--debug.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import sys
import traceback
from datetime import date
from importlib import metadata
from pathlib import Path

from flows import __version__
from flows.kernel.errors import Interrupted, PipelineError, describe, shorten

PROG = "s103-sdtm"
SHOWN_REJECTS = 10  # reject records listed on stderr (root causes first); every one is in rejects.csv
CASCADE = "parent_rejected"  # a row dropped because the row it depends on was rejected
LIBRARIES = ("pandas", "pyarrow", "pandera", "prefect")
EXPORT_EXIT_CODES = (
    "exit codes: 0 published clean, or unchanged since the latest transfer; 1 published with rejected rows (with "
    "--strict: nothing published); 2 nothing published (a structural problem, a broken spec, an output failing its "
    "SDTM check, a bad --cutoff, the environment); 3 another export of the study is running; 143 / 130 stopped by "
    "SIGTERM / SIGINT"
)


def _err(text: str = "") -> None:
    print(text, file=sys.stderr)


def print_rejects(rejects, shown: int = SHOWN_REJECTS) -> None:
    """The first rejects (root causes before cascades), values cut to one short line, then the counts by file and
    rule: root causes first, then the cascades counted apart."""
    if rejects is None or rejects.empty:
        return
    cascade = rejects["rule"] == CASCADE
    causes_first = rejects.sort_values("rule", key=lambda s: s == CASCADE, kind="stable")
    for r in causes_first.head(shown).itertuples(index=False):
        cell = f"{r.column}={shorten(str(r.value), 60)!r}: " if r.column else ""
        _err(shorten(f"  {r.file}:{r.line}: {cell}{r.rule}: {r.message}"))
    if len(rejects) > shown:
        _err(f"  ... {len(rejects) - shown} more in rejects.csv")
    causes = rejects[~cascade].groupby(["file", "rule"], sort=False).size()
    _err(f"rejects by file and rule ({int(causes.sum())} root causes):")
    for (file, rule), n in causes.items():
        _err(f"  {file}: {rule}: {n}")
    if cascade.any():
        dropped = rejects[cascade].groupby("file", sort=False).size()
        _err(f"cascades ({CASCADE}: rows dropped with the row they depend on; {int(dropped.sum())} records):")
        for file, n in dropped.items():
            _err(f"  {file}: {n}")


class _NoTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


def _prefect_console(debug: bool, verbose: bool) -> None:
    """Prefect's console log shows each failed task's traceback: they stay in the run's log on the server, and the
    terminal gets the run's one line. --verbose shows Prefect's log lines without tracebacks, --debug all of it."""
    if debug:
        return
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            if verbose:
                handler.addFilter(_NoTraceback())
            else:
                handler.setLevel(logging.CRITICAL + 1)


def cmd_export(args: argparse.Namespace) -> int:
    from flows.mapping.load import load_specs
    from flows.run import progress

    specs = load_specs(args.specs)
    with progress.reporting(progress.mode_for(sys.stderr, args.quiet, args.verbose)):
        if api_url := os.environ.get("PREFECT_API_URL"):
            from flows.schedule.server import answers

            if not answers(api_url):
                raise PipelineError(f"no Prefect server answers at {api_url} (PREFECT_API_URL): start it, or unset "
                                    "PREFECT_API_URL to export without a server")  # fmt: skip
            from flows.schedule.flow import export_study, result_of  # importing Prefect sets up its logging

            _prefect_console(args.debug, args.verbose)
            params = (str(args.raw), str(args.out), args.strict, args.cutoff, str(args.specs), args.force)
            result = result_of(export_study(*params, return_state=True))
        else:
            from flows.run.pipeline import run_export

            result = run_export(
                args.raw,
                args.out,
                specs,
                strict=args.strict,
                cutoff=args.cutoff,
                force=args.force,
                block_size=args.block_size,
                workers=args.workers,
            )
    if args.debug and result.error is not None:
        traceback.print_exception(result.error, file=sys.stderr)
    stream = sys.stdout if result.exit_code == 0 else sys.stderr
    print(("error: " if result.exit_code == 2 else "") + result.message, file=stream)  # 3 (locked) is a clean exit
    if not args.quiet:
        print_rejects(result.rejects, len(result.rejects) if args.verbose and result.rejects is not None else 10)
    return result.exit_code


def _at_least_one(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {number}")
    return number


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    from flows.transfer.diff import diff_transfers, differs, render_markdown
    from flows.transfer.verify import verify_transfer

    for path in (args.old, args.new):
        if not (path / "parquet").is_dir():
            raise PipelineError(f"{path}: not a transfer folder (no parquet/)")
        verify_transfer(path)
    changes = diff_transfers(args.old.resolve(), args.new.resolve())
    print(render_markdown(changes), end="")
    return 1 if differs(changes) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from flows.schedule.status import main as status

    return status(args.out, args.runs, args.specs)


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.schedule.serve import main as serve

    runner = not (args.no_runner or args.deploy)
    return serve(args.port, args.runner_only, args.home, host=args.host, runner=runner, specs_dirs=args.specs,
                 deploy=args.deploy, out_dir=args.out)  # fmt: skip


def cmd_synth(args: argparse.Namespace) -> int:
    from flows.tools.synth import main as synth

    synth(args.subjects, args.seed, args.out, args.as_of, args.specs)
    return 0


def cmd_ct_extract(args: argparse.Namespace) -> int:
    from flows.tools.ct_extract import main as extract

    extract(args.selection, args.out)
    return 0


def version() -> str:
    """The pipeline version and the versions of the libraries its outputs depend on."""
    parts = [f"python {platform.python_version()}"]
    for name in LIBRARIES:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} missing")
    return f"{PROG} {__version__} ({', '.join(parts)})"


def parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's (for a usage line that fits the command given)."""
    from flows.schedule.server import LOCAL_HOME
    from flows.spec.read import SPECS_DIR

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="on an unexpected failure, also print the traceback")
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=version(), help="print versions and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subs = {}

    def add(name: str, help: str, func) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help, description=help, parents=[common])
        s.set_defaults(func=func)
        subs[name] = s
        return s

    ex = add("export", "validate raw exports and publish an SDTM transfer", cmd_export)
    ex.epilog = EXPORT_EXIT_CODES
    ex.add_argument("--raw", type=Path, default=Path("raw"), help="folder of raw CSV exports (default: raw)")
    ex.add_argument("--out", type=Path, default=Path("output"), help="output root (default: output)")
    ex.add_argument("--specs", type=Path, default=SPECS_DIR, help="specs folder (default: the repository's)")
    ex.add_argument("--strict", action="store_true", help="publish nothing when any row is rejected")
    ex.add_argument("--cutoff", type=_iso_date, help="data cut YYYY-MM-DD (not after today): data known by then")
    ex.add_argument("--force", action="store_true", help="publish even when inputs, specs and version are unchanged")
    ex.add_argument("--block-size", type=_at_least_one, metavar="N", help="derive the datasets N subjects at a time "
                    "(default 10,000: a smaller study at once); the outputs are the same")  # fmt: skip
    ex.add_argument("--workers", type=_at_least_one, default=1, metavar="N", help="derive the blocks of subjects in N "
                    "processes (default 1); the outputs are the same")  # fmt: skip
    talk = ex.add_mutually_exclusive_group()
    talk.add_argument("--quiet", "-q", action="store_true", help="no progress, no reject listing: the result line")
    talk.add_argument("--verbose", "-v", action="store_true", help="every step with its time, and every reject")
    st = add("status", "show the latest transfer and the last runs on the Prefect server", cmd_status)
    st.add_argument("--out", type=Path, default=Path("output"), help="output root (default: output)")
    st.add_argument("--runs", type=int, default=10, help="how many recent runs to list (default 10)")
    st.add_argument("--specs", type=Path, action="append", help="a study's specs folder; repeat for several "
                    "(default: the repository's specs/)")  # fmt: skip
    sv = add("serve", "serve the scheduled export deployment of prefect.yaml (and a local server)", cmd_serve)
    sv.add_argument("--port", type=int, help="port of the local server (default: PREFECT_SERVER_API_PORT, 4200)")
    sv.add_argument("--home", type=Path, default=LOCAL_HOME, help="home of a local server (default: .prefect)")
    sv.add_argument("--specs", type=Path, action="append", help="a study's specs folder, its raw/ beside it; repeat "
                    "for one deployment per study (default: the repository's specs/)")  # fmt: skip
    sv.add_argument("--out", type=Path, help="the runs' output root, made absolute (default: prefect.yaml's "
                    "output/ in the clone); a work pool's workers must all see it")  # fmt: skip
    sv.add_argument("--host", default="127.0.0.1", help="address the local server listens on (default 127.0.0.1)")
    sv.add_argument("--no-runner", action="store_true", help="only the server and crash detection, for a work pool")
    sv.add_argument("--deploy", action="store_true", help="no runner: deploy one deployment per study to "
                    "prefect.yaml's work pool (created if missing), for its workers")  # fmt: skip
    sv.add_argument("--runner-only", action="store_true", help=argparse.SUPPRESS)  # the runner child of `serve`
    df = add("diff", "print what changed between two transfers (exit 1 when they differ)", cmd_diff)
    df.add_argument("old", type=Path, help="the earlier transfer folder")
    df.add_argument("new", type=Path, help="the later transfer folder")
    sy = add("synth", "generate seeded sample raw exports", cmd_synth)
    sy.add_argument("--subjects", type=_at_least_one, default=34, help="screened subjects (default 34: 24 dosed)")
    sy.add_argument("--seed", type=int, default=20250321, help="random seed: same seed, same files (default 20250321)")
    sy.add_argument("--out", type=Path, default=Path("raw"), help="folder to write the raw CSVs to (default: raw)")
    sy.add_argument("--as-of", default="2026-10-31", help="extraction date: nothing later is generated")
    sy.add_argument("--specs", type=Path, help="the study's specs folder (default: the repository's specs/); the "
                    "generator writes S103-shaped exports, so the study must share S103's raw contracts")  # fmt: skip
    ct = add("ct-extract", "copy the CT codelists named in specs/ct/selection.yaml (needs ../shared)", cmd_ct_extract)
    ct.add_argument(
        "--selection", type=Path, default=SPECS_DIR / "ct" / "selection.yaml", help="which codelists to copy"
    )
    ct.add_argument("--out", type=Path, default=SPECS_DIR / "ct" / "sdtm-ct.yaml", help="the YAML file to write")
    return p, subs


def interrupted(exc: BaseException, command: str = "export") -> int:
    """The one line of a command stopped by SIGTERM or SIGINT, and its exit code (143, 130). Only an export publishes:
    a stopped `serve` (its runner) says it stopped, not what its runs did (each run reported that itself)."""
    stopped = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)  # KeyboardInterrupt: Ctrl-C
    _err(stopped.line() if command == "export" else stopped.line(f"{command} stopped"))
    return stopped.exit_code


def main(argv: list[str] | None = None) -> int:
    from flows.run.signals import handled

    top, subs = parser()
    args, extra = top.parse_known_args(argv)
    if extra:
        subs[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        with handled():
            return args.func(args)
    except PipelineError as exc:
        _err(f"error: {shorten(str(exc), 800)}")
        return exc.exit_code
    except (Interrupted, KeyboardInterrupt) as exc:  # a published run ignores signals (run.signals.settle)
        return interrupted(exc, args.command)
    except Exception as exc:  # a bug or the environment, outside an export's own boundary
        if args.debug:
            traceback.print_exception(exc, file=sys.stderr)
        _err(f"error: {args.command}: {describe(exc)}")
        return 2

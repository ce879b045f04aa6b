"""Command line: `python -m flows export|status|serve|diff|synth|ct-extract`. `export` imports Prefect only when a
server is configured."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from flows.errors import PipelineError

SHOWN_REJECTS = 10


def _print_rejects(rejects) -> None:
    if rejects is None or rejects.empty:
        return
    causes_first = rejects.sort_values("rule", key=lambda s: s == "parent_rejected", kind="stable")
    for r in causes_first.head(SHOWN_REJECTS).itertuples(index=False):
        print(f"  {r.file}:{r.line}: {r.column}={r.value!r}: {r.rule}: {r.message}", file=sys.stderr)
    if len(rejects) > SHOWN_REJECTS:
        print(f"  ... {len(rejects) - SHOWN_REJECTS} more in rejects.csv", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from flows.specs import load_specs

    specs = load_specs(args.specs)
    if os.environ.get("PREFECT_API_URL"):
        from flows.flow import export_study, result_of

        params = (str(args.raw), str(args.out), args.strict, args.cutoff, str(args.specs), args.force)
        result = result_of(export_study(*params, return_state=True))
    else:
        from flows.pipeline import run_export

        result = run_export(args.raw, args.out, specs, strict=args.strict, cutoff=args.cutoff, force=args.force)
    stream = sys.stdout if result.exit_code == 0 else sys.stderr
    print(("error: " if result.exit_code == 2 else "") + result.message, file=stream)  # 3 (locked) is a clean exit
    _print_rejects(result.rejects)
    return result.exit_code


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    from flows.diff import diff_transfers, render_markdown

    for path in (args.old, args.new):
        if not (path / "parquet").is_dir():
            raise PipelineError(f"{path}: not a transfer folder (no parquet/)")
    print(render_markdown(diff_transfers(args.old.resolve(), args.new.resolve())), end="")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from flows.status import main as status

    return status(args.out, args.runs, args.specs)


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve import main as serve

    return serve(
        args.port, args.runner_only, args.home, host=args.host, runner=not args.no_runner, specs_dirs=args.specs
    )


def cmd_synth(args: argparse.Namespace) -> int:
    from flows.synth import main as synth

    synth(args.subjects, args.seed, args.out, args.as_of)
    return 0


def cmd_ct_extract(args: argparse.Namespace) -> int:
    from flows.ct_extract import main as extract

    extract(args.selection, args.out)
    return 0


def parser() -> argparse.ArgumentParser:
    from flows.serve import LOCAL_HOME
    from flows.specs import SPECS_DIR

    p = argparse.ArgumentParser(prog="python -m flows", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="validate raw exports and publish an SDTM transfer")
    ex.add_argument("--raw", type=Path, default=Path("raw"), help="folder of raw CSV exports (default: raw)")
    ex.add_argument("--out", type=Path, default=Path("output"), help="output root (default: output)")
    ex.add_argument("--specs", type=Path, default=SPECS_DIR, help="specs folder (default: the repository's)")
    ex.add_argument("--strict", action="store_true", help="publish nothing when any row is rejected")
    ex.add_argument("--cutoff", type=_iso_date, help="data cut YYYY-MM-DD: only data known on or before it")
    ex.add_argument("--force", action="store_true", help="publish even when inputs, specs and version are unchanged")
    ex.set_defaults(func=cmd_export)
    st = sub.add_parser("status", help="show the latest transfer and the last runs on the Prefect server")
    st.add_argument("--out", type=Path, default=Path("output"), help="output root (default: output)")
    st.add_argument("--runs", type=int, default=10, help="how many recent runs to list (default 10)")
    st.add_argument("--specs", type=Path, action="append", help="a study's specs folder; repeat for several "
                    "(default: the repository's specs/)")  # fmt: skip
    st.set_defaults(func=cmd_status)
    sv = sub.add_parser("serve", help="serve the scheduled export deployment of prefect.yaml (and a local server)")
    sv.add_argument("--port", type=int, help="port of the local server (default: PREFECT_SERVER_API_PORT, 4200)")
    sv.add_argument("--home", type=Path, default=LOCAL_HOME, help="home of a local server (default: .prefect)")
    sv.add_argument("--specs", type=Path, action="append", help="a study's specs folder, its raw/ beside it; repeat "
                    "for one deployment per study (default: the repository's specs/)")  # fmt: skip
    sv.add_argument("--host", default="127.0.0.1", help="address the local server listens on (default 127.0.0.1)")
    sv.add_argument("--no-runner", action="store_true", help="only the server and crash detection, for a work pool")
    sv.add_argument("--runner-only", action="store_true", help=argparse.SUPPRESS)  # the runner child of `serve`
    sv.set_defaults(func=cmd_serve)
    df = sub.add_parser("diff", help="print what changed between two transfer folders")
    df.add_argument("old", type=Path)
    df.add_argument("new", type=Path)
    df.set_defaults(func=cmd_diff)
    sy = sub.add_parser("synth", help="generate seeded sample raw exports")
    sy.add_argument("--subjects", type=int, default=34, help="screened subjects (default 34: 24 dosed)")
    sy.add_argument("--seed", type=int, default=20250321)
    sy.add_argument("--out", type=Path, default=Path("raw"))
    sy.add_argument("--as-of", default="2026-10-31", help="extraction date: nothing later is generated")
    sy.set_defaults(func=cmd_synth)
    ct = sub.add_parser("ct-extract", help="copy the CT codelists named in specs/ct/selection.yaml")
    ct.add_argument("--selection", type=Path, default=SPECS_DIR / "ct" / "selection.yaml")
    ct.add_argument("--out", type=Path, default=SPECS_DIR / "ct" / "sdtm-ct.yaml")
    ct.set_defaults(func=cmd_ct_extract)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

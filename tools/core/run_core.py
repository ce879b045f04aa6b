"""Run CDISC CORE (the open-source conformance rules engine) on a published transfer, offline.

`make core` (or `python3 tools/core/run_core.py --help`). Nothing here is part of the pipeline, its tests or CI;
CORE is not a dependency of the project. What it needs, outside the clone:

- Python 3.12 (CORE 0.17 requires >=3.12,<3.13): `--python`, or CORE_PYTHON, or python3.12 on PATH, or pyenv's.
- a venv for CORE (`--venv`, default ../core-venv beside the clone), made on first use with
  `pip install cdisc-rules-engine==CORE_VERSION` from PyPI.
- CORE's command line and rules cache (`--engine`, default ../core-src beside the clone): core.py, scripts/ and
  resources/ of the engine's repository, which the PyPI package lacks. Made on first use from `--source`: a checkout
  or a git directory of github.com/cdisc-org/cdisc-rules-engine (default: CORE_SOURCE). Cache files missing from
  that copy (a snapshot without its files of 4 MiB and more) are built for SDTMIG 3.4 and SDTM CT 2025-03-28 from
  ../shared/reference by build_cache.py.

It validates the transfer's xpt/ with its define.xml (whose def:Standard gives the CT package) and writes CORE's
report (core-report.json and .xlsx) and summary.txt (one line per rule and dataset with findings) in --out.
Exit 0 when CORE ran, whatever it found; 2, with one line on stderr, when something it needs is missing or CORE failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

CORE_VERSION = "0.17.1"
REPO = Path(__file__).resolve().parents[2]
ENGINE_PARTS = ("core.py", "version.py", "scripts", "resources")


class Missing(Exception):
    """Something CORE needs is not there: the message is the one line to print."""


def find_python(given: str | None) -> str:
    candidates = [given or os.environ.get("CORE_PYTHON") or "", shutil.which("python3.12") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python")), reverse=True)
    for python in filter(None, candidates):
        try:
            out = subprocess.run(
                [python, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()
        except OSError:
            continue
        if out == "True":
            return python
        if python == given:
            break
    raise Missing(
        f"CDISC CORE {CORE_VERSION} needs Python 3.12, not found (--python PATH or CORE_PYTHON=PATH; "
        "e.g. pyenv install 3.12)"
    )


def ensure_venv(venv: Path, python: str) -> Path:
    marker = venv / f".cdisc-rules-engine-{CORE_VERSION}"
    if marker.exists():
        return venv / "bin" / "python"
    print(f"core: installing cdisc-rules-engine=={CORE_VERSION} into {venv}", file=sys.stderr)
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if subprocess.run([*pip, f"cdisc-rules-engine=={CORE_VERSION}"]).returncode:
        raise Missing(f"pip could not install cdisc-rules-engine=={CORE_VERSION} into {venv}")
    marker.touch()
    return venv / "bin" / "python"


def _extract_git(git_dir: Path, target: Path) -> None:
    """core.py, scripts/ and resources/ of HEAD, leaving out blobs the snapshot lacks (files of 4 MiB and more)."""
    git = ["git", f"--git-dir={git_dir}"]
    listing = subprocess.run([*git, "ls-tree", "-r", "HEAD", "--", *ENGINE_PARTS], capture_output=True, text=True)
    if listing.returncode:
        raise Missing(f"{git_dir} is not a git directory of CORE's repository: {listing.stderr.strip()}")
    entries = [line.split("\t", 1) for line in listing.stdout.splitlines()]
    check = subprocess.run(
        [*git, "cat-file", "--batch-check"],
        input="\n".join(e[0].split()[2] for e in entries),
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    present = [path for (_, path), status in zip(entries, check, strict=True) if not status.endswith("missing")]
    with tempfile.TemporaryFile() as archive:
        # git archive names the snapshot's absent blobs on stderr even when they are not asked for: not an error.
        subprocess.run([*git, "archive", "HEAD", "--", *present], stdout=archive, stderr=subprocess.DEVNULL, check=True)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(target, filter="data")


def ensure_engine(engine: Path, source: str | None, reference: Path, python: str) -> Path:
    cache = engine / "resources" / "cache"
    if not (engine / "core.py").exists() or not (cache / "rules.pkl").exists():
        source = source or os.environ.get("CORE_SOURCE")
        if not source or not Path(source).exists():
            raise Missing(
                "CORE's rules cache is missing: pass --source PATH, a checkout or git directory of "
                "github.com/cdisc-org/cdisc-rules-engine (its resources/cache holds rules.pkl)"
            )
        src = Path(source)
        engine.mkdir(parents=True, exist_ok=True)
        if (src / "core.py").exists():
            for part in ENGINE_PARTS:
                (shutil.copytree if (src / part).is_dir() else shutil.copy2)(src / part, engine / part)
        else:
            _extract_git(src / ".git" if (src / ".git").is_dir() else src, engine)
        if not (cache / "rules.pkl").exists():
            shutil.rmtree(engine)
            raise Missing(f"CORE's rules cache is missing: {source} has no resources/cache/rules.pkl")
    needed = ("standards_details.pkl", "standards_models.pkl", "variables_metadata.pkl", "sdtmct-2025-03-28.pkl")
    if not all((cache / name).exists() for name in needed):
        if not (reference / "sdtmig").is_dir() or not (reference / "ct").is_dir():
            raise Missing(
                f"CORE's cache lacks {', '.join(n for n in needed if not (cache / n).exists())} and "
                f"{reference} (SDTMIG 3.4 CSVs and the NCI CT file to build them from) is missing"
            )
        built = subprocess.run(
            [python, str(Path(__file__).with_name("build_cache.py")), str(reference), str(cache)],
            capture_output=True,
            text=True,
        )
        if built.returncode:
            raise Missing(f"building CORE's cache failed: {built.stderr.strip().splitlines()[-1]}")
        print(f"core: built {built.stdout.strip()} from {reference}", file=sys.stderr)
    return engine


def find_transfer(given: str | None) -> Path:
    if given:
        transfer = Path(given)
    else:
        found = sorted(glob.glob(str(REPO / "output" / "*" / "latest")))
        if len(found) != 1:
            raise Missing(f"{len(found)} transfers under output/*/latest: pass --transfer DIR (make run makes one)")
        transfer = Path(found[0])
    if not (transfer / "xpt").is_dir() or not (transfer / "define.xml").is_file():
        raise Missing(f"{transfer} is not a transfer: no xpt/ or define.xml (make run)")
    return transfer.resolve()


def summarize(report: dict, seconds: float) -> str:
    details = report.get("Conformance_Details", {})
    statuses: dict[str, int] = {}
    for rule in report.get("Rules_Report", []):
        statuses[rule["status"]] = statuses.get(rule["status"], 0) + 1
    rules = {r["core_id"]: r for r in report.get("Rules_Report", [])}
    lines = [
        f"CDISC CORE (cdisc-rules-engine {CORE_VERSION}; core.py {details.get('CORE_Engine_Version')}), "
        f"{details.get('Standard')} {details.get('Version')}, {details.get('CT_Version')}, Define-XML "
        f"{details.get('Define_XML_Version')}: {seconds:.0f} s",
        "rules: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
        "",
        f"{'rule':<12} {'CDISC / FDA id':<34} {'dataset':<8} {'count':>5}  message",
    ]
    for issue in sorted(report.get("Issue_Summary", []), key=lambda i: (i["core_id"], i["dataset"])):
        rule = rules.get(issue["core_id"], {})
        ids = ", ".join(filter(None, (rule.get("cdisc_rule_id"), rule.get("fda_rule_id"))))
        error = (
            " [EXECUTION ERROR]"
            if issue["message"].startswith(("rule evaluation error", "rule execution error"))
            else ""
        )
        lines.append(
            f"{issue['core_id']:<12} {ids:<34} {issue['dataset']:<8} {issue['issues']:>5}  {issue['message']}{error}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transfer", help="a transfer folder (default: the one output/*/latest)")
    parser.add_argument("--out", help="where the report goes (default: output/core/<transfer>)")
    parser.add_argument("--source", help="CORE's repository (checkout or git dir), for core.py and the rules cache")
    parser.add_argument("--python", help="a Python 3.12")
    parser.add_argument("--venv", default=str(REPO.parent / "core-venv"), help="CORE's venv (default: %(default)s)")
    parser.add_argument(
        "--engine",
        default=str(REPO.parent / "core-src"),
        help="core.py, scripts/ and resources/cache (default: %(default)s)",
    )
    parser.add_argument(
        "--reference",
        default=str(REPO.parent / "shared" / "reference"),
        help="CDISC reference data to build missing cache files from (default: %(default)s)",
    )
    parser.add_argument("--standard", default="sdtmig")
    parser.add_argument("--version", default="3-4")
    args = parser.parse_args(argv)
    try:
        base_python = find_python(args.python)
        engine = ensure_engine(Path(args.engine), args.source, Path(args.reference), base_python)
        transfer = find_transfer(args.transfer)
        python = ensure_venv(Path(args.venv), base_python)
        out = Path(args.out or REPO / "output" / "core" / f"{transfer.parent.name}_{transfer.name}").resolve()
        out.mkdir(parents=True, exist_ok=True)
        command = [
            str(python),
            "core.py",
            "validate",
            "-s",
            args.standard,
            "-v",
            args.version,
            "-d",
            str(transfer / "xpt"),
            "-dxp",
            str(transfer / "define.xml"),
            "-o",
            str(out / "core-report"),
            "-of",
            "JSON",
            "-of",
            "XLSX",
            "-p",
            "disabled",
            "-l",
            "error",
        ]
        print("core: " + " ".join(command), file=sys.stderr)
        start = time.monotonic()
        with (out / "core.log").open("w") as log:
            ran = subprocess.run(command, cwd=engine, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - start
        report_file = out / "core-report.json"
        if ran.returncode or not report_file.exists():
            raise Missing(f"CORE failed (exit {ran.returncode}): see {out / 'core.log'}")
        summary = summarize(json.loads(report_file.read_text()), seconds)
        (out / "summary.txt").write_text(summary)
        print(summary, end="")
        print(f"core: {report_file}, core-report.xlsx and summary.txt in {out}", file=sys.stderr)
        return 0
    except Missing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

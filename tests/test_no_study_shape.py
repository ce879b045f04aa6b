"""No study shape in flows/: no raw file name or raw column name of any contract (S103's and the test studies')
appears as a string literal in the runtime package. The sample generator (flows/tools/synth.py) and its converters to
other EDC layouts (flows/tools/layouts.py) may keep S103's."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import ROOT

EXEMPT = {
    "tools/synth.py",
    "tools/layouts.py",
    "tools/csv_layout.py",
}  # the S103 sample generator and converters, not the runtime pipeline
# Words of the spec vocabulary that a contract may also use as a column name: a raw type is not a column.
VOCABULARY = {"date", "datetime"}
# Literals equal to some column name that mean something else where they stand (each read and justified).
ALLOWED = {
    ("transfer/diff.py", "item"): "numpy's scalar method .item()",
    ("schedule/serve.py", "start"): "the `prefect server start` command",
    ("raw/odm.py", "start"): "lxml's iterparse event at an element's start tag",
    ("spec/checks.py", "visit"): "study.yaml's own keys: visits.schedule[].visit and a criterion rule's visit",
    ("spec/checks.py", "instrument"): "study.yaml's own key: a criterion rule's instrument",
    ("raw/eligibility.py", "visit"): "study.yaml's own key: a criterion rule's visit",
    ("mapping/sources/planned_visits.py", "visit"): "study.yaml's own key: visits.schedule[].visit",
    ("mapping/sources/planned_visits.py", "infusion"): "study.yaml's own key: visits.schedule[].infusion",
    ("mapping/derivations/analysis_visit.py", "visit"): "study.yaml's own key: visits.schedule[].visit",
    ("raw/eligibility.py", "instrument"): "study.yaml's own key: a criterion rule's (or threshold's) instrument",
}


def contract_names() -> dict[str, str]:
    """Every raw column and file name of every contract -> the contract that has it."""
    names = {}
    paths = [*(ROOT / "specs" / "raw").glob("*.yaml"), *(ROOT / "tests" / "studies").glob("*/specs/raw/*.yaml")]
    assert paths
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        names[data["file"]] = names[path.stem] = str(path.relative_to(ROOT))
        for col in data["columns"]:
            names[col["name"]] = str(path.relative_to(ROOT))
    return names


def literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module (f-string parts included), with its line; docstrings too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_flows_names_no_raw_file_or_column():
    names = contract_names()
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {value!r} (from {names[value]})"
        for path in sorted((ROOT / "flows").rglob("*.py"))
        if (where := path.relative_to(ROOT / "flows").as_posix()) not in EXEMPT
        for line, value in literals(path)
        if value in names and value not in VOCABULARY and (where, value) not in ALLOWED
    ]
    assert not hits, "\n".join(hits)


def test_the_check_finds_a_planted_name(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('frame["cells_per_kg"]\n', encoding="utf-8")
    assert (1, "cells_per_kg") in literals(planted) and "cells_per_kg" in contract_names()

"""The floor plan as the README shows it: every stage package of flows/ has its row in the README's layout table, in
the order of the import-linter layers of pyproject.toml (top first), and every path the table names exists."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def table_paths() -> list[str]:
    """The paths of the README's layout table, in order (`| `path` | what |` rows)."""
    return re.findall(r"^\| `([^`]+)` \|", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)


def stage_packages() -> set[str]:
    return {f"flows/{p.parent.name}/" for p in (ROOT / "flows").glob("*/__init__.py")}


def layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    stages = next(c for c in config["contracts"] if c["type"] == "layers" and "containers" not in c)["layers"]
    return [name.strip() for layer in stages for name in layer.split("|")]


def test_every_stage_package_has_its_row():
    rows = table_paths()
    assert sorted(stage_packages() - set(rows)) == []


def test_every_path_of_the_table_exists():
    missing = [p for p in table_paths() if "*" not in p and " " not in p and "<" not in p and not (ROOT / p).exists()]
    assert [p for p in missing if p.startswith(("flows", "specs", "tests", "bench", "raw"))] == []


def test_the_table_lists_the_stages_in_the_order_of_the_layers():
    rows = [p for p in table_paths() if p.startswith("flows/") and p != "flows/"]
    in_table = [p.removesuffix("/").removesuffix(".py").replace("/", ".") for p in rows]
    assert in_table == layers(), "README's layout table and pyproject's layers disagree"


def test_every_stage_package_is_a_layer():
    packages = {p.removesuffix("/").replace("/", ".") for p in stage_packages()}
    assert sorted(packages - set(layers())) == []

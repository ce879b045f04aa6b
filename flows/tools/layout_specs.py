"""The spec folder of another EDC layout of a study: its raw contracts, and a layout.yaml that takes the study,
CT and dataset specs from the study's own folder (flows.spec.read.base_of)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from flows.spec.model import RawContract
from flows.spec.read import LOADER


def contract_yaml(contract: RawContract, file: str, fmt: dict[str, Any]) -> dict[str, Any]:
    """A contract's YAML as written, with another file and format (columns copied, to be changed by the caller)."""
    data = dict(yaml.load(contract.path.read_text(encoding="utf-8"), Loader=LOADER))
    data["file"], data["format"] = file, fmt
    data["columns"] = [dict(c) for c in data["columns"]]
    return data


def write_layout_file(out: Path, extends: str) -> None:
    """out/layout.yaml: the spec folder `extends` names (relative to out) gives study.yaml, ct/ and sdtm/."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "layout.yaml").write_text(
        "# Another EDC layout of the study: its raw contracts here, its study, CT and dataset specs from there.\n"
        f"extends: {extends}\n",
        encoding="utf-8",
    )


def write_layout(
    out: Path, base: Path, contracts: dict[str, dict[str, Any]], datasets: dict[str, str] | None = None
) -> None:
    """out/layout.yaml extending `base`, out/raw/<name>.yaml for each contract and out/sdtm/<file> for each dataset
    spec the layout replaces (deterministic bytes)."""
    (out / "raw").mkdir(parents=True, exist_ok=True)
    write_layout_file(out, Path(os.path.relpath(base.resolve(), out.resolve())).as_posix())
    for name, data in sorted(contracts.items()):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=120, default_flow_style=None)
        head = "# Written by the layout converter (flows/tools); do not edit.\n"
        (out / "raw" / f"{name}.yaml").write_text(head + text, encoding="utf-8")
    for name, text in sorted((datasets or {}).items()):
        (out / "sdtm").mkdir(exist_ok=True)
        (out / "sdtm" / name).write_text(text, encoding="utf-8")

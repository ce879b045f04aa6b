"""Load a study: its specs read (flows.spec.read), each checked on its own (flows.spec.checks) and every mapping
checked against the vocabulary (flows.mapping.checks). What every command starts from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flows.mapping.checks import check_analysis, check_mappings
from flows.mapping.plan import copied_columns
from flows.spec.checks import check_conformance, check_raw, check_sdtm, check_study
from flows.spec.model import Specs
from flows.spec.read import SPECS_DIR, read_specs


def load_specs(root: Path = SPECS_DIR) -> Specs:
    """Read every spec under root and cross-check them; raise SpecError naming file and key on the first problem."""
    return check_specs(read_specs(root))


def check_specs(specs: Specs) -> Specs:
    """Cross-check the specs against each other, the controlled terminology and the mapping vocabulary; return
    them with each collected variable's raw source worked out from its mapping."""
    check_raw(specs)  # first: the study's criteria rules look for contracts' column roles
    check_study(specs)
    check_sdtm(specs)
    check_conformance(specs)
    checked = dataclasses.replace(specs, sdtm=check_mappings(specs))
    checked = dataclasses.replace(checked, adam=check_analysis(checked))
    return dataclasses.replace(checked, copies=copied_columns(checked))

"""What a mapping step sees while it runs: the domain's records, its variables so far, and the other datasets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from flows.spec.model import RawContract, Specs


@dataclass
class Context:
    """The state of one domain's derivation (mutable only by the engine)."""

    domain: str
    records: pd.DataFrame  # one row per record: raw columns or study-list fields, plus _file/_line for raw rows
    specs: Specs
    contract: RawContract | None  # the raw contract of the records, when they come from a raw file
    valid: Mapping[str, pd.DataFrame]  # every raw file's valid rows (after any data cut); in a consuming derivation a
    # file goes once no node still to come reads it, so a step reads one only as mapping.plan.step_raw_reads knows
    datasets: dict[str, dict[str, pd.Series]]  # variables derived so far, per domain
    facts: Mapping[str, Any] = field(default_factory=dict)  # what the run knows beyond the data (the cut)
    cache: dict[Any, pd.Series] = field(default_factory=dict)  # results several steps share (study days)

    @property
    def variables(self) -> dict[str, pd.Series]:
        return self.datasets[self.domain]

    def column(self, name: str) -> pd.Series:
        return self.records[name]

    def ref(self, dotted: str) -> tuple[pd.Series, pd.Series]:
        """Another dataset's variable `DOMAIN.VAR` with that dataset's USUBJID, for per-subject look-ups."""
        domain, var = dotted.split(".", 1)
        return self.datasets[domain]["USUBJID"], self.datasets[domain][var]

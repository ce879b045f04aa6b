"""What a mapping step sees while it runs: the domain's records, its variables so far, and the other datasets; and
the study days several steps of a domain share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from flows.kernel import distinct
from flows.mapping.vectors import lookup_per_subject, study_day_of
from flows.spec.model import RawContract, Specs

REFERENCE = "DM.RFSTDTC"  # SDTMIG: study days count from the subject reference start date
KEY_ORDER = "key order"  # Context.cache: (keys, positions of the records in their order), kept by --SEQ for the sort


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

    def study_days(self, date: str, reference: str | None = None) -> pd.Series:
        """--DY of a variable against the subject's reference date (DM.RFSTDTC unless named), worked out once per
        distinct subject and date (on the records when there are few) and kept: --DY and EPOCH of a date share it."""
        key = ("study_day", date, reference)
        if key not in self.cache:
            source, ref = self.ref(reference or REFERENCE)
            subject = self.variables["USUBJID"]
            if len(subject) <= distinct.SMALL:
                days = study_day_of(self.variables[date], lookup_per_subject(subject, source, ref))
                self.cache[key] = days.astype("Int64")
                return self.cache[key]
            frame = pd.DataFrame({"u": subject.array, "d": self.variables[date].array}, index=subject.index)
            pairs = distinct.distinct_rows(frame, ["u", "d"])
            rows = pairs.rows.reset_index(drop=True)
            days = study_day_of(rows["d"], lookup_per_subject(rows["u"], source, ref))
            self.cache[key] = pairs.expand(days, subject.index).astype("Int64")
        return self.cache[key]

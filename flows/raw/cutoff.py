"""Data cut: keep only what was known on or before the cut date, and count what was left out."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from flows.kernel.held import Rows, held_frame, held_like
from flows.raw.validate import parents_first, subject_key
from flows.spec.model import Specs


def apply_cutoff(valid: dict[str, Rows], specs: Specs, cutoff: str) -> tuple[dict[str, Rows], dict[str, int]]:
    """Valid rows known on or before cutoff (YYYY-MM-DD), and per raw file the number of rows left out; held rows
    stay held (a file's text is read back while it is cut)."""
    kept, dropped = {}, {}
    for name in parents_first(specs):
        contract, rows = specs.raw[name], valid[name]
        if not contract.cut:
            kept[name], dropped[name] = rows, 0
            continue
        frame = held_frame(rows)
        keep = ~(frame[contract.cut["date"]].str.slice(0, 10) > cutoff)
        if contract.parent:
            parent = specs.raw[contract.parent]
            keep &= subject_key(frame, contract).isin(subject_key(kept[contract.parent], parent))
        out = frame.loc[keep].copy()
        for date_col, cols in contract.cut.get("blank_after", {}).items():
            later = out[date_col].str.slice(0, 10) > cutoff
            out.loc[later, cols] = pd.NA
        kept[name], dropped[name] = held_like(rows, out), int((~keep).sum())
        del frame, out
    return kept, dropped


def data_as_of(valid: dict[str, Rows], specs: Specs, cutoff: str | None) -> datetime:
    """The transfer's creation time: the cut date, else the latest date in the data (never the clock)."""
    if cutoff:
        return datetime.fromisoformat(cutoff)
    latest = "1900-01-01"
    for name, contract in specs.raw.items():
        for col in contract.columns:
            if col.type in ("date", "datetime") and col.name in valid[name] and valid[name][col.name].notna().any():
                # the date of the largest text is the largest date: no sliced copy of the column
                latest = max(latest, str(valid[name][col.name].max())[:10])
    return datetime.fromisoformat(latest)

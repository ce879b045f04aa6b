"""summary.html's treatment-emergent adverse events by dose level from the analysis datasets (ADSL, ADAE): the
subjects of the safety population with any treatment-emergent event, a worst grade of 3 or more, CRS, ICANS and a
DLT, each counted once by ADAE's flags, so the review and the datasets a statistician checks cannot disagree."""

from __future__ import annotations

import pandas as pd

from flows.spec.model import Study

TOTAL = "Total"


def _pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f}%)" if n else str(k)


def teae_by_level(adae: pd.DataFrame, adsl: pd.DataFrame, study: Study) -> pd.DataFrame:
    """One row per count, one column per dose level (ACTARMCD, in study.yaml's order) and the total: subjects of
    the safety population (SAFFL Y), and of them those with a treatment-emergent event (TRTEMFL Y) of each kind."""
    safe = adsl[adsl["SAFFL"] == "Y"]
    level = pd.Series(safe["ACTARMCD"].to_numpy(), index=safe["USUBJID"].to_numpy())
    emergent = adae[(adae["TRTEMFL"] == "Y") & adae["USUBJID"].isin(level.index)]
    kinds = {
        "Any TEAE (AOCCFL = Y)": emergent["AOCCFL"] == "Y",
        "Worst grade 3 or more (AOCCIFL = Y, ATOXGRN >= 3)": (emergent["AOCCIFL"] == "Y")
        & (emergent["ATOXGRN"].astype("Float64") >= 3),
        "CRS (CRSFL = Y)": emergent["CRSFL"] == "Y",
        "ICANS (ICANSFL = Y)": emergent["ICANSFL"] == "Y",
        "DLT (DLTFL = Y)": emergent["DLTFL"] == "Y",
    }
    columns = [a["armcd"] for a in study.arms if a["armcd"] in set(level)]
    n = level.value_counts()
    rows = {
        "Safety population (ADSL.SAFFL = Y)": {**{c: str(int(n.get(c, 0))) for c in columns}, TOTAL: str(len(level))}
    }
    for label, hit in kinds.items():
        ids = pd.Index(emergent.loc[hit.fillna(False).to_numpy(bool), "USUBJID"].unique())
        k = level.loc[ids].value_counts()
        rows[label] = {
            **{c: _pct(int(k.get(c, 0)), int(n.get(c, 0))) for c in columns},
            TOTAL: _pct(len(ids), len(level)),
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*columns, TOTAL]).rename_axis("row").reset_index()

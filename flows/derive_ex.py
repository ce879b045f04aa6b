"""EX: one record per S103 infusion, with treatment constants from the study and study days from DM."""

from __future__ import annotations

import pandas as pd

from flows.dates import study_day
from flows.keys import derive_seq, usubjid
from flows.specs import DomainSpec, Study


def infusion_epoch(study: Study) -> str:
    """EPOCH of the planned visit at which the study treatment is given."""
    return next(v["epoch"] for v in study.visits if v.get("infusion"))


def derive_ex(dosing: pd.DataFrame, study: Study, spec: DomainSpec) -> pd.DataFrame:
    """EX from valid dosing rows; study days are added by add_study_days once DM exists."""
    d, tr = dosing, study.treatment
    ex = pd.DataFrame(index=d.index)
    ex["STUDYID"] = study.studyid
    ex["DOMAIN"] = spec.domain
    ex["USUBJID"] = usubjid(study.studyid, d["site"], d["subject"])
    ex["EXTRT"] = tr["name"]
    ex["EXDOSE"] = d["cells_per_kg"].astype("Float64")
    ex["EXDOSU"], ex["EXDOSFRM"] = tr["dose_unit"], tr["form"]
    ex["EXDOSFRQ"], ex["EXROUTE"] = tr["frequency"], tr["route"]
    ex["EXLOT"] = d["lot"]
    ex["EPOCH"] = infusion_epoch(study)
    ex["EXSTDTC"], ex["EXENDTC"] = d["start"], d["end"]
    ex["_file"], ex["_line"] = d["_file"], d.index
    return derive_seq(ex, spec)


def add_study_days(frame: pd.DataFrame, dm: pd.DataFrame, pairs: dict[str, str]) -> pd.DataFrame:
    """Return frame with --DY columns (name -> --DTC column) computed against DM.RFSTDTC."""
    out = frame.copy()
    ref = out["USUBJID"].map(dm.set_index("USUBJID")["RFSTDTC"])
    for dy, dtc in pairs.items():
        out[dy] = study_day(out[dtc], ref)
    return out

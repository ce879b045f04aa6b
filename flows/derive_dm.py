"""DM: one record per screened subject, with reference dates, age, arms and SDTMIG screen-failure handling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.dates import completed_years, impute_first, parse_date
from flows.distinct import distinct_rows
from flows.keys import sort_by_keys, usubjid
from flows.specs import DomainSpec, Study


def actual_arm(dose: pd.Series, study: Study) -> pd.Series:
    """ARMCD of the dose level whose dose matches the administered dose within the study's tolerance."""
    tol = float(study.treatment["dose_tolerance"])
    armcd = pd.Series(pd.NA, index=dose.index, dtype="str")
    for arm in reversed(study.arms):
        hit = (dose - arm["dose"]).abs() <= tol * arm["dose"]
        armcd = armcd.mask(hit.fillna(False).astype(bool), arm["armcd"])
    return armcd


def exposure_summary(ex: pd.DataFrame) -> pd.DataFrame:
    """Per USUBJID: first exposure start, last exposure end and the first infusion's dose."""
    ordered = ex.sort_values(["USUBJID", "EXSTDTC"], kind="stable")
    return ordered.groupby("USUBJID").agg(
        RFXSTDTC=("EXSTDTC", "min"), RFXENDTC=("EXENDTC", "max"), first_dose=("EXDOSE", "first")
    )


def last_dates(frames: list[tuple[pd.DataFrame, str]]) -> pd.Series:
    """Latest date (YYYY-MM-DD) of any record per USUBJID, over (frame, date column) pairs."""
    pairs = [(distinct_rows(f, ["USUBJID", col]).rows, col) for f, col in frames if not f.empty]  # repeats: same max
    parts = [p[["USUBJID"]].assign(d=p[col].str.slice(0, 10)) for p, col in pairs]
    return pd.concat(parts).groupby("USUBJID")["d"].max()


def derive_dm(
    enrollment: pd.DataFrame,
    ex: pd.DataFrame,
    other_dates: list[tuple[pd.DataFrame, str]],
    study: Study,
    spec: DomainSpec,
) -> pd.DataFrame:
    """DM from valid enrollment rows and the derived EX; other_dates give each subject's last known date."""
    e = enrollment
    dm = pd.DataFrame(index=e.index)
    dm["STUDYID"] = study.studyid
    dm["DOMAIN"] = spec.domain
    dm["USUBJID"] = usubjid(study.studyid, e["site"], e["subject"])
    dm["SUBJID"] = e["subject"]
    exposure = exposure_summary(ex)
    dm["RFXSTDTC"] = dm["USUBJID"].map(exposure["RFXSTDTC"])
    dm["RFXENDTC"] = dm["USUBJID"].map(exposure["RFXENDTC"])
    dm["RFSTDTC"] = dm["RFXSTDTC"]
    failed = e["screening_outcome"] == study.outcomes["failed"]
    assigned = e["dose_level"].notna() & ~failed
    dm["RFENDTC"] = e["eos_date"].fillna(dm["RFXENDTC"]).where(assigned)
    dm["RFICDTC"] = e["consent_date"]
    dated = [(dm.assign(d=e["consent_date"]), "d"), *other_dates]
    dm["RFPENDTC"] = e["eos_date"].fillna(dm["USUBJID"].map(last_dates(dated)))
    dm["DTHDTC"] = e["death_date"]
    dm["DTHFL"] = pd.Series(np.where(e["death_date"].notna(), "Y", None), index=e.index, dtype="str")
    dm["SITEID"] = e["site"]
    dm["BRTHDTC"] = e["birth_date"]
    dm["AGE"] = completed_years(impute_first(e["birth_date"]), parse_date(e["consent_date"]))
    dm["AGEU"] = study.data["population"]["age"]["unit"]
    dm["SEX"], dm["RACE"], dm["ETHNIC"] = e["sex"], e["race"], e["ethnicity"]
    arm_names = {a["armcd"]: a["arm"] for a in study.arms}
    dm["ARMCD"] = e["dose_level"].where(assigned)
    dm["ARM"] = dm["ARMCD"].map(arm_names)
    dm["ACTARMCD"] = actual_arm(dm["USUBJID"].map(exposure["first_dose"]).astype("Float64"), study)
    dm["ACTARM"] = dm["ACTARMCD"].map(arm_names)
    reasons = study.data["arm_null_reasons"]
    nrs = pd.Series(pd.NA, index=e.index, dtype="str")
    nrs = nrs.mask(assigned & dm["ACTARMCD"].isna(), reasons["not_treated"])
    dm["ARMNRS"] = nrs.mask(failed, reasons["screen_failure"])
    dm["ACTARMUD"] = pd.Series(pd.NA, index=e.index, dtype="str")
    countries = {s["id"]: s["country"] for s in study.sites}
    dm["COUNTRY"] = e["site"].map(countries)
    dm["_file"], dm["_line"] = e["_file"], e.index
    return sort_by_keys(dm, spec)

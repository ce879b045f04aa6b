"""IE: the inclusion criteria not met and exclusion criteria met, per subject (SDTMIG: only exceptions)."""

from __future__ import annotations

import pandas as pd

from flows.distinct import distinct_rows, rows_where
from flows.keys import derive_seq, usubjid
from flows.specs import DomainSpec, Study


def criteria_table(study: Study) -> pd.DataFrame:
    """The study's criteria as a frame indexed by code: category and IETEST text."""
    return pd.DataFrame(study.criteria).set_index("code")[["category", "test"]]


def derive_ie(eligibility: pd.DataFrame, study: Study, spec: DomainSpec) -> pd.DataFrame:
    """IE from valid checklist rows whose answer means the criterion was not met."""
    crit = criteria_table(study)
    answers = distinct_rows(eligibility, ["criterion", "met"])  # a few answers, repeated for every subject
    u = answers.rows
    not_met = u["met"] == u["criterion"].map(crit["category"]).map(study.data["criteria"]["not_met_when"])
    el = rows_where(eligibility, answers.expand(not_met, eligibility.index))
    category = el["criterion"].map(crit["category"])
    ie = pd.DataFrame(index=el.index)
    ie["STUDYID"] = study.studyid
    ie["DOMAIN"] = spec.domain
    ie["USUBJID"] = usubjid(study.studyid, el["site"], el["subject"])
    ie["IETESTCD"] = el["criterion"]
    ie["IETEST"] = el["criterion"].map(crit["test"])
    ie["IECAT"] = category
    ie["IEORRES"] = el["met"]
    ie["IESTRESC"] = el["met"]
    ie["EPOCH"] = study.visits[0]["epoch"]
    ie["IEDTC"] = el["date"]
    ie["_file"], ie["_line"] = el["_file"], el.index
    return derive_seq(ie, spec)

"""SE: each subject's elements in the order of its arm (study.yaml `arms[].elements`; ACTARMCD, else ARMCD, else
the first arm), each starting at the DM date its element names (study.yaml `elements[].starts_at`, e.g. DM.RFXSTDTC)
and ending where the next starts; the path stops at the first element that has not started. The last element ends
at RFPENDTC once the subject has ended the study (a DS record of DSCAT DISPOSITION EVENT); while the subject is
ongoing (at the cut) it is open: SEENDTC null. Without DS every last element ends at RFPENDTC."""

from __future__ import annotations

import pandas as pd

from flows.mapping.context import Context
from flows.mapping.vectors import isin_text
from flows.mapping.vocabulary import RecordSource

# The DSCAT term (C74590) of a subject's end-of-study record: a CDISC term, the same in every study.
END_OF_STUDY = "DISPOSITION EVENT"


def ended_subjects(ctx: Context) -> pd.Series | None:
    """Each subject's end-of-study date (DS.DSSTDTC of DSCAT DISPOSITION EVENT, the earliest), by USUBJID; None
    when the study has no DS."""
    ds = ctx.datasets.get("DS")
    if not ds or "DSCAT" not in ds:
        return None
    frame = pd.DataFrame({k: ds[k].array for k in ("USUBJID", "DSCAT", "DSSTDTC")})
    ended = frame[(frame["DSCAT"] == END_OF_STUDY).fillna(False).to_numpy(bool)]
    return ended.groupby("USUBJID", sort=True)["DSSTDTC"].min().astype("str")


def subject_elements(ctx: Context) -> pd.DataFrame:
    """SE: each subject's elements in the order of its arm (ACTARMCD, else ARMCD, else the first arm), each
    starting at the DM date study.yaml's `elements` names, ending where the next starts; the last at RFPENDTC once
    the subject has an end-of-study record in DS, else open (null); the path stops at the first element that has
    not started."""
    study = ctx.specs.study
    elements = {e["etcd"]: e for e in study.data["elements"]}
    arms = {a["armcd"]: a["elements"] for a in study.arms}
    starts = {e["starts_at"].split(".", 1)[1] for e in elements.values()}
    wanted = dict.fromkeys(["USUBJID", "ACTARMCD", "ARMCD", "RFPENDTC", *sorted(starts)])  # not every DM variable
    dm = pd.DataFrame({k: ctx.datasets["DM"][k].array for k in wanted if k in ctx.datasets["DM"]}, copy=False)
    arm = dm["ACTARMCD"].fillna(dm["ARMCD"]).fillna(study.arms[0]["armcd"])
    rows = []
    for order in range(max(len(v) for v in arms.values())):
        etcd = arm.map({k: v[order] for k, v in arms.items() if order < len(v)})
        start = pd.Series(pd.NA, index=dm.index, dtype="str")
        for code in etcd.dropna().unique():
            col = elements[code]["starts_at"].split(".", 1)[1]
            start = start.mask(etcd == code, dm[col])
        rows.append(pd.DataFrame({"USUBJID": dm["USUBJID"], "ETCD": etcd, "TAETORD": order + 1, "SESTDTC": start}))
    se = pd.concat(rows, ignore_index=True)
    started = se.sort_values(["USUBJID", "TAETORD"], kind="stable")
    began = started["SESTDTC"].notna().astype("int8")
    started = started[began.groupby(started["USUBJID"].to_numpy()).cummin().astype(bool).to_numpy()]
    nxt = started.groupby("USUBJID")["SESTDTC"].shift(-1)
    end = started["USUBJID"].map(dm.set_index("USUBJID")["RFPENDTC"])
    ended = ended_subjects(ctx)
    if ended is not None:  # SDTMIG 3.4 SE: an element ends where the next begins; the last one the study's end
        end = end.where(isin_text(started["USUBJID"], ended.index))
    started = started.assign(SEENDTC=nxt.fillna(end).astype("str"))
    started["ELEMENT"] = started["ETCD"].map({k: e["element"] for k, e in elements.items()})
    started["EPOCH"] = started["ETCD"].map({k: e["epoch"] for k, e in elements.items()})
    return started.astype({"TAETORD": "Int64", "SESTDTC": "str", "ETCD": "str"})


RECORD_SOURCE = RecordSource(
    name="subject_elements",
    doc=__doc__,
    example="records: {derivation: subject_elements}",
    run=subject_elements,
    fields=("USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC"),
    reads=("DM.*", "DS.USUBJID", "DS.DSCAT", "DS.DSSTDTC"),
)

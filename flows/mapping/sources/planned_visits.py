"""SV completed from the plan (`records: {from: ..., group: ..., complete: {derivation: planned_visits}}`): the
visits held (the grouped records: one per subject and visit of the column of role VISIT, with the min_ and max_ of
its dates), the infusion visit (study.yaml `visits.schedule[].infusion`) of every exposed subject, dated by the date
of its first exposure (EX.EXSTDTC to EXENDTC: the visit holds more than the infusion, whose times are EX's), and
every planned visit due by the cut without a record, `occurred` N: due when its window (`window`, study days from
DM.RFSTDTC) closed on or before the cut (DCUTDTC: the cut, else the data-as-of date) and on or before the subject's
end of study (DS DSCAT DISPOSITION EVENT): no visit is missed after the final disposition (SDTMIG 3.4 SV
assumption 3). A subject without RFSTDTC has no dated plan, so no missed visit. Held and infusion visits are
`occurred` Y."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.sources.subject_elements import ended_subjects
from flows.mapping.vectors import isin_text
from flows.mapping.vocabulary import RecordSource
from flows.spec.model import DomainSpec, Specs

OCCURRED = "occurred"


def _fields(spec: DomainSpec, specs: Specs) -> tuple[list[str], str, str, str]:
    """The subject columns, the visit column and the first date's min_ and max_ fields of the grouped records."""
    contract = specs.raw[spec.raw_sources[0]]
    group = spec.records["group"]
    return contract.subject_columns, str(contract.role("VISIT")), f"min_{group['min'][0]}", f"max_{group['max'][0]}"


def _day_offset(day: np.ndarray) -> np.ndarray:
    """Days from RFSTDTC to a study day (day 1 is RFSTDTC; there is no day 0)."""
    return np.where(day > 0, day - 1, day)


def planned_visits(ctx: Context) -> pd.DataFrame:
    """The held visits, each subject's infusion visit and the planned visits due by the cut without a record."""
    spec = ctx.specs.sdtm[ctx.domain]
    subject_cols, visit, first, last = _fields(spec, ctx.specs)
    schedule = ctx.specs.study.data["visits"]["schedule"]
    dm = ctx.datasets["DM"]
    ids = pd.DataFrame({"USUBJID": dm["USUBJID"].astype("str").array, "RFSTDTC": dm["RFSTDTC"].astype("str").array})
    for col, var in zip(subject_cols, ("SITEID", "SUBJID")[-len(subject_cols) :], strict=True):
        ids[col] = dm[var].astype("str").array
    held = ctx.records.astype({c: "str" for c in (*subject_cols, visit, first, last)}).assign(**{OCCURRED: "Y"})
    held_ids = held[subject_cols].merge(ids[[*subject_cols, "USUBJID"]], on=subject_cols, how="left")["USUBJID"]
    pairs = pd.DataFrame({"USUBJID": held_ids.to_numpy(), visit: held[visit].to_numpy()})
    added = []
    infusion = next((v["visit"] for v in schedule if v.get("infusion")), None)
    ex = ctx.datasets.get("EX")
    if infusion is not None and ex and len(ex["USUBJID"]):
        exposure = pd.DataFrame({"USUBJID": ex["USUBJID"].array, "st": ex["EXSTDTC"].array, "en": ex["EXENDTC"].array})
        exposure = exposure.dropna(subset=["st"]).sort_values(["USUBJID", "st"], kind="stable")
        firsts = exposure.drop_duplicates("USUBJID").set_index("USUBJID")
        start = firsts["st"].astype("str").str.slice(0, 10)
        end = firsts["en"].fillna(firsts["st"]).astype("str").str.slice(0, 10)
        on_day = isin_text(held_ids, firsts.index) & (held[visit] == infusion).to_numpy(bool)
        if on_day.any():  # data of the infusion visit held besides the infusion: the visit spans both
            who = held_ids[on_day].to_numpy()
            held.loc[on_day, first] = np.minimum(held.loc[on_day, first].to_numpy(object), start[who].to_numpy(object))
            held.loc[on_day, last] = np.maximum(held.loc[on_day, last].to_numpy(object), end[who].to_numpy(object))
        new = ids[isin_text(ids["USUBJID"], firsts.index) & ~isin_text(ids["USUBJID"], held_ids[on_day])]
        fresh = new[subject_cols].assign(**{visit: infusion, OCCURRED: "Y"})
        fresh[first] = start[new["USUBJID"]].to_numpy()
        fresh[last] = end[new["USUBJID"]].to_numpy()
        added.append(fresh)
        pairs = pd.concat([pairs, pd.DataFrame({"USUBJID": new["USUBJID"].to_numpy(), visit: infusion})])
    added.append(_missed(ids, schedule, pairs, subject_cols, visit, ctx))
    out = pd.concat([held, *added], ignore_index=True)
    return out.astype({c: "str" for c in (*subject_cols, visit, first, last, OCCURRED)})


def _missed(
    ids: pd.DataFrame, schedule: list, held: pd.DataFrame, subject_cols: list[str], visit: str, ctx: Context
) -> pd.DataFrame:
    """Planned visits whose window closed on or before the cut and the subject's end of study, without a record."""
    reference = pd.to_datetime(ids["RFSTDTC"].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    cut = ctx.facts.get("cutoff") or ctx.facts.get("data_as_of")
    limit = pd.Series(pd.Timestamp(str(cut)[:10]) if cut else pd.NaT, index=ids.index, dtype="datetime64[ns]")
    ended = ended_subjects(ctx)
    if ended is not None:
        eos = pd.to_datetime(
            ids["USUBJID"].map(ended).astype("str").str.slice(0, 10), format="%Y-%m-%d", errors="coerce"
        )
        limit = limit.where(eos.isna() | (limit <= eos), eos)  # the earlier of the cut and the end of study
    plan = pd.DataFrame({visit: [v["visit"] for v in schedule], "_closes": [v["window"][1] for v in schedule]})
    dated = ids[reference.notna().to_numpy(bool)].assign(_ref=reference, _limit=limit)
    grid = dated.merge(plan, how="cross")
    closes = grid["_ref"] + pd.to_timedelta(_day_offset(grid["_closes"].to_numpy()), unit="D")
    grid = grid[(closes <= grid["_limit"]).fillna(False).to_numpy(bool)]
    grid = grid.merge(held.assign(_held=True), on=["USUBJID", visit], how="left")
    grid = grid[grid["_held"].isna().to_numpy(bool)]
    return grid[[*subject_cols, visit]].assign(**{OCCURRED: "N"})


def _check_records(spec: DomainSpec, specs: Specs, where: str) -> None:
    """The records completed: one raw source's rows grouped by its visit column (role VISIT) with min and max dates."""
    rec = spec.records or {}
    group = rec.get("group") or {}
    contract = specs.raw.get(spec.raw_sources[0]) if spec.raw_sources else None
    visit = contract.role("VISIT") if contract else None
    if not visit or visit not in group.get("by", []) or not group.get("min") or not group.get("max"):
        raise SpecError(f"{where}: planned_visits completes records grouped by the column of role VISIT, with min/max")
    for i, v in enumerate(specs.study.data.get("visits", {}).get("schedule", [])):
        window = v.get("window")
        if not (isinstance(window, list) and len(window) == 2 and all(isinstance(d, int) for d in window)):
            raise SpecError(f"{where}: study.yaml visits.schedule[{i}].window: two study days [first, last]")
    if sum(bool(v.get("infusion")) for v in specs.study.data["visits"]["schedule"]) > 1:
        raise SpecError(f"{where}: study.yaml visits.schedule: at most one visit with infusion: true")


RECORD_SOURCE = RecordSource(
    name="planned_visits",
    doc=__doc__,
    example=(
        "records:\n  from: assessments\n  group: {by: [site, subject, visit], min: [date], max: [date]}\n"
        "  complete: {derivation: planned_visits}"
    ),
    run=planned_visits,
    fields=(OCCURRED,),
    reads=(
        *("DM.USUBJID", "DM.SITEID", "DM.SUBJID", "DM.RFSTDTC"),
        *("EX.USUBJID", "EX.EXSTDTC", "EX.EXENDTC"),
        *("DS.USUBJID", "DS.DSCAT", "DS.DSSTDTC"),
    ),
    completes=_check_records,
)

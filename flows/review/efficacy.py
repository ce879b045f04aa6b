"""summary.html's efficacy section from the analysis datasets: change from baseline of each instrument's total by
dose level and analysis visit (ADQS: the analysed record of each visit, ANL01FL Y, with a change), so the review
and the datasets a statistician checks cannot disagree."""

from __future__ import annotations

import pandas as pd

from flows.spec.model import Study

TOTALS = "instruments.*.total.code"  # study.yaml: the total score's PARAMCD of each instrument


def analysed_totals(adqs: pd.DataFrame, study: Study) -> pd.Series:
    """The ADQS records change_by_visit reads: the instrument totals' analysed records (ANL01FL Y) with a change."""
    codes = list(study.lookup(TOTALS))
    keep = adqs["PARAMCD"].isin(codes) & (adqs["ANL01FL"] == "Y") & adqs["CHG"].notna()
    return keep.fillna(False).astype(bool)


def change_by_visit(adqs: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Per total score (PARAMCD of study.yaml's instrument totals), actual treatment and analysis visit: n, mean,
    median and min-max of CHG over the analysed records (ANL01FL Y) with a change, in dose-level and visit order."""
    codes = list(study.lookup(TOTALS))
    rows = adqs[analysed_totals(adqs, study).to_numpy(dtype=bool)]
    chg = rows["CHG"].astype("float64")
    keys = [rows["PARAMCD"], rows["PARAM"], rows["TRTA"], rows["AVISITN"], rows["AVISIT"]]
    grouped = chg.groupby(keys, dropna=False, sort=False)
    out = pd.DataFrame(
        {"n": grouped.count(), "mean": grouped.mean(), "median": grouped.median(), "min": grouped.min(),
         "max": grouped.max()}
    ).reset_index()  # fmt: skip
    out.columns = ["PARAMCD", "PARAM", "TRTA", "AVISITN", "AVISIT", "n", "mean", "median", "min", "max"]
    out["order"] = out["PARAMCD"].map({c: i for i, c in enumerate(codes)})
    out = out.sort_values(["order", "TRTA", "AVISITN"], kind="stable").reset_index(drop=True)
    out["mean"] = out["mean"].round(1)
    out["median"] = out["median"].round(1)
    text = lambda col: out[col].map("{:g}".format).astype("str")  # noqa: E731 (str: also with no row at all)
    out["range"] = text("min") + " to " + text("max")
    return out.drop(columns=["order", "min", "max"])

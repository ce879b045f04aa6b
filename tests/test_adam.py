"""The analysis datasets of specs/adam (ADSL, ADAE, ADQS, ADRS) in the sample's transfer, read back with pyreadstat
(XPT) and pyarrow (Parquet), against values hand-computed from the sample's SDTM for named subjects."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from flows.run.pipeline import run_export
from tests.conftest import RAW, STUDYID


def subject(n: str) -> str:
    return f"{STUDYID}-01-{n}"


def folder(transfer, name: str):
    """Where a dataset is: ADaM datasets (AD..) in the transfer's adam/ folder, SDTM in the transfer's own."""
    return transfer / "adam" if name.startswith("ad") else transfer


def parquet(transfer, name: str) -> pd.DataFrame:
    return pq.read_table(folder(transfer, name) / "parquet" / f"{name}.parquet").to_pandas()


def xpt(transfer, name: str) -> tuple[pd.DataFrame, object]:
    return pyreadstat.read_xport(str(folder(transfer, name) / "xpt" / f"{name}.xpt"))


def test_adsl_one_record_per_dm_subject_in_usubjid_order(sample_export):
    _, transfer = sample_export
    dm, adsl = parquet(transfer, "dm"), parquet(transfer, "adsl")
    assert list(adsl["USUBJID"]) == sorted(dm["USUBJID"]) == list(dm["USUBJID"])  # 34 screened subjects
    assert len(adsl) == 34 and adsl["USUBJID"].is_unique


def test_adsl_named_subjects(sample_export):
    _, transfer = sample_export
    adsl = parquet(transfer, "adsl").set_index("USUBJID")
    first = adsl.loc[subject("0001")]
    # 0001: DL1, infused 2025-06-17 11:42 to 12:11; baseline (QSLOBXFL) MG-ADL 8, QMG 11, MGFA IIIb; completed
    assert first["TRT01P"] == first["TRT01A"] == "Dose Level 1: S103 CAR-T 1.0 x 10^6 cells/kg"
    assert first["TRT01PN"] == first["TRT01AN"] == 1  # the dose level's dose, 1.0 x 10^6 cells/kg
    assert first["TRTSDT"] == first["TRTEDT"] == dt.date(2025, 6, 17)  # the infusion's end: its own day
    assert first["TRTSDTM"] == pd.Timestamp("2025-06-17 11:42") and first["TRTEDTM"] == pd.Timestamp("2025-06-17 12:11")
    assert (first["SAFFL"], first["ENRLFL"], first["DLTEVLFL"], first["EOSSTT"]) == ("Y", "Y", "Y", "COMPLETED")
    assert (first["BMGADL"], first["BQMG"], first["BMGFA"]) == (8, 11, "IIIb")
    assert first["WEIGHTBL"] == 65.9  # raw/enrollment.csv weight_kg of 0001 (until VS holds the weight)
    # 0010: assigned to DL2 and withdrew before the infusion: enrolled, not in the safety population
    never = adsl.loc[subject("0010")]
    assert (never["SAFFL"], never["ENRLFL"], never["DLTEVLFL"]) == ("N", "Y", "N")
    assert never["TRT01P"].startswith("Dose Level 2") and pd.isna(never["TRT01A"]) and pd.isna(never["TRTSDT"])
    assert (never["EOSSTT"], never["DCSREAS"]) == ("DISCONTINUED", "WITHDRAWAL BY SUBJECT")
    # 0003: screen failure; 0012: died 2026-01-09 (DS DEATH)
    assert (adsl.loc[subject("0003"), "ENRLFL"], adsl.loc[subject("0003"), "DCSREAS"]) == ("N", "SCREEN FAILURE")
    died = adsl.loc[subject("0012")]
    assert (died["DTHFL"], died["DTHDT"], died["EOSSTT"], died["DCSREAS"]) == (
        "Y", dt.date(2026, 1, 9), "DISCONTINUED", "DEATH"
    )  # fmt: skip


def test_adsl_xpt_holds_sas_dates_with_their_formats(sample_export):
    _, transfer = sample_export
    _, meta = xpt(transfer, "adsl")
    # pyreadstat gives the format as written ("DATE9."; pyreadstat 1.3.6 without its period)
    assert meta.original_variable_types["TRTSDT"].rstrip(".") == "DATE9"
    assert meta.original_variable_types["TRTSDTM"].rstrip(".") == "DATETIME20"
    assert meta.column_names_to_labels["DLTEVLFL"] == "DLT-Evaluable Population Flag"
    raw, _ = pyreadstat.read_xport(str(transfer / "adam" / "xpt" / "adsl.xpt"), disable_datetime_conversion=True)
    row = raw[raw["USUBJID"] == subject("0001")].iloc[0]
    assert row["TRTSDT"] == 23909  # days from 1960-01-01 to 2025-06-17
    assert row["TRTSDTM"] == 23909 * 86400 + 11 * 3600 + 42 * 60


def test_dlt_evaluable_at_a_cut(tmp_path, specs):
    """At a cut of 2026-01-20 the DLT window (days 1-28) of the last DL4 subjects is open: 0027 (infused 2025-12-26,
    last contact 2026-01-17, window to 2026-01-22) is not yet evaluable; 0031 (infused 2026-01-04) is, by its DLT
    (anaemia grade 3 on day 7, related, unresolved at the cut); 0034 is infused after the cut: not treated."""
    result = run_export(RAW, tmp_path / "out", specs, cutoff="2026-01-20")
    assert result.exit_code == 0, result.message
    adsl = parquet(result.transfer, "adsl").set_index("USUBJID")
    assert adsl.loc[subject("0027"), "DLTEVLFL"] == "N"
    assert adsl.loc[subject("0031"), "DLTEVLFL"] == "Y"
    assert (adsl.loc[subject("0034"), "SAFFL"], adsl.loc[subject("0034"), "DLTEVLFL"]) == ("N", "N")
    assert adsl["DCUTDT"].eq(dt.date(2026, 1, 20)).all()


def test_adqs_baseline_and_change_at_month_3(sample_export):
    """0001's MG-ADL total: 7 at screening (2025-05-21), 8 at baseline (2025-06-12, day -5: the last before the
    infusion of 2025-06-17), 6 at month 3 (2025-09-08, day 84): CHG 6 - 8 = -2, PCHG -25."""
    _, transfer = sample_export
    adqs, _ = xpt(transfer, "adqs")
    total = adqs[(adqs["USUBJID"] == subject("0001")) & (adqs["PARAMCD"] == "MGADLTOT")].set_index("AVISIT")
    assert total.loc["BASELINE", "ABLFL"] == "Y" and total.loc["SCREENING", "ABLFL"] == ""
    assert (total["ABLFL"] == "Y").sum() == 1 and (total["BASE"] == 8).all()
    month3 = total.loc["MONTH 3"]
    assert (month3["AVAL"], month3["ADY"], month3["AVISITN"], month3["CHG"], month3["PCHG"]) == (6, 84, 6, -2, -25)
    assert month3["ANL01FL"] == "Y" and month3["ADT"] == dt.date(2025, 9, 8)
    assert pd.isna(total.loc["BASELINE", "CHG"])  # no change on the baseline record
    # traceable to its QS record
    qs = parquet(transfer, "qs")
    source = qs[(qs["USUBJID"] == subject("0001")) & (qs["QSSEQ"] == month3["SRCSEQ"])].iloc[0]
    assert (month3["SRCDOM"], month3["SRCVAR"], source["QSTESTCD"], source["QSDTC"]) == (
        "QS", "QSSTRESN", "MGADLTOT", "2025-09-08"
    )  # fmt: skip


def test_adqs_one_record_per_qs_record_and_one_analysed_per_visit(sample_export):
    _, transfer = sample_export
    qs, adqs = parquet(transfer, "qs"), parquet(transfer, "adqs")
    assert len(adqs) == len(qs)
    analysed = adqs[adqs["ANL01FL"] == "Y"]
    assert not analysed.duplicated(["USUBJID", "PARAMCD", "AVISITN"]).any()
    assert set(adqs["PARAMCD"]) == set(qs["QSTESTCD"])  # a parameter per item and per total


def test_adae_flags(sample_export):
    _, transfer = sample_export
    adae = parquet(transfer, "adae")
    ae = parquet(transfer, "ae")
    assert len(adae) == len(ae)
    # 0009: an infusion reaction at 10:23 of an infusion started at 10:16 (2025-08-24): on the infusion day, emergent
    reaction = adae[(adae["USUBJID"] == subject("0009")) & (adae["AEDECOD"] == "Infusion related reaction")].iloc[0]
    assert (reaction["TRTEMFL"], reaction["ASTDT"], reaction["ASTDY"]) == ("Y", dt.date(2025, 8, 24), 1)
    crs = adae[adae["AEDECOD"] == "Cytokine release syndrome"]
    assert crs["CRSFL"].eq("Y").all() and adae.loc[~adae.index.isin(crs.index), "CRSFL"].isna().all()
    assert adae.loc[adae["AEDECOD"].str.startswith("Immune effector"), "ICANSFL"].eq("Y").all()
    # the DLT flag agrees with SUPPAE's
    supp = parquet(transfer, "suppae")
    supp = supp[supp["QNAM"] == "DLTFL"].assign(AESEQ=lambda f: f["IDVARVAL"].astype(int))
    merged = adae.merge(supp, on=["USUBJID", "AESEQ"])
    assert len(merged) == len(adae) and (merged["DLTFL"] == merged["QVAL"]).all()
    # one first occurrence per subject, and per subject and term, among the emergent events
    emergent = adae[adae["TRTEMFL"] == "Y"]
    assert (emergent.groupby("USUBJID")["AOCCFL"].apply(lambda f: (f == "Y").sum()) == 1).all()
    assert (emergent.groupby(["USUBJID", "AEDECOD"])["AOCCPFL"].apply(lambda f: (f == "Y").sum()) == 1).all()
    assert (adae["ATOXGRN"] == adae["ATOXGR"].astype(int)).all()
    worst = emergent[emergent["AOCCIFL"] == "Y"].set_index("USUBJID")["ATOXGRN"]
    assert worst.index.is_unique and (worst == emergent.groupby("USUBJID")["ATOXGRN"].max().loc[worst.index]).all()
    first = adae[adae["USUBJID"] == subject("0001")].set_index("AESEQ")  # grades 2, 3, 1: the grade 3 (AESEQ 2)
    assert first["AOCCIFL"].fillna("").tolist() == ["", "Y", ""] and first["ATOXGRN"].tolist() == [2, 3, 1]


def test_adrs_mgfa_class_ordinal_and_baseline(sample_export):
    _, transfer = sample_export
    adrs = parquet(transfer, "adrs")
    first = adrs[adrs["USUBJID"] == subject("0001")].set_index("AVISIT")
    # 0001: IIIa at screening (4th of I IIa IIb IIIa IIIb IVa IVb V), IIIb at baseline (5th): the baseline
    assert (first.loc["SCREENING", "AVALC"], first.loc["SCREENING", "AVAL"]) == ("IIIa", 4)
    assert (first.loc["BASELINE", "ABLFL"], first.loc["BASELINE", "AVAL"]) == ("Y", 5)
    assert (first["BASEC"] == "IIIb").all() and (first["BASE"] == 5).all() and set(first["PARAMCD"]) == {"MGFACLS"}


@pytest.mark.parametrize("name", ["adsl", "adae", "adqs", "adrs"])
def test_every_format_and_the_manifest_hold_the_analysis_datasets(sample_export, specs, name):
    _, transfer = sample_export
    manifest = json.loads((transfer / "manifest.json").read_text(encoding="utf-8"))
    spec = specs.adam[name.upper()]
    for kind, ext in (("parquet", "parquet"), ("csv", "csv"), ("xpt", "xpt"), ("json", "json")):
        assert f"adam/{kind}/{name}.{ext}" in manifest["outputs"]
        assert not (transfer / kind / f"{name}.{ext}").exists()  # not among the SDTM datasets
    _, meta = xpt(transfer, name)
    assert meta.column_names == spec.names and meta.table_name == name.upper()
    assert [meta.column_names_to_labels[n] for n in spec.names] == [v.label for v in spec.variables]
    assert f"adam/xpt/{name}.xpt" in (transfer / "SHA256SUMS").read_text(encoding="utf-8")


def test_mean_change_from_baseline_by_dose_level_as_measured_in_issue_22(sample_export):
    """The numbers issue 22 measured by hand from the sample's SDTM: MG-ADL total, mean change from baseline at the
    analysed records, DL1 -5.7 at month 3 (n=6), DL3 -8.2 at month 12; ADSL's baseline is ADQS's."""
    _, transfer = sample_export
    adqs, adsl = parquet(transfer, "adqs"), parquet(transfer, "adsl")
    total = adqs[(adqs["PARAMCD"] == "MGADLTOT") & (adqs["ANL01FL"] == "Y") & adqs["CHG"].notna()]
    by = total.assign(level=total["TRTA"].str.slice(0, 12)).groupby(["level", "AVISIT"])["CHG"]
    assert (by.count()[("Dose Level 1", "MONTH 3")], round(by.mean()[("Dose Level 1", "MONTH 3")], 1)) == (6, -5.7)
    assert round(by.mean()[("Dose Level 3", "MONTH 12")], 1) == -8.2
    base = adqs[(adqs["PARAMCD"] == "MGADLTOT") & (adqs["ABLFL"] == "Y")].set_index("USUBJID")["AVAL"]
    treated = adsl[adsl["SAFFL"] == "Y"].set_index("USUBJID")["BMGADL"]
    assert len(treated) == 24 and (treated == base.reindex(treated.index)).all()


@pytest.mark.parametrize(
    ("adam", "sdtm", "seq", "flag"), [("adqs", "qs", "QSSEQ", "QSLOBXFL"), ("adrs", "rs", "RSSEQ", "RSLOBXFL")]
)
def test_ablfl_agrees_with_the_sdtm_last_observation_before_exposure(sample_export, adam, sdtm, seq, flag):
    """ABLFL (derived from ADT and ADSL.TRTSDT) and --LOBXFL (from --DTC and DM.RFXSTDTC) name the same records."""
    _, transfer = sample_export
    analysed, source = parquet(transfer, adam), parquet(transfer, sdtm)
    joined = analysed.merge(source, left_on=["USUBJID", "SRCSEQ"], right_on=["USUBJID", seq], validate="one_to_one")
    assert len(joined) == len(source) and (joined["ABLFL"].fillna("") == joined[flag].fillna("")).all()

"""Tests of flows/tools/synth.py: composition, consistency with the study spec, determinism and the CSV format."""

from __future__ import annotations

import calendar
import csv
import io
import itertools
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.tools import synth
from flows.tools.synth import FILES, synthesize, write_raw

SPECS = Path(__file__).resolve().parents[1] / "specs"
STUDY = yaml.safe_load((SPECS / "study.yaml").read_text(encoding="utf-8"))
CT = yaml.safe_load((SPECS / "ct" / "sdtm-ct.yaml").read_text(encoding="utf-8"))["codelists"]
AS_OF = "2026-10-31"
SEED = 20250321
ARMS = [a["armcd"] for a in STUDY["arms"]]
DOSE = {a["armcd"]: float(a["dose"]) for a in STUDY["arms"]}
CRITERIA = {c["code"]: c for c in STUDY["criteria"]["list"]}


def rule_of(check: str, **match: str) -> tuple[str, dict]:
    """(code, rule) of the criterion whose rule has this check (and matching keys)."""
    for code, c in CRITERIA.items():
        rule = c.get("rule") or {}
        if rule.get("check") == check and all(rule.get(k) == v for k, v in match.items()):
            return code, rule
    raise LookupError(check)


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return synthesize(STUDY, 34, SEED, AS_OF)


def failed_criteria(elig: pd.DataFrame) -> dict[str, set[str]]:
    """Subject -> criteria not met (inclusion N, exclusion Y)."""
    not_met = elig["criterion"].map(lambda c: STUDY["criteria"]["not_met_when"][CRITERIA[c]["category"]])
    bad = elig[elig["met"] == not_met]
    return bad.groupby("subject")["criterion"].agg(set).to_dict()


def age_bounds(birth: str, consent: str) -> tuple[int, int]:
    """Smallest and largest completed age at consent over every completion of a partial birth date."""
    cy, cm, cd = map(int, consent.split("-"))
    parts = list(map(int, birth.split("-")))
    months = [parts[1]] if len(parts) > 1 else list(range(1, 13))
    ages = []
    for m in months:
        days = [parts[2]] if len(parts) > 2 else [1, calendar.monthrange(parts[0], m)[1]]
        ages += [cy - parts[0] - ((cm, cd) < (m, d)) for d in days]
    return min(ages), max(ages)


def totals(frames: dict[str, pd.DataFrame], visit: str) -> pd.DataFrame:
    a = frames["assessments"]
    a = a[(a["visit"] == visit) & (a["item"] == "TOTAL")]
    return a.pivot(index="subject", columns="instrument", values="result").astype(int)


def ocular_share(frames: dict[str, pd.DataFrame], visit: str, instrument: str) -> pd.Series:
    ocular = {i["code"] for i in STUDY["instruments"][instrument]["items"] if i.get("ocular")}
    a = frames["assessments"]
    a = a[(a["visit"] == visit) & (a["instrument"] == instrument) & (a["item"] != "TOTAL")]
    score = a["result"].astype(int)
    by = a["subject"]
    return score[a["item"].isin(ocular)].groupby(by).sum().reindex(by.unique(), fill_value=0) / score.groupby(by).sum()


@pytest.mark.parametrize("name", FILES)
def test_columns_are_the_contracts(sample, name):
    contract = yaml.safe_load((SPECS / "raw" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert list(sample[name].columns) == [c["name"] for c in contract["columns"]]
    assert all(isinstance(v, str) for v in sample[name].iloc[0])


def test_composition_of_34(sample):
    en, dosing = sample["enrollment"], sample["dosing"]
    outcomes = STUDY["screening_outcomes"]
    assert len(en) == 34
    assert (en["screening_outcome"] == outcomes["failed"]).sum() == 9
    assert len(dosing) == dosing["subject"].nunique() == STUDY["planned_enrollment"] == 24
    enrolled = en[en["screening_outcome"] == outcomes["enrolled"]]
    undosed = enrolled[~enrolled["subject"].isin(dosing["subject"])]
    assert len(undosed) == 1
    assert undosed["dose_level"].isin(ARMS).all() and (undosed["eos_reason"] == "WITHDRAWAL BY SUBJECT").all()
    assert list(en["subject"]) == [f"{i:04d}" for i in range(1, 35)]
    assert en["consent_date"].is_monotonic_increasing  # numbered in consent order
    dead = en[en["death_date"] != ""]
    assert len(dead) == 1 and dead["subject"].isin(dosing["subject"]).all()
    assert (dead["eos_reason"] == "DEATH").all() and (dead["eos_date"] == dead["death_date"]).all()


def test_escalation_in_infusion_order(sample):
    dosing = sample["dosing"].sort_values("start")
    assert list(dosing["planned_level"]) == [a for a in ARMS for _ in range(6)]
    levels = dosing.merge(sample["enrollment"], on="subject")
    assert (levels["planned_level"] == levels["dose_level"]).all()
    first, last = dosing.groupby("planned_level")["start"].min(), dosing.groupby("planned_level")["start"].max()
    assert all(last[a][:10] < first[b][:10] for a, b in itertools.pairwise(ARMS))  # sequential cohorts


def test_escalation_stays_sequential_when_compressed():
    frames = synthesize(STUDY, 3000, 7, "2026-03-31")
    dosing = frames["dosing"]
    days = dosing.groupby("planned_level")["start"].agg(["min", "max"]).loc[ARMS]
    assert all(days["max"].iloc[k][:10] < days["min"].iloc[k + 1][:10] for k in range(len(ARMS) - 1))
    sizes = dosing["planned_level"].value_counts()
    assert sizes.max() - sizes.min() <= 1  # equal cohorts, as far as the count allows
    assert_no_date_after(frames, "2026-03-31")


def assert_no_date_after(frames: dict[str, pd.DataFrame], as_of: str) -> None:
    dated = {
        "enrollment": ["birth_date", "consent_date", "eos_date", "death_date"],
        "dosing": ["start", "end"],
        "assessments": ["date"],
        "eligibility": ["date"],
        "adverse_events": ["start_date", "end_date"],
        "vital_signs": ["date"],
    }
    for name, cols in dated.items():
        for col in cols:
            values = frames[name][col]
            assert (values.str[:10] <= as_of).all(), (name, col)
            assert (values[values != ""] >= STUDY["start_date"]).all() or col == "birth_date", (name, col)


@pytest.mark.parametrize("as_of", [AS_OF, "2025-10-15"])  # a data cut in the middle of escalation
def test_no_date_after_the_data_cut(as_of):
    frames = synthesize(STUDY, 34, SEED, as_of)
    assert_no_date_after(frames, as_of)
    en = frames["enrollment"]
    ongoing = en[(en["screening_outcome"] == STUDY["screening_outcomes"]["enrolled"]) & (en["eos_date"] == "")]
    assert ongoing["eos_reason"].eq("").all()
    last = STUDY["visits"]["schedule"][-1]["visit"]
    a = frames["assessments"]
    done = en[en["eos_reason"] == "COMPLETED"]
    seen = a[a["visit"] == last].groupby("subject")["date"].first()
    assert (done.set_index("subject")["eos_date"] == seen.reindex(done["subject"])).all()


def test_enrolled_age_in_range_whatever_the_missing_part(sample):
    en = sample["enrollment"]
    age = STUDY["population"]["age"]
    enrolled = en[en["screening_outcome"] == STUDY["screening_outcomes"]["enrolled"]]
    for birth, consent in zip(enrolled["birth_date"], enrolled["consent_date"], strict=True):
        lo, hi = age_bounds(birth, consent)
        assert age["min"] <= lo and hi <= age["max"], (birth, consent)
    lengths = en["birth_date"].str.len().value_counts()
    assert lengths[10] > lengths.drop(10).sum() and 4 in lengths and 7 in lengths  # most full, some partial


@pytest.mark.parametrize(
    ("birth", "consent", "bounds"),
    [
        ("1980-06-15", "2025-06-15", (45, 45)),  # birthday on the consent date
        ("1980-06", "2025-06-15", (44, 45)),  # day missing
        ("1980", "2025-06-15", (44, 45)),  # month and day missing
    ],
)
def test_age_bounds_helper(birth, consent, bounds):
    assert age_bounds(birth, consent) == bounds


def test_screen_failures_agree_with_their_criteria(sample):
    en = sample["enrollment"].set_index("subject")
    fails = failed_criteria(sample["eligibility"])
    failed = en.index[en["screening_outcome"] == STUDY["screening_outcomes"]["failed"]]
    assert set(fails) == set(failed)
    assert all(1 <= len(fails[s]) <= 2 for s in failed)
    assert len(set().union(*fails.values())) >= 6  # varied
    age_code, _ = rule_of("age_range")
    score_code, score = rule_of("score_threshold")
    class_code, klass = rule_of("class_in", visit="SCREENING")
    assert {age_code, score_code, class_code} <= set().union(*fails.values())
    age = STUDY["population"]["age"]
    screening = totals(sample, "SCREENING")
    classes = sample["assessments"].query("item == 'CLASS' and visit == 'SCREENING'").set_index("subject")["result"]
    for s in failed:
        row = en.loc[s]
        assert (
            row["dose_level"] == "" and row["eos_reason"] == "SCREEN FAILURE" and row["eos_date"] > row["consent_date"]
        )
        lo, hi = age_bounds(row["birth_date"], row["consent_date"])
        assert (hi < age["min"] or lo > age["max"]) == (age_code in fails[s])
        below = all(screening.loc[s, c["instrument"]] < c["min"] for c in score["any_of"])
        assert below == (score_code in fails[s])
        assert (classes[s] not in klass["classes"]) == (class_code in fails[s])
    visits = sample["assessments"].groupby("subject")["visit"].unique()
    assert all(list(visits[s]) == ["SCREENING"] for s in failed)


def test_enrolled_meet_the_data_criteria(sample):
    en = sample["enrollment"]
    enrolled = en.loc[en["screening_outcome"] == STUDY["screening_outcomes"]["enrolled"], "subject"]
    _, score = rule_of("score_threshold")
    _, incl = rule_of("class_in", visit="SCREENING")
    _, excl = rule_of("class_in", visit="BASELINE")
    a = sample["assessments"]
    for visit in score["visits"]:
        tot = totals(sample, visit).loc[enrolled]
        ok = pd.Series(False, index=tot.index)
        for cond in score["any_of"]:
            share = ocular_share(sample, visit, cond["instrument"]).loc[enrolled]
            ok |= (tot[cond["instrument"]] >= cond["min"]) & (share < score["ocular_share_below"])
        assert ok.all(), visit
    classes = a[(a["item"] == "CLASS") & a["subject"].isin(enrolled)]
    assert classes.loc[classes["visit"] == incl["visit"], "result"].isin(incl["classes"]).all()
    assert not classes.loc[classes["visit"] == excl["visit"], "result"].isin(excl["classes"]).any()
    elig = sample["eligibility"][sample["eligibility"]["subject"].isin(enrolled)]
    expected = elig["criterion"].map(lambda c: "Y" if CRITERIA[c]["category"] == "INCLUSION" else "N")
    assert (elig["met"] == expected).all()


def test_eligibility_one_row_per_subject_and_criterion(sample):
    elig = sample["eligibility"]
    assert len(elig) == 34 * len(CRITERIA)
    assert (elig.groupby("subject")["criterion"].apply(list) == [list(CRITERIA)] * 34).all()
    screening = sample["assessments"].query("visit == 'SCREENING'").groupby("subject")["date"].first()
    assert (elig["date"] == elig["subject"].map(screening)).all()


def test_scores_are_consistent_and_improve(sample):
    a = sample["assessments"]
    assert not (a["visit"] == next(v["visit"] for v in STUDY["visits"]["schedule"] if v.get("infusion"))).any()
    scored = a[a["item"] != "CLASS"].assign(score=lambda d: d["result"].astype(int))
    items = scored[scored["item"] != "TOTAL"]
    sums = items.groupby(["subject", "visit", "instrument"])["score"].sum()
    tot = scored[scored["item"] == "TOTAL"].set_index(["subject", "visit", "instrument"])["score"]
    assert sums.sort_index().equals(tot.sort_index())
    for name, inst in STUDY["instruments"].items():
        for item in inst.get("items", []):
            got = items.loc[items["item"] == item["code"], "score"]
            assert got.between(item["min"], item["max"]).all()
            assert (items.loc[items["item"] == item["code"], "instrument"] == name).all()
    baseline = tot.xs("BASELINE", level="visit")
    later = tot.xs("MONTH 3", level="visit")
    assert (later <= baseline.reindex(later.index)).all() and later.mean() < baseline.reindex(later.index).mean()


def test_dosing_matches_level_and_weight(sample):
    d = sample["dosing"].merge(sample["enrollment"][["subject", "weight_kg"]], on="subject", suffixes=("", "_en"))
    cells, weight, total = (d[c].astype(float) for c in ("cells_per_kg", "weight_kg", "total_cells"))
    dose = d["planned_level"].map(DOSE)
    assert ((cells / dose - 1).abs() <= STUDY["treatment"]["dose_tolerance"]).all()
    assert ((total / (cells * weight) - 1).abs() <= STUDY["treatment"]["weight_tolerance"]).all()
    assert (d["weight_kg"] == d["weight_kg_en"]).all() and weight.between(45, 95).all()
    assert (d["infusion"] == "1").all() and d["lot"].str.fullmatch(r"[A-Z0-9]+-\d{2}-\d{4,}").all()
    minutes = (pd.to_datetime(d["end"]) - pd.to_datetime(d["start"])).dt.total_seconds() / 60
    assert minutes.between(20, 45).all() and d["start"].str[11:13].isin(["09", "10", "11"]).all()


def test_values_are_controlled_terms(sample):
    en = sample["enrollment"]
    terms = {name: {t["value"] for t in CT[name]["terms"]} for name in ("SEX", "RACE", "ETHNIC", "NCOMPLT")}
    assert en["sex"].isin(terms["SEX"]).all() and en["race"].isin(terms["RACE"]).all()
    assert en["ethnicity"].isin(terms["ETHNIC"]).all()
    assert en.loc[en["eos_reason"] != "", "eos_reason"].isin(terms["NCOMPLT"]).all()
    assert (en["site"] == STUDY["sites"][0]["id"]).all() and en["initials"].str.fullmatch("[A-Z]{2}").all()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    paths = {}
    for tag, seed in (("a", SEED), ("b", SEED), ("c", SEED + 1)):
        write_raw(synthesize(STUDY, 40, seed, AS_OF), tmp_path / tag)
        paths[tag] = {name: (tmp_path / tag / f"{name}.csv").read_bytes() for name in FILES}
    assert paths["a"] == paths["b"]
    assert all(paths["a"][name] != paths["c"][name] for name in FILES)


def test_written_csv_format(tmp_path, sample):
    counts = write_raw(sample, tmp_path)
    assert counts == {name: len(df) for name, df in sample.items()}
    for name in FILES:
        raw = (tmp_path / f"{name}.csv").read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        assert (b'"' in raw) == sample[name].apply(lambda c: c.str.contains(",")).any().any()  # quoted if needed
        back = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(back.astype(object), sample[name].astype(object))


def test_write_quotes_only_when_needed(tmp_path):
    frame = pd.DataFrame({"a": ["x, y", 'say "hi"', ""], "b": ["1", "2", "line\nbreak"]}, dtype="string")
    write_raw({"odd": frame}, tmp_path)
    raw = (tmp_path / "odd.csv").read_text(encoding="utf-8")
    assert raw.startswith("a,b\n") and '"x, y",1\n' in raw
    assert list(csv.reader(io.StringIO(raw, newline=""))) == [
        ["a", "b"],
        ["x, y", "1"],
        ['say "hi"', "2"],
        ["", "line\nbreak"],
    ]


@pytest.mark.parametrize(("subjects", "dosed", "undosed"), [(1, 1, 0), (2, 1, 0), (3, 2, 1), (68, 48, 2)])
def test_composition_scales(subjects, dosed, undosed):
    frames = synthesize(STUDY, subjects, 1, AS_OF)
    en = frames["enrollment"]
    enrolled = (en["screening_outcome"] == STUDY["screening_outcomes"]["enrolled"]).sum()
    assert len(frames["dosing"]) == dosed and enrolled == dosed + undosed
    assert en["subject"].str.len().eq(4).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="subjects"):
        synthesize(STUDY, 0, 1)
    with pytest.raises(ValueError, match="data cut"):
        synthesize(STUDY, 10, 1, "2025-05-10")  # ten days after the study start: no room for an infusion


# ----------------------------------------------------------------------------------------------------------------
# Adverse events

SAFETY = STUDY["safety"]
SPECIAL = SAFETY["special_interest"]  # {"CRS": PT, "ICANS": PT}
CRITERIA_COLUMNS = ["results_in_death", "life_threatening", "hospitalization", "disability", "congenital_anomaly",
                    "medically_important"]  # fmt: skip
ONGOING = {"NOT RECOVERED/NOT RESOLVED", "RECOVERING/RESOLVING"}
ROOT = SPECS.parent


def with_infusion(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """AE rows with the subject's level, infusion date, end of study, death date and study day of onset."""
    ae = frames["adverse_events"].merge(frames["dosing"][["subject", "planned_level", "start"]], on="subject")
    ae = ae.merge(frames["enrollment"][["subject", "eos_date", "death_date", "consent_date"]], on="subject")
    day = (pd.to_datetime(ae["start_date"]) - pd.to_datetime(ae["start"].str[:10])).dt.days + 1
    return ae.assign(infusion=ae["start"].str[:10], day=day)


def dlt_subjects(frames: dict[str, pd.DataFrame]) -> dict[str, set[str]]:
    """Level -> subjects with a DLT, by the study's definition, computed here from the raw rows."""
    ae, rule = with_infusion(frames), SAFETY["dlt"]
    grade = ae["astct_grade"].where(ae["astct_grade"] != "", ae["ctcae_grade"]).astype(int)
    lasted = (pd.to_datetime(ae["end_date"].replace("", None)) - pd.to_datetime(ae["start_date"])).dt.days
    dlt = ae["day"].between(rule["window"]["from_day"], rule["window"]["to_day"]) & (grade >= rule["min_grade"])
    dlt &= ae["causality"].isin(SAFETY["relationship"]["related"])
    for exception in rule["exceptions"]:
        hit = ae["meddra_pt"].isin(exception["terms"])
        if "grades" in exception:
            hit &= grade.isin(exception["grades"])
        if "resolved_within_days" in exception:
            hit &= lasted.notna() & (lasted <= exception["resolved_within_days"])
        dlt &= ~hit
    return ae[dlt].groupby("planned_level")["subject"].agg(set).to_dict()


def test_sample_is_what_the_generator_writes(tmp_path):
    """raw/ is `make sample`: regenerating it gives the committed bytes of every file."""
    write_raw(synthesize(STUDY, 34, SEED, AS_OF), tmp_path)
    for name in FILES:
        assert (tmp_path / f"{name}.csv").read_bytes() == (ROOT / "raw" / f"{name}.csv").read_bytes(), name


def test_adverse_events_do_not_move_the_other_files(monkeypatch):
    """AEs draw from their own random stream: other events leave the other files' values unchanged (but the vital
    signs, whose fevers follow the CRS events)."""
    before = synthesize(STUDY, 60, 5, AS_OF)
    monkeypatch.setattr(synth, "EVENTS", synth.EVENTS[::-1][:4])
    after = synthesize(STUDY, 60, 5, AS_OF)
    assert not before["adverse_events"].equals(after["adverse_events"])
    for name in set(FILES) - {"adverse_events", "vital_signs"}:
        pd.testing.assert_frame_equal(before[name], after[name])


def test_adverse_events_follow_the_subjects_timeline(sample):
    ae = with_infusion(sample)
    assert set(sample["adverse_events"]["subject"]) <= set(sample["dosing"]["subject"])  # only after an infusion
    assert (ae["start_date"] >= ae["infusion"]).all() and (ae["start_date"] >= ae["consent_date"]).all()
    ended = ae["end_date"] != ""
    assert (ae.loc[ended, "end_date"] >= ae.loc[ended, "start_date"]).all()
    last = ae["eos_date"].where(ae["eos_date"] != "", AS_OF)
    assert (ae["start_date"] <= last).all() and (ae.loc[ended, "end_date"] <= last[ended]).all()
    assert ae.loc[~ended, "outcome"].isin(ONGOING).all() and not ae.loc[ended, "outcome"].isin(ONGOING).any()
    numbers = ae.sort_values(["subject", "start_date"], kind="stable").groupby("subject")["ae_number"]
    assert all(list(n) == [str(i) for i in range(1, len(n) + 1)] for _, n in numbers)  # 1..k in onset order


def test_fatal_event_ends_on_the_death_date(sample):
    ae = with_infusion(sample)
    fatal = ae[ae["ctcae_grade"] == "5"]
    dead = sample["enrollment"].query("death_date != ''")
    assert list(fatal["subject"]) == list(dead["subject"])  # one fatal event, for the subject who died
    assert (fatal["end_date"] == fatal["death_date"]).all() and (fatal["outcome"] == "FATAL").all()
    assert (fatal[["serious", "results_in_death"]] == "Y").all().all()
    assert (ae.loc[ae["outcome"] == "FATAL", "ctcae_grade"] == "5").all()
    after = ae[(ae["death_date"] != "") & (ae["start_date"] > ae["death_date"])]
    assert after.empty


def test_adverse_event_coding_and_terms(sample):
    ae = sample["adverse_events"]
    assert ae.groupby("meddra_pt")["meddra_soc"].nunique().eq(1).all()  # one SOC per PT
    special = ae["meddra_pt"].isin(SPECIAL.values())
    assert (ae.loc[special, "astct_grade"] == ae.loc[special, "ctcae_grade"]).all()
    assert (ae.loc[~special, "astct_grade"] == "").all()
    assert ae["ctcae_grade"].astype(int).between(1, 5).all()
    serious = ae["serious"] == "Y"
    assert (ae.loc[~serious, CRITERIA_COLUMNS] == "").all().all()
    assert ae.loc[serious, CRITERIA_COLUMNS].isin(["N", "Y"]).all().all()
    assert (ae.loc[serious, CRITERIA_COLUMNS] == "Y").any(axis=1).all()  # a serious event says why
    assert ae["causality"].isin(SAFETY["relationship"]["terms"]).all()
    for column, codelist in (("action_taken", "ACN"), ("outcome", "OUT"), ("serious", "NY")):
        assert ae[column].isin({t["value"] for t in CT[codelist]["terms"]}).all(), column


def test_crs_mostly_low_grade_early_and_dose_dependent():
    frames = synthesize(STUDY, 20_000, 3, AS_OF)
    ae = with_infusion(frames)
    crs = ae[ae["meddra_pt"] == SPECIAL["CRS"]]
    assert crs["day"].between(1, 14).all() and crs["day"].le(7).mean() > 0.6  # most within the first week
    assert crs["astct_grade"].isin(["1", "2"]).mean() > 0.8
    treated = frames["dosing"]["planned_level"].value_counts()
    share = crs.groupby("planned_level")["subject"].nunique() / treated
    severe = ae[ae["ctcae_grade"].astype(int) >= 3].groupby("planned_level")["subject"].nunique() / treated
    icans = ae[ae["meddra_pt"] == SPECIAL["ICANS"]]
    assert share.loc[ARMS].is_monotonic_increasing and severe.loc[ARMS].is_monotonic_increasing
    assert 0 < len(icans["subject"].unique()) < len(crs["subject"].unique()) / 3  # occasional, and only with CRS
    assert set(icans["subject"]) <= set(crs["subject"])
    dlt = {level: len(s) / treated[level] for level, s in dlt_subjects(frames).items()}
    assert dlt[ARMS[-1]] > 3 * dlt.get(ARMS[0], 0.0)


def test_sample_dlts_at_the_higher_levels(sample):
    """In the sample: none at the first level, one each at the two middle levels, two at the highest."""
    got = {level: len(subjects) for level, subjects in dlt_subjects(sample).items()}
    assert got == {ARMS[1]: 1, ARMS[2]: 1, ARMS[3]: 2}


@pytest.mark.parametrize(("subjects", "seed"), [(34, SEED), (300, 7)])
def test_assignment_between_consent_and_infusion(subjects, seed):
    frames = synthesize(STUDY, subjects, seed, AS_OF)
    en = frames["enrollment"].set_index("subject")
    failed = en["screening_outcome"] == STUDY["screening_outcomes"]["failed"]
    assert (en.loc[failed, "assign_date"] == "").all() and (en.loc[~failed, "assign_date"] != "").all()
    assigned = en[~failed]
    assert (assigned["assign_date"] > assigned["consent_date"]).all()
    first = frames["dosing"].groupby("subject")["start"].min().str.slice(0, 10)
    assert (assigned.loc[first.index, "assign_date"] < first).all()
    undosed = assigned.drop(first.index)
    assert len(undosed) and (undosed["assign_date"] <= undosed["eos_date"]).all()  # not after the withdrawal


def test_assignment_dates_do_not_move_the_other_columns(monkeypatch):
    """Assignment dates draw from their own random stream: the other columns keep their values for a seed."""
    before = synthesize(STUDY, 60, 5, AS_OF)
    monkeypatch.setattr(synth, "ASSIGN_STREAM", synth.ASSIGN_STREAM + 100)
    after = synthesize(STUDY, 60, 5, AS_OF)
    assert not before["enrollment"]["assign_date"].equals(after["enrollment"]["assign_date"])
    pd.testing.assert_frame_equal(
        before["enrollment"].drop(columns="assign_date"), after["enrollment"].drop(columns="assign_date")
    )
    for name in FILES[1:]:
        pd.testing.assert_frame_equal(before[name], after[name])


MEDDRA = yaml.safe_load((SPECS / "dictionaries" / "meddra.yaml").read_text(encoding="utf-8"))
LEVELS = ("llt", "pt", "hlt", "hlgt", "soc")


def test_adverse_events_coded_from_the_term_table(sample):
    """Every event carries its PT's hierarchy from specs/dictionaries/meddra.yaml and the study's MedDRA version."""
    ae = sample["adverse_events"]
    assert (ae["meddra_version"] == STUDY["safety"]["dictionary"]["version"]).all()
    for pt, rows in ae.groupby("meddra_pt"):
        entry = MEDDRA["terms"][pt]
        for level in LEVELS:
            assert set(rows[f"meddra_{level}"]) == {entry[level]["name"]}, (pt, level)
            assert set(rows[f"meddra_{level}_code"]) == {str(entry[level]["code"])}, (pt, level)
    codes = ae[[f"meddra_{level}_code" for level in LEVELS]]
    assert codes.apply(lambda c: c.str.fullmatch(r"[1-9]\d{7}")).all().all()  # 8 digits


def test_onset_times_only_for_crs_and_infusion_reactions(sample):
    ae = sample["adverse_events"]
    timed = ae["start_time"] != ""
    assert set(ae.loc[timed, "meddra_pt"]) == {SPECIAL["CRS"], "Infusion related reaction"}
    assert (ae.loc[ae["meddra_pt"] == "Infusion related reaction", "start_time"] != "").all()
    assert ae.loc[timed, "start_time"].str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d").all()


def test_onset_times_do_not_move_the_other_columns(monkeypatch):
    """Onset times draw from their own random stream: every other column keeps its values for a seed."""
    before = synthesize(STUDY, 60, 5, AS_OF)
    monkeypatch.setattr(synth, "AE_TIME_STREAM", synth.AE_TIME_STREAM + 100)
    after = synthesize(STUDY, 60, 5, AS_OF)
    times = before["adverse_events"]["start_time"]
    assert (times != "").any() and not times.equals(after["adverse_events"]["start_time"])
    pd.testing.assert_frame_equal(
        before["adverse_events"].drop(columns="start_time"), after["adverse_events"].drop(columns="start_time")
    )
    for name in (n for n in FILES if n != "adverse_events"):  # vital signs follow the onset dates, not the times
        pd.testing.assert_frame_equal(before[name], after[name])


def test_a_term_table_of_another_meddra_version_is_refused(tmp_path):
    (tmp_path / "raw").mkdir()
    for path in (SPECS / "raw").iterdir():
        (tmp_path / "raw" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "dictionaries").mkdir()
    table = (SPECS / "dictionaries" / "meddra.yaml").read_text(encoding="utf-8")
    table = table.replace('version: "27.1"', "version: 26.0")
    (tmp_path / "dictionaries" / "meddra.yaml").write_text(table, encoding="utf-8")
    with pytest.raises(ValueError, match=r"meddra.yaml: MedDRA 26.0, but the study codes with 27.1"):
        synthesize(STUDY, 10, 1, AS_OF, tmp_path / "raw")


# ----------------------------------------------------------------------------------------------------------------
# Vital signs

VS_CONTRACT = yaml.safe_load((SPECS / "raw" / "vital_signs.yaml").read_text(encoding="utf-8"))
TIMEPOINTS = [p["tpt"] for p in STUDY["vital_signs"]["timepoints"]]
INFUSION_VISIT = next(v["visit"] for v in STUDY["visits"]["schedule"] if v.get("infusion"))
FIRST_VISIT = STUDY["visits"]["schedule"][0]["visit"]


def test_vital_signs_within_the_contract(sample):
    """Every value in its column's plausible range, systolic above diastolic, height at the first visit only, time
    points on the infusion visit only."""
    vs = sample["vital_signs"]
    for col in VS_CONTRACT["columns"]:
        if "min" in col:
            given = vs.loc[vs[col["name"]] != "", col["name"]].astype(float)
            assert given.between(col["min"], col["max"]).all(), col["name"]
    assert (vs["systolic_bp"].astype(int) > vs["diastolic_bp"].astype(int)).all()
    assert ((vs["height_cm"] != "") == (vs["visit"] == FIRST_VISIT)).all()
    assert ((vs["timepoint"] != "") == (vs["visit"] == INFUSION_VISIT)).all()
    assert vs["time_of_day"].str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d").all()
    assert not vs.duplicated(["subject", "visit", "timepoint"]).any()


def test_vital_signs_follow_the_schedule(sample):
    """A row per visit seen (as the assessments' dates say) and, for each infusion, one per time point on the
    days after its start (0005: 2025-07-10T09:53)."""
    vs, a = sample["vital_signs"], sample["assessments"]
    seen = a.groupby(["subject", "visit"])["date"].first()
    visits = vs[vs["timepoint"] == ""].set_index(["subject", "visit"])["date"]
    assert visits.sort_index().equals(seen.sort_index())
    points = vs[vs["timepoint"] != ""]
    assert set(points["subject"]) == set(sample["dosing"]["subject"])
    mine = points[points["subject"] == "0005"]
    assert list(mine["timepoint"]) == TIMEPOINTS
    assert list(mine["date"].iloc[[0, 1, 2, 3, -1]]) == ["2025-07-10"] * 3 + ["2025-07-11", "2025-07-23"]
    assert mine["time_of_day"].iloc[0] < "09:53" < mine["time_of_day"].iloc[1]  # before the start, then after it


def test_crs_shows_as_fever_and_hypotension(sample):
    """Each CRS event: a temperature >= 38.0 C the day it starts; from ASTCT grade 2, systolic below 90 mmHg then;
    no fever in a subject without CRS, none before an infusion."""
    vs, ae = sample["vital_signs"], sample["adverse_events"]
    crs = ae[ae["meddra_pt"] == SPECIAL["CRS"]]
    assert len(crs) >= 10 and (crs["astct_grade"].astype(int) >= 2).any()
    for _, event in crs.iterrows():
        day = vs[(vs["subject"] == event["subject"]) & (vs["date"] == event["start_date"])]
        assert day["temperature_c"].astype(float).max() >= 38.0, event["subject"]
        if int(event["astct_grade"]) >= 2:
            assert day["systolic_bp"].astype(int).min() < 90, event["subject"]
    fever = vs[vs["temperature_c"].astype(float) >= 38.0]
    assert set(fever["subject"]) <= set(crs["subject"])
    assert not (fever["timepoint"] == TIMEPOINTS[0]).any()


def test_vital_signs_do_not_move_the_other_files(monkeypatch):
    """Vital signs draw from their own random stream: the other files keep their values for a seed."""
    before = synthesize(STUDY, 60, 5, AS_OF)
    monkeypatch.setattr(synth, "VS_STREAM", synth.VS_STREAM + 100)
    after = synthesize(STUDY, 60, 5, AS_OF)
    assert not before["vital_signs"].equals(after["vital_signs"])
    for name in set(FILES) - {"vital_signs"}:
        pd.testing.assert_frame_equal(before[name], after[name])

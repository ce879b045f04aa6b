"""The mapping engine on whole specs: renamed raw columns, domains added and removed by specs alone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from flows.kernel.errors import OutputCheckError
from flows.mapping.engine import derive_analysis
from flows.mapping.load import load_specs
from flows.run.pipeline import run_export
from flows.spec.read import SPECS_DIR
from tests.conftest import RAW, ROOT, STUDYID

FIXTURE = ROOT / "tests" / "fixtures" / "s103_before"


def rename_column(specs: Path, raw: Path, contract: str, old: str, new: str) -> None:
    """Rename a raw column consistently: in its contract, in every spec that reads it, and in the CSV header."""
    for path in [specs / "raw" / f"{contract}.yaml", *(specs / "sdtm").glob("*.yaml"), *(specs / "raw").glob("*.yaml")]:
        text = path.read_text(encoding="utf-8")
        if path.stem == contract and path.parent.name == "raw":
            text = text.replace(f"{{name: {old},", f"{{name: {new},")
            text = text.replace(f"column: {old}", f"column: {new}").replace(f"other: {old}}}", f"other: {new}}}")
            text = text.replace(f"{{{old}: ", f"{{{new}: ").replace(f"date: {old}", f"date: {new}")
            text = text.replace(f"at: {old},", f"at: {new},").replace(f"[{old}, ", f"[{new}, ")
        elif path.parent.name == "sdtm" and re.search(rf"from: (\[[^\]]*)?\b{contract}\b", text):  # or a list
            for pattern in (": {old}}}", ": {old},", "column: {old}", "[{old}]", "[{old}, ", ", {old}]", ", {old},"):
                text = text.replace(pattern.format(old=old), pattern.format(old=new))
        elif path.parent.name == "raw" and f"parent: {contract}" in text:
            text = text.replace(f"parent_column: {old}", f"parent_column: {new}").replace(f"{{{old}: ", f"{{{new}: ")
        path.write_text(text, encoding="utf-8")
    csv = raw / f"{contract}.csv"
    head, rest = csv.read_text(encoding="utf-8").split("\n", 1)
    csv.write_text(",".join(new if c == old else c for c in head.split(",")) + "\n" + rest, encoding="utf-8")


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, target)
    return target


def test_renamed_raw_columns_still_export_the_same_datasets(tmp_path, spec_copy, raw_copy, sample_export):
    for contract, old, new in [
        ("enrollment", "sex", "gender"),
        ("enrollment", "consent_date", "icf_signed"),
        ("enrollment", "site", "centre"),
        ("dosing", "lot", "batch"),
        ("dosing", "start", "infusion_start"),
        ("eligibility", "met", "answer"),
    ]:
        rename_column(spec_copy, raw_copy, contract, old, new)
    specs = load_specs(spec_copy)
    result = run_export(raw_copy, tmp_path / "out", specs)
    assert result.exit_code == 0, result.message
    for domain in ("dm", "ex", "ie", "ti", "ts"):
        assert (result.transfer / "csv" / f"{domain}.csv").read_bytes() == (FIXTURE / f"{domain}.csv").read_bytes()
    # VS reads three forms; the enrollment form's site column named otherwise is still the same subject's
    assert (result.transfer / "csv" / "vs.csv").read_bytes() == (sample_export[1] / "csv" / "vs.csv").read_bytes()


TV = """# Trial Visits (SDTMIG 3.4), added by specs alone.
domain: TV
label: Trial Visits
class: TRIAL DESIGN
structure: One record per planned Visit per Arm
keys: [STUDYID, VISITNUM]
records: {study: visits.schedule}
variables:
  - {name: STUDYID, label: Study Identifier, type: Char, length: 20, core: Req, role: Identifier, origin: Protocol,
     map: {study: studyid}}
  - {name: DOMAIN, label: Domain Abbreviation, type: Char, length: 2, core: Req, role: Identifier, origin: Assigned,
     map: {hardcode: TV}}
  - {name: VISITNUM, label: Visit Number, type: Num, length: 8, core: Req, role: Topic, origin: Protocol,
     map: {assign: visitnum}}
  - {name: VISIT, label: Visit Name, type: Char, length: 40, core: Perm, role: Synonym Qualifier, origin: Protocol,
     map: {assign: visit}}
  - {name: VISITDY, label: Planned Study Day of Visit, type: Num, length: 8, core: Perm, role: Timing,
     origin: Protocol, map: {assign: day}}
"""


def test_a_domain_spec_adds_a_dataset_to_every_output_and_removing_one_removes_it(tmp_path, spec_copy):
    (spec_copy / "sdtm" / "tv.yaml").write_text(TV, encoding="utf-8")
    (spec_copy / "sdtm" / "ti.yaml").unlink()
    result = run_export(RAW, tmp_path / "out", load_specs(spec_copy))
    assert result.exit_code == 0, result.message
    t = result.transfer
    for folder, ext in (("parquet", "parquet"), ("csv", "csv"), ("xpt", "xpt"), ("json", "json")):
        names = {p.name for p in (t / folder).iterdir()}
        assert f"tv.{ext}" in names and f"ti.{ext}" not in names, folder
    tv, meta = pyreadstat.read_xport(t / "xpt" / "tv.xpt")
    assert tv["VISITNUM"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8] and meta.table_name == "TV"
    assert tv["VISITDY"].tolist()[:3] == [-28, -5, 1]
    define = (t / "define.xml").read_text(encoding="utf-8")
    assert 'Name="TV"' in define and 'Name="TI"' not in define
    assert "TV" in (t / "define.html").read_text(encoding="utf-8")
    manifest = json.loads((t / "manifest.json").read_text(encoding="utf-8"))
    assert "xpt/tv.xpt" in manifest["outputs"] and "xpt/ti.xpt" not in manifest["outputs"]


def test_a_raw_file_no_dataset_reads_is_counted_not_tabulated(tmp_path, spec_copy):
    for domain in ("qs", "rs", "sv"):
        (spec_copy / "sdtm" / f"{domain}.yaml").unlink()
    shutil.rmtree(spec_copy / "adam")  # the analysis datasets read QS and RS
    result = run_export(RAW, tmp_path / "out", load_specs(spec_copy))
    manifest = json.loads((result.transfer / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["inputs"]["assessments.csv"]
    assert entry["tabulated"] == 0 and entry["not_tabulated"] == entry["valid"] and entry["balanced"]
    assert "no dataset in specs/sdtm" in entry["not_tabulated_because"]


def test_named_derivations_on_the_sample(sample_export):
    _, transfer = sample_export
    dm = pd.read_csv(transfer / "csv" / "dm.csv", dtype=str, keep_default_na=False).set_index("SUBJID")
    # age: born 1984-08-26, consent 2025-05-21 -> 40; last_contact: a screen failure's latest record 2025-06-01
    assert dm.loc["0001", "AGE"] == "40" and dm.loc["0003", "RFPENDTC"] == "2025-06-01"
    assert dm.loc["0001", "ACTARMCD"] == "DL1" and dm.loc["0010", "ACTARMCD"] == ""  # arm_by_dose; never dosed
    assert dm.loc["0010", "USUBJID"] == f"{STUDYID}-01-0010"


def test_a_condition_filters_records(tmp_path, spec_copy):
    ie = spec_copy / "sdtm" / "ie.yaml"
    text = ie.read_text(encoding="utf-8")
    ie.write_text(
        text.replace(
            "where: {derivation: criterion_not_met, code: criterion, answer: met}",
            "where: [{column: met, equals: N}, {column: criterion, in: [INCL01, INCL02]}]",
        ),
        encoding="utf-8",
    )
    result = run_export(RAW, tmp_path / "out", load_specs(spec_copy))
    ie_out = pd.read_csv(result.transfer / "csv" / "ie.csv", dtype=str)
    assert set(ie_out["IETESTCD"]) <= {"INCL01", "INCL02"} and set(ie_out["IEORRES"]) == {"N"} and len(ie_out)


@pytest.mark.parametrize(
    ("domain", "variable", "columns"),
    [
        ("QS", "QSTESTCD", ["item", "instrument"]),  # a look-up under a condition, then the item: per item
        ("QS", "QSTEST", ["item", "instrument"]),
        ("QS", "VISITNUM", ["visit"]),  # a look-up in study.yaml
        ("QS", "QSCAT", None),  # a plain copy of a raw column: nothing to save
        ("QS", "STUDYID", None),  # a constant
        ("QS", "QSDY", None),  # reads another dataset
    ],
)
def test_row_wise_variables_are_worked_out_per_distinct_combination(specs, domain, variable, columns):
    from flows.mapping.engine import _per_distinct
    from flows.mapping.plan import plan_domain

    steps = plan_domain(specs.sdtm[domain]).steps[variable]
    assert (sorted(_per_distinct(steps)) if columns else _per_distinct(steps)) == (sorted(columns) if columns else None)


def test_per_distinct_combination_and_per_record_give_the_same_datasets(specs, monkeypatch):
    """Above SMALL records a row-wise variable, a study day or an epoch is worked out per distinct combination; the
    sample (below it) per record: both ways give the same datasets."""
    from flows.kernel import distinct
    from flows.mapping import engine
    from flows.run import pipeline

    valid = pipeline.validate_raw(pipeline.read_inputs(RAW, specs), specs).valid
    per_record = engine.derive_datasets(valid, specs)
    monkeypatch.setattr(engine, "SMALL", 0)
    monkeypatch.setattr(distinct, "SMALL", 0)
    per_combination = engine.derive_datasets(valid, specs)
    for domain, frame in per_record.items():
        pd.testing.assert_frame_equal(per_combination[domain], frame, obj=domain)


def test_consuming_derivation_lets_each_raw_file_go_after_its_last_reader(specs, monkeypatch):
    """With consume, a raw file's valid rows leave `valid` as soon as no node still to come reads them (the plan
    knows: records `from`, raw sources, last_contact's child files), and the datasets are the same."""
    from flows.mapping import engine
    from flows.mapping.plan import plan_domains
    from flows.run import pipeline

    valid = pipeline.validate_raw(pipeline.read_inputs(RAW, specs), specs).valid
    expected = engine.derive_datasets(valid, specs)
    plan = plan_domains(specs)
    reads = plan.reads
    assert reads[("QS", "__records__")] == {"assessments"}
    rfpendtc = next(n for n in plan.order if n == ("DM", "RFPENDTC"))
    assert reads[rfpendtc] == {n for n, c in specs.raw.items() if c.parent == "enrollment"}  # last_contact
    events: list[tuple[str, object]] = []

    class Watched(dict):
        def __delitem__(self, key):
            events.append(("gone", key))
            super().__delitem__(key)

    evaluate = engine._evaluate

    def logged(plan, ctx, var):
        events.append(("node", (ctx.domain, var)))
        return evaluate(plan, ctx, var)

    monkeypatch.setattr(engine, "_evaluate", logged)
    got = engine.derive_datasets(Watched(valid), specs, consume=True)
    for domain, frame in expected.items():
        pd.testing.assert_frame_equal(got[domain], frame, obj=domain)
    nodes = [n for kind, n in events if kind == "node"]
    for raw in specs.raw:
        gone = events.index(("gone", raw))
        readers = [n for n in nodes if raw in reads[n]]
        assert all(events.index(("node", n)) < gone for n in readers)  # never before a reader
    assert events.index(("gone", "assessments")) < events.index(("node", ("QS", "EPOCH")))


def test_analysis_datasets_need_the_raw_rows_they_read(tmp_path):
    """An ADSL whose baseline weight reads the enrollment form: derived without its rows is a clear error, not a
    KeyError."""
    from flows.mapping.load import load_specs
    from tests.test_mapping_plan import WEIGHT_FROM_RAW, WEIGHT_FROM_VS
    from tests.test_specs import broken

    raw_weight = load_specs(broken(tmp_path, "adam/adsl.yaml", WEIGHT_FROM_VS, WEIGHT_FROM_RAW))
    with pytest.raises(
        OutputCheckError, match=r"specs/adam: the analysis datasets read the valid rows of \['enrollment'\]"
    ):
        derive_analysis({}, raw_weight)

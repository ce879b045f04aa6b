"""Mapping specs are checked against the code at load: one line naming the spec file and key, before any data."""

from __future__ import annotations

import re

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.load import load_specs
from tests.conftest import run_cli
from tests.test_specs import broken


@pytest.mark.parametrize(
    ("rel", "old", "new", "expected"),
    [
        (  # an unknown algorithm
            "sdtm/ex.yaml",
            "map: {assign: lot}",
            "map: {assign_text: lot}",
            "ex.yaml: variables.EXLOT.map: unknown algorithm 'assign_text'",
        ),
        (  # a raw column not in the contract of the domain's records
            "sdtm/ex.yaml",
            "map: {assign: lot}",
            "map: {assign: lot_number}",
            "ex.yaml: variables.EXLOT.map.assign.column: unknown column 'lot_number'",
        ),
        (  # a named derivation whose declared inputs are missing
            "sdtm/dm.yaml",
            "map: {derivation: age, birth: birth_date, at: consent_date}",
            "map: {derivation: age, birth: birth_date}",
            "dm.yaml: variables.AGE.map.derivation age: missing argument(s) ['at']",
        ),
        (  # an unknown named derivation
            "sdtm/dm.yaml",
            "map: {derivation: age, birth: birth_date, at: consent_date}",
            "map: {derivation: age_at_dose, birth: birth_date, at: consent_date}",
            "dm.yaml: variables.AGE.map.derivation: unknown derivation 'age_at_dose'",
        ),
        (  # a date algorithm on a column that holds no dates (it published EXSTDTC=K01001-1)
            "sdtm/ex.yaml",
            "map: {dtc: start}",
            "map: {dtc: lot}",
            "ex.yaml: variables.EXSTDTC.map.dtc.date: 'lot' is declared string in dosing.yaml; this reads date or "
            "partial_date or datetime",
        ),
        (  # a Num variable copying a text column
            "sdtm/ex.yaml",
            "map: {assign: cells_per_kg}",
            "map: {assign: lot}",
            "ex.yaml: variables.EXDOSE.map.assign: EXDOSE is Num, but 'lot' is declared string in dosing.yaml",
        ),
        (  # a misspelt look-up field (it ended as a failed output check, 'a pipeline bug')
            "sdtm/dm.yaml",
            "table: sites, key: id, value: country}",
            "table: sites, key: id, value: contry}",
            "dm.yaml: variables.COUNTRY.map.lookup.value: no row of 'sites' has 'contry' (its fields: [",
        ),
        (  # one of several sources without a contract
            "sdtm/qs.yaml",
            "  from: assessments\n",
            "  from: [assessments, quests]\n",
            "qs.yaml: records.from: no contract for raw file 'quests' in specs/raw",
        ),
        (  # several sources: a column none of them has (each may lack what another has)
            "sdtm/vs.yaml",
            "map: {assign: position, when:",
            "map: {assign: posture, when:",
            "vs.yaml: variables.VSPOS.map.assign.column: unknown column 'posture'",
        ),
        (  # sources that are not contract names
            "sdtm/qs.yaml",
            "  from: assessments\n",
            "  from: {raw: assessments}\n",
            "qs.yaml: records.from: a raw contract's name, or a list of them",
        ),
        (  # a domain whose source file has no contract
            "sdtm/ex.yaml",
            "records: {from: dosing}",
            "records: {from: infusions}",
            "ex.yaml: records.from: no contract for raw file 'infusions' in specs/raw",
        ),
        (  # another dataset's variable that does not exist
            "sdtm/dm.yaml",
            "{aggregate: {ref: EX.EXSTDTC, how: min}}",
            "{aggregate: {ref: EX.EXSTART, how: min}}",
            "dm.yaml: variables.RFXSTDTC.map.aggregate.ref: 'EX.EXSTART' names no variable",
        ),
        (  # a study fact that does not exist
            "sdtm/ex.yaml",
            "map: {study: treatment.route}",
            "map: {study: treatment.way}",
            "ex.yaml: variables.EXROUTE.map.study.path: 'treatment.way' names no fact in the study",
        ),
        (  # a variable that reads itself through another: a cycle
            "sdtm/dm.yaml",
            "{aggregate: {ref: EX.EXSTDTC, how: min}}",
            "{copy: RFSTDTC}",
            "mappings read each other in a cycle: DM.",
        ),
        (  # a variable that reads itself
            "sdtm/dm.yaml",
            "map: {copy: RFXSTDTC}",
            "map: {copy: RFSTDTC}",
            "dm.yaml: variables.RFSTDTC.map: reads itself",
        ),
        (  # a collected variable must read a raw column
            "sdtm/ex.yaml",
            "map: {assign: lot}",
            "map: {hardcode: LOT1}",
            "ex.yaml: variables.EXLOT.map: a Collected variable needs a step that reads a raw column",
        ),
        (  # a recode table must cover every raw value the contract allows
            "sdtm/dm.yaml",
            "map: {assign: sex}",
            "map: {assign_ct: {column: sex, recode: {M: M, F: F}}}",
            "dm.yaml: variables.SEX.map.assign_ct.recode: raw values ['INTERSEX', 'U'] of column 'sex' have no recode",
        ),
        (  # records completed by a source that builds records alone
            "sdtm/sv.yaml",
            "complete: {derivation: planned_visits}",
            "complete: {derivation: subject_elements}",
            "sv.yaml: records.complete: {derivation: name} of a source that completes records (['planned_visits'])",
        ),
        (  # a completing source used to build a dataset's records alone
            "sdtm/se.yaml",
            "records: {derivation: subject_elements}",
            "records: {derivation: planned_visits}",
            "se.yaml: records.derivation: unknown record source 'planned_visits'",
        ),
        (  # planned visits complete records grouped by the visit (role VISIT) with their dates
            "sdtm/sv.yaml",
            "group: {by: [site, subject, visit], min: [date], max: [date]}",
            "group: {by: [site, subject, visit], max: [date]}",
            "sv.yaml: records.complete: planned_visits completes records grouped by the column of role VISIT",
        ),
        (  # a parent rule naming a column the parent lacks
            "raw/dosing.yaml",
            'parent_column: dose_level,\n     when_parent: {screening_outcome: enrolled}, message: "differs',
            'parent_column: level,\n     when_parent: {screening_outcome: enrolled}, message: "differs',
            "dosing.yaml: parent_rules[2]: unknown column 'level' of the parent file enrollment.csv",
        ),
    ],
)
def test_broken_mapping_names_file_and_key(tmp_path, rel, old, new, expected):
    root = broken(tmp_path, rel, old, new)
    with pytest.raises(SpecError) as err:
        load_specs(root)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_arms_told_apart_by_dose_need_distinct_doses(tmp_path):
    root = broken(tmp_path, "study.yaml", 'cells/kg", dose: 2.0,', 'cells/kg", dose: 1.0,')
    with pytest.raises(SpecError, match="arm_by_dose needs a distinct dose per arm"):
        load_specs(root)


def test_broken_mapping_stops_the_cli_before_reading_data(tmp_path):
    root = broken(tmp_path, "sdtm/ex.yaml", "map: {assign: lot}", "map: {assign: lot_number}")
    proc = run_cli(
        "export", "--raw", str(tmp_path / "no-raw-here"), "--out", str(tmp_path / "out"), "--specs", str(root)
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "unknown column 'lot_number'" in proc.stderr


def test_collected_sources_name_every_raw_column_a_variable_reads(specs):
    """define.xml's Origin of a Collected variable: the raw columns its map reads, a time column too (load time)."""
    ae = specs.sdtm["AE"]
    source = {v.name: v.source for v in ae.variables}
    assert source["AESTDTC"] == "adverse_events.start_date, adverse_events.start_time"  # date and time collected
    assert source["AEENDTC"] == "adverse_events.end_date"  # a date alone
    assert source["AETERM"] == "adverse_events.verbatim_term"


# --- the analysis datasets of specs/adam ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("records: {from_sdtm: DM}", "records: {from_sdtm: XX}", "records.from_sdtm: 'XX' names no dataset"),
        ("class: SUBJECT LEVEL ANALYSIS DATASET", "class: SPECIAL PURPOSE", "class: one of the ADaM classes"),
        ("name: BMGADL, label: Baseline MG-ADL Total Score", "name: BMGADLTOT, label: Baseline", "name upper case"),
        ("display_format: DATE9.,\n     map: {derivation: cutoff_date}}",
         "display_format: YEARS,\n     map: {derivation: cutoff_date}}", "variables.DCUTDT.display_format"),
        ("ref: QS.QSSTRESN, where: {QSTESTCD: MGADLTOT", "ref: QS.QSSTRESN, where: {QSXX: MGADLTOT",
         "not variables of QS: ['QSXX']"),
    ],
)  # fmt: skip
def test_a_broken_analysis_spec_is_named_at_load(tmp_path, old, new, message):
    with pytest.raises(SpecError, match=re.escape(message)) as raised:
        load_specs(broken(tmp_path, "adam/adsl.yaml", old, new))
    assert "adam/adsl.yaml" in str(raised.value)

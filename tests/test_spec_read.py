"""Tests of flows/spec/read.py: YAML into the model, unchecked; a file that cannot be read is a SpecError naming the
file and key, in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.kernel.errors import SpecError
from flows.spec.model import RawColumn
from flows.spec.read import SPECS_DIR, load_codelists, load_domain, load_raw_contract, read_specs, read_yaml

CONTRACT = """\
file: visits.csv
description: One row per visit
key: [subject, visit]
not_tabulated: nothing
columns:
  - {name: subject, role: SUBJID, type: string, required: true, description: Subject}
  - {name: visit, type: string, required: true, description: Visit, values: [SCREENING, DAY 28]}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_raw_contract_is_read_as_written(tmp_path):
    contract = load_raw_contract(write(tmp_path, "visits.yaml", CONTRACT))
    assert (contract.name, contract.file, contract.key) == ("visits", "visits.csv", ("subject", "visit"))
    assert contract.columns[1] == RawColumn("visit", "string", True, "Visit", values=("SCREENING", "DAY 28"))
    assert contract.role("SUBJID") == "subject"
    # what the file leaves out takes its default
    assert (contract.allow_empty, contract.parent, contract.row_rules, contract.cut) == (False, None, (), None)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("key: [subject, visit]\n", "", "visits.yaml: missing required key 'key'"),
        ("role: SUBJID, type: string,", "role: SUBJID,", "visits.yaml: columns[0]: missing required key 'type'"),
        ("required: true, description: Visit,", "required: true, descripton: Visit,", "columns[1]: missing required"),
        ("description: Subject}", "description: Subject, colour: red}", "columns[0]: unknown key(s) ['colour']"),
        (
            "key: [subject, visit]",
            "key: [subject, visit",
            "visits.yaml: line 4, column 14: not valid YAML: did not find expected ',' or ']' "
            "(while parsing a flow sequence)",
        ),
        (
            "description: One row per visit\n",
            "description: One row per visit\ndelimiter: ';'\n",
            "visits.yaml: unknown key(s) ['delimiter']",
        ),
        (CONTRACT, "- just a list\n", "visits.yaml: expected a mapping at the top level"),
    ],
)
def test_a_malformed_contract_names_file_and_key(tmp_path, old, new, expected):
    assert old in CONTRACT
    with pytest.raises(SpecError) as err:
        load_raw_contract(write(tmp_path, "visits.yaml", CONTRACT.replace(old, new, 1)))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match=r"nowhere\.yaml: file not found$"):
        load_raw_contract(tmp_path / "nowhere.yaml")


def test_a_domain_and_its_variables(tmp_path):
    text = (SPECS_DIR / "sdtm" / "ti.yaml").read_text(encoding="utf-8")
    spec = load_domain(write(tmp_path, "ti.yaml", text))
    assert (spec.domain, spec.klass, spec.seq) == ("TI", "TRIAL DESIGN", None)
    assert spec.names[:2] == ["STUDYID", "DOMAIN"]
    assert spec.keys == ("STUDYID", "IETESTCD")
    assert all(isinstance(v.values, tuple | type(None)) for v in spec.variables)  # lists become tuples ...
    studyid = spec.variable("STUDYID")
    assert studyid.map is not None and not isinstance(studyid.map, tuple)  # ... except a mapping, kept as written


def test_a_variable_without_its_label_is_named_by_its_name(tmp_path):
    text = (SPECS_DIR / "sdtm" / "ti.yaml").read_text(encoding="utf-8")
    text = text.replace("{name: STUDYID, label: Study Identifier, ", "{name: STUDYID, ", 1)
    with pytest.raises(SpecError, match=r"ti\.yaml: variables\.STUDYID: missing required key 'label'$"):
        load_domain(write(tmp_path, "ti.yaml", text))


def test_codelists_with_their_release(tmp_path):
    path = write(
        tmp_path,
        "ct.yaml",
        'release: "2025-03-28"\ncodelists:\n  NY:\n    code: C66742\n    extensible: false\n'
        "    terms:\n      - {value: N, code: C49487, decode: No}\n      - {value: Y, code: C49488}\n",
    )
    release, lists = load_codelists(path)
    assert release == "2025-03-28"
    assert lists["NY"].label == "NY" and lists["NY"].values == {"N", "Y"}  # no name: the key is its label
    assert lists["NY"].code_of("Y") == "C49488" and lists["NY"].terms[1].decode == ""


def test_read_specs_reads_every_file_of_the_folder(tmp_path):
    root = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, root)
    specs = read_specs(root)
    assert set(specs.raw) == {p.stem for p in (root / "raw").glob("*.yaml")}
    assert set(specs.sdtm) == {p.stem.upper() for p in (root / "sdtm").glob("*.yaml")} - {"METHODS"}
    assert specs.root == root and specs.study.path == root / "study.yaml"
    assert specs.copies == {}  # worked out by flows.mapping.load, not here
    (root / "sdtm" / "methods.yaml").unlink()  # optional
    assert read_specs(root).methods == {}


def test_read_specs_does_not_check(tmp_path):
    """A reference that does not resolve is read as it is: flows.spec.checks finds it (tests/test_spec_checks.py)."""
    root = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, root)
    path = root / "raw" / "dosing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("parent: enrollment", "parent: enrolment"), "utf-8")
    assert read_specs(root).raw["dosing"].parent == "enrolment"


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    path = write(tmp_path, "study.yaml", "\n".join(levels) + "\n")
    with pytest.raises(SpecError, match=r"study\.yaml: its YAML aliases expand to more than 1,000,000 values"):
        read_yaml(path)


def test_an_alias_as_the_sample_uses_it_is_fine():
    from flows.spec.read import expanded_size

    assert read_yaml(SPECS_DIR / "study.yaml")["population"]["age"]["max"] == 80
    shared = {"min": 18}
    assert expanded_size({"a": shared, "b": [shared, shared]}) == 8  # each use counted: 1 + 2 + (1 + 2 + 2)


def test_conformance_findings_are_read_and_their_keys_named(tmp_path):
    root = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, root)
    finding, *others = read_specs(root).conformance["findings"]
    assert (finding["rule"], finding["datasets"]) == ("FB3401", ["AE", "DS"])
    assert [f["rule"].split()[0] for f in others] == ["CORE-000192", "CORE-000152", "CORE-000741", "CORE-000767"]
    path = root / "conformance.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("    explanation: >-", "    why: >-", 1), "utf-8")
    with pytest.raises(SpecError, match=r"conformance.yaml: findings\[0\]: missing key\(s\) \['explanation'\]"):
        read_specs(root)
    path.unlink()  # optional
    assert read_specs(root).conformance == {}

"""reference.py: specs/README.md's vocabulary is what the registry says, and every word of the vocabulary that any
spec folder of the repository uses (algorithms, their arguments, named derivations, record forms and sources,
conditions, aggregate `how`, `@key` tables, study.yaml's keys) is documented there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.mapping.load import load_specs
from flows.mapping.plan import parse_filter, plan_domains, qualifier_steps
from flows.mapping.reference import BEGIN, END, README, main, vocabulary, with_vocabulary
from flows.mapping.registry import ALGORITHMS, DERIVATIONS, RECORD_FILTERS, RECORD_SOURCES
from flows.mapping.steps import parse_map
from flows.mapping.vocabulary import Step
from tests.conftest import ROOT

SPEC_FOLDERS = [ROOT / "specs", *sorted((ROOT / "tests" / "studies").glob("*/specs"))]
STUDY = "study.yaml"  # its keys are documented in the README's section of that name
RECORD_PARTS = ("unpivot", "group", "explode", "supplemental")  # record forms whose own keys are documented too


def documented(word: str, text: str) -> bool:
    """`word` appears as code: `word` or `word: ...`."""
    return re.search(rf"`{re.escape(word)}[`:]", text) is not None


def section(name: str, text: str) -> str:
    """The generated section of one algorithm, derivation or source (or the hand-written `## study.yaml`)."""
    if name == STUDY:
        found = re.search(rf"\n## {re.escape(STUDY)}\n(.*?)(?=\n## |\Z)", text, re.S)
        return found.group(1) if found else ""
    found = re.search(rf"#### `{re.escape(name)}`\n(.*?)(?=\n#### |\n### |{re.escape(END)})", text, re.S)
    return found.group(1) if found else ""


def _nested(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        yield step
        yield from _nested(tuple(step.parts()))


def used(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(what, name, section or '') for every word of the vocabulary the spec folder uses."""
    specs = load_specs(folder)
    plan = plan_domains(specs)
    steps: list[Step] = []
    for domain, spec in specs.sdtm.items():
        steps += [s for var_steps in plan.domains[domain].steps.values() for s in _nested(var_steps)]
        rec = spec.records
        for key, value in rec.items():
            yield "record form", key, ""
            if key in RECORD_PARTS and isinstance(value, dict):
                yield from (("record form key", k, "") for k in value)
        for q in (rec.get("supplemental") or {}).get("qualifiers", []):
            yield from (("qualifier key", k, "") for k in q)
            steps += list(_nested(qualifier_steps(q, "qualifier")))
        if "where" in rec:
            flt = parse_filter(rec["where"], "where")
            conditions = list(flt.conditions)
            if flt.step:
                yield "record filter", flt.step.name, flt.step.name
                yield from (("argument", arg, flt.step.name) for arg in flt.step.args)
            yield from (("condition", test, "") for c in conditions for test in _tests(c))
        if "derivation" in rec:
            yield "record source", rec["derivation"], rec["derivation"]
    for step in steps:
        yield ("algorithm" if step.name in ALGORITHMS else "derivation"), step.name, step.name
        yield from (("argument", arg, step.name) for arg in step.args)
        yield from (("condition", test, "") for c in step.when for test in _tests(c))
        if step.name == "aggregate":
            yield "aggregate how", step.args["how"], "aggregate"
        if step.name == "lookup" and str(step.args["key"]).startswith("@"):
            yield "lookup table key", step.args["key"], ""
    for path in sorted((folder / "raw").glob("*.yaml")):
        contract = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in [*contract.get("row_rules", []), *contract.get("parent_rules", [])]:
            yield from (("raw rule condition", k, "") for k in rule if k.startswith("when"))
        yield from (("raw contract key", k, "") for k in contract)
        yield from (("raw format key", k, "") for k in contract.get("format") or {})
        yield from (("raw file type", str((contract.get("format") or {}).get("type", "csv")), "") for _ in (1,))
        for col in contract["columns"]:
            yield from (("raw column key", k, "") for k in col)
            yield from (("raw date format", col["format"], "") for _ in (1,) if "format" in col)
    if (folder / "layout.yaml").exists():
        yield from (("layout.yaml key", k, "") for k in yaml.safe_load((folder / "layout.yaml").read_text()))
    study = specs.study.data
    yield from (("study.yaml key", key, STUDY) for key in study)
    for element in study.get("elements", []):
        yield from (("study.yaml elements key", key, STUDY) for key in ("starts_at",) if key in element)


def _tests(condition) -> list[str]:
    tests = {"equals_from": condition.equals_from, "in": condition.isin, "in_from": condition.in_from}
    tests["present"] = condition.present
    named = [k for k, v in tests.items() if v is not None]
    return [condition.kind, *(named or ["equals"])]


def undocumented(text: str) -> list[str]:
    """What some spec folder uses and the README does not document (in the section of its algorithm, when it has
    one)."""
    missing = []
    for folder in SPEC_FOLDERS:
        for what, name, owner in used(folder):
            where = section(owner, text) if owner else text
            found = bool(where) and (owner == name or documented(name, where))
            if what == "study.yaml key":  # a row of its own in the table of keys
                found = re.search(rf"^\|[^|\n]*`{re.escape(name)}`", where, re.M) is not None
            if what in ("algorithm", "derivation", "record filter", "record source"):
                found = bool(section(name, text))
            if not found:
                missing.append(f"{folder.relative_to(ROOT)}: {what} '{name}'" + (f" of {owner}" if owner else ""))
    return sorted(set(missing))


def test_the_readme_vocabulary_is_generated_from_the_registry():
    text = README.read_text(encoding="utf-8")
    assert with_vocabulary(text) == text, "run python -m flows.mapping.reference"
    assert main(["--check"]) == 0


def test_every_vocabulary_word_a_spec_folder_uses_is_documented():
    assert undocumented(README.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("cut", "reported"),
    [
        (r"#### `template`\n.*?(?=#### )", "algorithm 'template'"),  # a whole algorithm
        (r"#### `dlt_flag`\n.*?(?=#### )", "derivation 'dlt_flag'"),  # a named derivation
        (r"#### `subject_elements`\n.*?(?=#### )", "record source 'subject_elements'"),
        (r"`join`", "aggregate how 'join' of aggregate"),  # one `how` of the aggregate section
        (r"`in_from: <study path>`", "condition 'in_from'"),
        (r"\(`group`", "record form 'group'"),
        (r"\| `elements` \|", "study.yaml key 'elements' of study.yaml"),
        (r"`starts_at`", "study.yaml elements key 'starts_at' of study.yaml"),
        (r"`@key`", "lookup table key '@key'"),
    ],
)
def test_the_check_fails_when_a_section_is_left_out(cut, reported):
    text = README.read_text(encoding="utf-8")
    cut_text, n = re.subn(cut, "", text, flags=re.S)
    assert n >= 1, cut
    assert any(reported in m for m in undocumented(cut_text)), undocumented(cut_text)


def test_a_hand_edit_of_the_generated_part_is_found(tmp_path):
    readme = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    readme.write_text(text.replace("#### `dtc`", "#### `dtc` (edited)"), encoding="utf-8")
    assert main(["--readme", str(readme), "--check"]) == 1
    assert main(["--readme", str(readme)]) == 0 and readme.read_text(encoding="utf-8") == text  # rewritten


def test_the_generated_part_sits_between_its_markers():
    generated = vocabulary()
    assert generated.startswith(BEGIN) and generated.rstrip().endswith(END)
    for name in [*ALGORITHMS, *DERIVATIONS, *RECORD_FILTERS, *RECORD_SOURCES]:
        assert f"#### `{name}`" in generated


@pytest.mark.parametrize("op", [*ALGORITHMS.values(), *DERIVATIONS.values()], ids=lambda op: op.name)
def test_each_example_is_a_mapping_of_its_operation(op):
    for variable, raw in yaml.safe_load(op.example).items():
        steps = parse_map(raw, ALGORITHMS, DERIVATIONS, variable)
        assert op.name in {s.name for s in _nested(steps)}, variable


@pytest.mark.parametrize("name", [*RECORD_FILTERS, *RECORD_SOURCES])
def test_each_record_example_names_its_filter_or_source(name):
    op = RECORD_FILTERS.get(name) or RECORD_SOURCES[name]
    records = yaml.safe_load(op.example)["records"]
    assert (records.get("where") or records.get("complete") or records)["derivation"] == name

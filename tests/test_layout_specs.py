"""flows.tools.layout_specs: another EDC layout's spec folder is its raw contracts and a layout.yaml extending the
study's folder, which flows.spec.read resolves to the study's own study.yaml, CT and datasets."""

from __future__ import annotations

from flows.mapping.load import load_specs
from flows.spec.read import base_of
from flows.tools.layout_specs import contract_yaml, write_layout
from tests.conftest import ROOT


def test_a_layout_folder_reads_as_the_study_with_its_own_contracts(tmp_path, specs):
    contract = specs.raw["eligibility"]
    data = contract_yaml(contract, "IE.csv", {"type": "csv", "delimiter": ";"})
    assert data["file"] == "IE.csv" and data["columns"][0]["name"] == "site" and tuple(data["key"]) == contract.key
    data["columns"][0]["source"] = "SITENO"
    out = tmp_path / "vendor" / "specs"
    write_layout(
        out,
        ROOT / "specs",
        {name: contract_yaml(c, c.file, {"type": "csv"}) for name, c in specs.raw.items()} | {"eligibility": data},
    )
    assert base_of(out) == (ROOT / "specs").resolve()
    loaded = load_specs(out)
    assert loaded.base == (ROOT / "specs").resolve() and loaded.root == out
    assert loaded.raw["eligibility"].file == "IE.csv" and loaded.raw["eligibility"].format.delimiter == ";"
    assert loaded.raw["eligibility"].column("site").in_file == "SITENO"
    assert sorted(loaded.sdtm) == sorted(specs.sdtm) and loaded.study.studyid == specs.study.studyid

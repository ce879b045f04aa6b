"""flows.tools.layouts: the sample in raw/ as SAS transport files and as one ODM file; read back by the pipeline's own
readers, every value of every raw file equals the CSV's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from flows.raw.odm import read_odm
from flows.raw.read import read_raw
from flows.raw.xpt import read_xpt
from flows.spec.model import RawContract
from flows.tools.layouts import ODM_FILE, contracts_of, layout_contract, write_layouts, xpt_names
from tests.conftest import RAW, ROOT

STUDIES = ROOT / "tests" / "studies"
LAYOUTS: dict[str, Callable[[Path, RawContract], pd.DataFrame]] = {"S103-xpt": read_xpt, "S103-odm": read_odm}
CSV = contracts_of(ROOT / "specs")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    studies = tmp_path_factory.mktemp("studies")
    write_layouts(RAW, ROOT / "specs", studies, extends="../../../../specs")
    return studies


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_committed_layouts_are_what_the_converter_makes(made, layout):
    """Same bytes on every run (no timestamps) and up to date: after a change to raw/ or specs/raw/, run
    `python -m flows.tools.layouts`."""
    assert files(made / layout) == files(STUDIES / layout)


@pytest.mark.parametrize("name", CSV)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_read_back_equals_the_csv(made, layout, name):
    contract = contracts_of(made / layout / "specs")[name]
    got = LAYOUTS[layout](made / layout / "raw" / contract.file, contract)
    want = read_raw(RAW, CSV[name]).frame[CSV[name].column_names]
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    got, want = got.sort_values(list(contract.key)), want.sort_values(list(contract.key))
    for column in want.columns:  # as text, None for null: "1.00" stays "1.00", "1979-02" stays partial
        assert got[column].astype(object).where(got[column].notna(), None).tolist() == (
            want[column].astype(object).where(want[column].notna(), None).tolist()
        ), f"{layout} {name}.{column}"


def test_index_names_each_record(made):
    contract = contracts_of(made / "S103-xpt" / "specs")["dosing"]
    assert read_xpt(made / "S103-xpt" / "raw" / contract.file, contract).index.tolist() == list(range(1, 25))
    contract = contracts_of(made / "S103-odm" / "specs")["dosing"]
    lines = read_odm(made / "S103-odm" / "raw" / contract.file, contract).index
    text = (made / "S103-odm" / "raw" / contract.file).read_text(encoding="utf-8").splitlines()
    assert all(text[n - 1].strip().startswith('<ItemGroupData ItemGroupOID="IG.DOSING"') for n in lines)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_contracts_differ_from_specs_raw_only_in_file_format_and_sources(made, layout):
    specs = made / layout / "specs"
    assert (specs / "layout.yaml").read_text(encoding="utf-8").endswith("extends: ../../../../specs\n")
    assert sorted(p.name for p in specs.iterdir()) == ["layout.yaml", "raw"]
    for name, contract in contracts_of(specs).items():
        original = CSV[name]
        assert all(c.source for c in contract.columns)
        assert [c.name for c in contract.columns] == original.column_names
        assert contract.format.type == layout.removeprefix("S103-")
        for field in ("key", "parent", "row_rules", "parent_rules", "cut", "allow_empty", "description"):
            assert getattr(contract, field) == getattr(original, field)


def test_odm_is_valid_odm_1_3_2(made):
    odmlib = pytest.importorskip("odmlib")
    xsd = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(etree.parse(str(made / "S103-odm" / "raw" / ODM_FILE))), schema.error_log


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["site", "ae_number"], ["SITE", "AENUMBER"]),  # short enough: as they are
        (["screening_outcome"], ["SCRNNGOT"]),  # first letters and consonants, cut at 8
        (["verbatim_term", "verbatim_terms"], ["VRBTMTRM", "VRBTMTR1"]),  # a name taken: numbered
    ],
)
def test_xpt_names(names, expected):
    assert list(xpt_names(names).values()) == expected


def test_a_contract_the_converter_cannot_edit_is_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("file: x.csv\ncolumns:\n  - name: site\n    type: string\n", encoding="utf-8")
    with pytest.raises(ValueError, match="each column as"):
        layout_contract(path, "x.xpt", "{type: xpt}", {"site": "SITE"})

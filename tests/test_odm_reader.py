"""flows.raw.odm: one item group of a CDISC ODM 1.3 ClinicalData file read as text, indexed by its source line."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

import flows.raw.odm
from flows.kernel.errors import SpecError, StructuralError
from flows.raw.odm import read_odm, read_odm_forms
from flows.spec.model import RawColumn, RawContract, RawFormat

ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot" FileOID="F1"
     CreationDateTime="2025-01-01T00:00:00">
  <ClinicalData StudyOID="S1" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="0001">
      <SiteRef LocationOID="01"/>
      <StudyEventData StudyEventOID="SE.SCREENING">
        <FormData FormOID="F.DM">
          <ItemGroupData ItemGroupOID="IG.DM">
            <ItemData ItemOID="IT.SEX" Value="F"/>
            <ItemData ItemOID="IT.BRTHDTC" Value="1979-02"/>
            <ItemData ItemOID="IT.WEIGHT" Value="0"/>
          </ItemGroupData>
        </FormData>
        <FormData FormOID="F.AE" FormRepeatKey="1">
          <ItemGroupData ItemGroupOID="IG.DM">
            <ItemData ItemOID="IT.OTHER" Value="not this form's"/>
          </ItemGroupData>
        </FormData>
      </StudyEventData>
    </SubjectData>
    <SubjectData SubjectKey="0002">
      <SiteRef LocationOID="02"/>
      <StudyEventData StudyEventOID="SE.SCREENING" StudyEventRepeatKey="1">
        <FormData FormOID="F.DM">
          <ItemGroupData ItemGroupOID="IG.DM" ItemGroupRepeatKey="3">
            <ItemData ItemOID="IT.SEX" Value="M"/>
            <ItemData ItemOID="IT.WEIGHT" Value="72.30"/>
          </ItemGroupData>
        </FormData>
      </StudyEventData>
      <StudyEventData StudyEventOID="SE.FOLLOWUP">
        <FormData FormOID="F.DM">
          <ItemGroupData ItemGroupOID="IG.DM">
            <ItemData ItemOID="IT.SEX" Value="M"/>
            <ItemData ItemOID="IT.BRTHDTC" Value="" />
            <ItemData ItemOID="IT.WEIGHT" IsNull="Yes"/>
          </ItemGroupData>
        </FormData>
      </StudyEventData>
    </SubjectData>
  </ClinicalData>
</ODM>
"""
GROUP_LINES = [9, 26, 34]  # the lines of the ItemGroupData of form F.DM in ODM


def column(name: str, source: str) -> RawColumn:
    return RawColumn(name, "string", False, "", source=source)


DM = (
    column("subject", "SubjectKey"),
    column("site", "SiteRef"),
    column("sex", "IT.SEX"),
    column("birth_date", "IT.BRTHDTC"),
    column("weight", "IT.WEIGHT"),
)


def contract(*columns: RawColumn, allow_empty: bool = False, **fmt: str | None) -> RawContract:
    where = {"form": "F.DM", "item_group": "IG.DM"} | fmt
    return RawContract(
        name="dm", file="study.xml", description="", key=(), allow_empty=allow_empty, parent=None,
        columns=columns or DM, row_rules=(), cut=None, not_tabulated="", path=Path("specs/raw/dm.yaml"),
        format=RawFormat(type="odm", **where),
    )  # fmt: skip


def values(frame: pd.DataFrame) -> list[list[str | None]]:
    return [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)]


@pytest.fixture
def odm(tmp_path) -> Path:
    path = tmp_path / "study.xml"
    path.write_text(ODM, encoding="utf-8")
    return path


def test_one_row_per_item_group_of_the_form(odm):
    frame = read_odm(odm, contract())
    assert list(frame.columns) == ["subject", "site", "sex", "birth_date", "weight"]
    assert {str(t) for t in frame.dtypes} == {"str"}
    assert values(frame) == [
        ["0001", "01", "F", "1979-02", "0"],  # a partial date as it is; an exact zero
        ["0002", "02", "M", None, "72.30"],  # absent ItemData: null; a number's text as written
        ["0002", "02", "M", None, None],  # an empty Value and IsNull="Yes": null
    ]


def test_index_is_the_item_groups_source_line(odm):
    frame = read_odm(odm, contract())
    assert frame.index.name == "line"
    assert frame.index.tolist() == GROUP_LINES
    assert all(ODM.splitlines()[n - 1].strip().startswith("<ItemGroupData") for n in GROUP_LINES)


def test_study_event_selects(odm):
    frame = read_odm(odm, contract(study_event="SE.FOLLOWUP"))
    assert frame.index.tolist() == [34]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("StudyEventOID", ["SE.SCREENING", "SE.SCREENING", "SE.FOLLOWUP"]),
        ("StudyEventRepeatKey", [None, "1", None]),
        ("FormRepeatKey", [None, None, None]),
        ("ItemGroupRepeatKey", [None, "3", None]),
    ],
)
def test_keys_of_the_item_group_as_columns(odm, source, expected):
    frame = read_odm(odm, contract(*DM, column("key", source)))
    assert [None if pd.isna(v) else v for v in frame["key"]] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site,subject\n01,0001\n", r"^study\.xml: not an XML file \("),
        ("", r"^study\.xml: not an XML file \("),
        ("<define/>", r"^study\.xml: not a CDISC ODM 1\.3 file \(root element define, expected"),
        ('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.2"/>', r"^study\.xml: not a CDISC ODM 1\.3 file"),
        ('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="S1"/></ODM>', r"^study\.xml: no ClinicalData"),
        (ODM[: ODM.index("</FormData>")], r"^study\.xml: not well-formed XML \(.*line \d+"),  # cut short
    ],
)
def test_not_odm_clinical_data(tmp_path, text, message):
    path = tmp_path / "study.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StructuralError, match=message) as err:
        read_odm(path, contract())
    assert "\n" not in str(err.value)


def test_an_item_oid_never_found_is_named(odm):
    with pytest.raises(StructuralError) as err:
        read_odm(odm, contract(*DM, column("race", "IT.RACE")))
    assert str(err.value) == (
        "study.xml: ItemGroupOID IG.DM of FormOID F.DM: ItemOID(s) missing ['IT.RACE'] (contract dm.yaml)"
    )


def test_an_item_oid_not_in_the_contract_is_named(odm):
    with pytest.raises(StructuralError, match=r"not in the contract \['IT\.WEIGHT'\] \(contract dm\.yaml\)$"):
        read_odm(odm, contract(*DM[:4]))


def test_no_matching_item_group(odm):
    with pytest.raises(StructuralError, match=r"^study\.xml: no ItemGroupData of ItemGroupOID IG\.DM of FormOID F\.X"):
        read_odm(odm, contract(form="F.X"))
    empty = read_odm(odm, contract(form="F.X", allow_empty=True))
    assert empty.empty and list(empty.columns) == [c.name for c in DM] and empty.index.name == "line"


def test_a_contract_without_item_group_is_a_spec_error(odm):
    with pytest.raises(SpecError, match="needs item_group"):
        read_odm(odm, contract(item_group=None))


def test_several_forms_in_one_pass(odm):
    dm, followup = contract(), contract(study_event="SE.FOLLOWUP")
    other = dataclasses.replace(contract(column("other", "IT.OTHER"), form="F.AE"), name="ae")
    frames = read_odm_forms(odm, [dm, other, dataclasses.replace(followup, name="fu")])
    assert list(frames) == ["dm", "ae", "fu"]
    assert frames["dm"].equals(read_odm(odm, dm))
    assert frames["fu"].index.tolist() == [34]
    assert values(frames["ae"]) == [["not this form's"]]


def test_rows_read_in_blocks_stay_in_order(odm, monkeypatch):
    whole = read_odm(odm, contract())
    monkeypatch.setattr(flows.raw.odm, "BLOCK", 2)  # a block of 2 rows, then 1
    assert read_odm(odm, contract()).equals(whole)


def test_memory_stays_one_subjects(tmp_path, monkeypatch):
    """The streaming pass clears what it has read: the tree never holds more than about one subject."""
    subject = ODM[ODM.index('    <SubjectData SubjectKey="0002">') : ODM.index("  </ClinicalData>")]
    many = "".join(subject.replace('"0002"', f'"{n:04d}"') for n in range(2, 2002))
    path = tmp_path / "study.xml"
    path.write_text(ODM.replace(subject, many), encoding="utf-8")
    sizes, iterparse = [], etree.iterparse

    def watched(*args: object, **kwargs: object) -> Iterator[tuple[str, etree._Element]]:
        for event, element in iterparse(*args, **kwargs):
            yield event, element
            sizes.append(sum(1 for _ in element.getroottree().iter()))  # once the reader is done with it

    monkeypatch.setattr(etree, "iterparse", watched)
    frame = read_odm(path, contract())
    assert len(frame) == 1 + 2 * 2000
    assert 0 < max(sizes) < 2000  # elements in the tree (the parser reads a block ahead); 30,000 without clearing

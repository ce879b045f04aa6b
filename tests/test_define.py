"""Tests of flows/transfer/define.py and flows/transfer/define_html.py: define.xml read back with ElementTree against
the datasets, the specs and CDISC's Define-XML 2.1 example; define.html parsed with html.parser."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.kernel.errors import OutputCheckError
from flows.mapping.engine import derive_analysis, derive_datasets
from flows.mapping.load import load_specs
from flows.run import pipeline
from flows.spec.model import Specs, Variable
from flows.spec.sdtm_schema import TRACE
from flows.tools.synth import synthesize, write_raw
from flows.transfer.define import (
    ACRF_LEAF,
    build_define,
    check_oids,
    define_bytes,
    define_metadata,
    define_sketch,
    item_data_type,
    link_acrf,
    significant_digits,
    text_length,
    value_data_type,
    write_define,
)
from flows.transfer.define_html import write_define_html
from flows.transfer.writers.xpt import xpt_lengths

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
XLINK = "{http://www.w3.org/1999/xlink}"
CREATED = "2026-10-31T00:00:00"
CDISC_EXAMPLE = (  # ../shared/ sits beside the repository, here and in CI
    Path(__file__).resolve().parents[2]
    / "shared"
    / "reference"
    / "cdisc-examples"
    / "define-xml-2.1-sdtm"
    / "defineV21-SDTM.xml"
)
OID_REFS = {  # referencing attribute -> defining element
    "ItemOID": "ItemDef",
    "CodeListOID": "CodeList",
    "MethodOID": "MethodDef",
    "CommentOID": "CommentDef",
    "ValueListOID": "ValueListDef",
    "WhereClauseOID": "WhereClauseDef",
    "StandardOID": "Standard",
    "leafID": "leaf",
    "ArchiveLocationID": "leaf",
}


def local(name: str) -> str:
    return name.rpartition("}")[2]


@pytest.fixture(scope="module")
def specs() -> Specs:
    return load_specs()


@pytest.fixture(scope="module")
def validation(specs: Specs, tmp_path_factory: pytest.TempPathFactory):
    """The 34-subject sample (as `make sample` writes it), read and validated."""
    raw_dir = tmp_path_factory.mktemp("raw")
    study = yaml.safe_load(specs.study.path.read_text(encoding="utf-8"))
    write_raw(synthesize(study, 34, 20250321, "2026-10-31"), raw_dir)
    return pipeline.validate_raw(pipeline.read_inputs(raw_dir, specs), specs)


@pytest.fixture(scope="module")
def traced(specs: Specs, validation) -> dict[str, pd.DataFrame]:
    """The sample derived with a data cut, trace columns included."""
    return derive_datasets(validation.valid, specs, {"cutoff": "2026-10-31"})


@pytest.fixture(scope="module")
def datasets(traced: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {d: f.drop(columns=TRACE, errors="ignore") for d, f in traced.items()}


@pytest.fixture(scope="module")
def analysis(traced, specs, validation) -> dict[str, pd.DataFrame]:
    """The analysis datasets of the same SDTM (and of the raw rows they read), for adam/define.xml."""
    kept = {n: validation.valid[n] for n in pipeline.analysis_raw_reads(specs)}
    return derive_analysis(traced, specs, {"cutoff": "2026-10-31"}, kept)


@pytest.fixture(scope="module")
def lengths(datasets: dict[str, pd.DataFrame], specs: Specs) -> dict[str, dict[str, int]]:
    return {d: xpt_lengths(f, specs.sdtm[d]) for d, f in datasets.items()}


@pytest.fixture(scope="module")
def written(datasets, specs, lengths, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("define") / "define.xml"
    write_define(datasets, specs, lengths, CREATED, path)
    return path


@pytest.fixture(scope="module")
def mdv(written: Path) -> ET.Element:
    return ET.parse(written).getroot().find("odm:Study/odm:MetaDataVersion", NS)


def item_defs(mdv: ET.Element) -> dict[str, ET.Element]:
    return {el.get("OID"): el for el in mdv.findall("odm:ItemDef", NS)}


# --- define.xml against the datasets --------------------------------------------------------------------------


def test_every_variable_has_an_itemdef_with_its_length_and_type(mdv, datasets, specs, lengths):
    items = item_defs(mdv)
    missing, wrong = [], []
    for domain, frame in datasets.items():
        for var in specs.sdtm[domain].variables:
            el = items.get(f"IT.{domain}.{var.name}")
            if el is None:
                missing.append(f"{domain}.{var.name}")
                continue
            if var.type == "Char":
                expected_type = "datetime" if var.name.endswith("DTC") else "text"
            else:
                present = frame[var.name].dropna().astype("float64")
                expected_type = "integer" if (present % 1 == 0).all() else "float"
            # Define-XML gives Length for text, integer and float only (CDISC's example: none on dates)
            expected_length = None if expected_type == "datetime" else str(lengths[domain][var.name])
            got = (el.get("DataType"), el.get("Length"), el.get("Name"))
            if got != (expected_type, expected_length, var.name):
                wrong.append(f"{domain}.{var.name}: {got} != {(expected_type, expected_length, var.name)}")
    assert not missing, f"variables without an ItemDef: {missing}"
    assert not wrong, f"ItemDefs disagreeing with the data: {wrong}"


def test_every_itemdef_is_referenced_by_a_dataset_and_every_itemref_defined(mdv):
    value_level = {ref.get("ItemOID") for ref in mdv.findall("def:ValueListDef/odm:ItemRef", NS)}
    defined = set(item_defs(mdv)) - value_level
    referenced = {ref.get("ItemOID") for ref in mdv.findall("odm:ItemGroupDef/odm:ItemRef", NS)}
    assert (sorted(defined - referenced), sorted(referenced - defined)) == ([], []), (
        "(ItemDefs no dataset references, ItemRefs without an ItemDef)"
    )


def test_itemrefs_follow_spec_order_keys_and_core(mdv, specs, datasets):
    for domain in datasets:
        spec = specs.sdtm[domain]
        refs = mdv.findall(f"odm:ItemGroupDef[@OID='IG.{domain}']/odm:ItemRef", NS)
        assert [r.get("ItemOID") for r in refs] == [f"IT.{domain}.{n}" for n in spec.names]
        assert [int(r.get("OrderNumber")) for r in refs] == list(range(1, len(spec.names) + 1))
        keys = {r.get("ItemOID").split(".")[2]: int(r.get("KeySequence")) for r in refs if r.get("KeySequence")}
        assert keys == {k: i for i, k in enumerate(spec.keys, start=1)}
        for ref, var in zip(refs, spec.variables, strict=True):
            assert ref.get("Mandatory") == ("Yes" if var.core == "Req" else "No"), var.name
            assert (ref.get("MethodOID") is not None) == (var.origin == "Derived"), var.name


@pytest.mark.parametrize(
    ("domain", "repeating", "reference"),
    [
        ("DM", "No", "No"),  # one record per subject
        ("EX", "Yes", "No"),
        ("IE", "Yes", "No"),
        ("TI", "No", "Yes"),  # trial design: reference data, as in CDISC's examples
        ("TS", "No", "Yes"),
    ],
)
def test_itemgroupdef_attributes(mdv, specs, domain, repeating, reference):
    ig = mdv.find(f"odm:ItemGroupDef[@OID='IG.{domain}']", NS)
    spec = specs.sdtm[domain]
    assert (ig.get("Repeating"), ig.get("IsReferenceData")) == (repeating, reference)
    assert ig.get("Purpose") == "Tabulation"
    assert ig.get(f"{{{NS['def']}}}Structure") == spec.structure
    assert ig.find("odm:Description/odm:TranslatedText", NS).text == spec.label
    assert ig.find("def:Class", NS).get("Name") == spec.klass
    leaf = ig.find("def:leaf", NS)
    assert (leaf.get(f"{XLINK}href"), leaf.find("def:title", NS).text) == (
        f"xpt/{domain.lower()}.xpt",
        f"{domain.lower()}.xpt",
    )


@pytest.mark.parametrize(
    ("oid", "origin", "source", "text"),
    [
        ("IT.DM.BRTHDTC", "Collected", "Investigator", "enrollment.csv column birth_date"),
        ("IT.EX.EXDOSE", "Collected", "Investigator", "dosing.csv column cells_per_kg"),
        ("IT.DM.AGE", "Derived", "Sponsor", None),
        ("IT.DM.AGEU", "Assigned", "Sponsor", None),
        ("IT.TS.TSVAL", "Protocol", "Sponsor", None),
    ],
)
def test_origins(mdv, oid, origin, source, text):
    el = item_defs(mdv)[oid].find("def:Origin", NS)
    described = el.find("odm:Description/odm:TranslatedText", NS)
    assert (el.get("Type"), el.get("Source"), described.text if described is not None else None) == (
        origin,
        source,
        text,
    )


def test_float_has_significant_digits(mdv, datasets):
    exdose = item_defs(mdv)["IT.EX.EXDOSE"]
    assert exdose.get("DataType") == "float"
    assert exdose.get("SignificantDigits") == str(significant_digits(datasets["EX"]["EXDOSE"]))


# --- references, codelists, methods ---------------------------------------------------------------------------


def test_every_referenced_oid_is_defined_exactly_once(written):
    root = ET.parse(written).getroot()
    defined: dict[str, list[str]] = {}
    for el in root.iter():
        kind = local(el.tag)
        if kind in OID_REFS.values():
            defined.setdefault(kind, []).append(el.get("ID" if kind == "leaf" else "OID"))
    dangling, duplicated = [], []
    for el in root.iter():
        for attr, value in el.attrib.items():
            kind = OID_REFS.get(local(attr))
            if kind and defined.get(kind, []).count(value) != 1:
                (dangling if value not in defined.get(kind, []) else duplicated).append(f"{kind} {value}")
    assert (dangling, duplicated) == ([], [])
    assert check_oids(root) == []


def test_ct_codelist_terms_carry_nci_codes(mdv, specs):
    ct = [cl for cl in mdv.findall("odm:CodeList", NS) if cl.get(f"{{{NS['def']}}}StandardOID")]
    assert ct, "no CT codelist in define.xml"
    for cl in ct:
        name = cl.get("OID").split(".")[1]  # CL.NY or the subset CL.NY.DM.DTHFL
        spec = specs.codelists[name]
        assert cl.find("odm:Alias", NS).attrib == {"Context": "nci:ExtCodeID", "Name": spec.code}
        terms = cl.findall("odm:CodeListItem", NS) + cl.findall("odm:EnumeratedItem", NS)
        assert terms, cl.get("OID")
        for term in terms:
            alias = term.find("odm:Alias", NS)
            assert alias is not None, f"{cl.get('OID')} {term.get('CodedValue')}: no NCI code"
            assert alias.get("Name") == spec.code_of(term.get("CodedValue"))


def test_codelist_subset_from_the_spec(mdv, specs):
    dthfl = item_defs(mdv)["IT.DM.DTHFL"].find("odm:CodeListRef", NS).get("CodeListOID")
    values = [t.get("CodedValue") for t in mdv.find(f"odm:CodeList[@OID='{dthfl}']", NS)]
    values = [v for v in values if v]
    assert values == list(specs.sdtm["DM"].variable("DTHFL").values)  # [Y], not all of NY


@pytest.mark.parametrize(
    ("variables", "codelist", "codes", "decodes"),
    [
        (["IT.DM.ARMCD", "IT.DM.ACTARMCD"], "CL.ARMCD", "arms.armcd", "arms.arm"),
        (["IT.IE.IETESTCD", "IT.TI.IETESTCD"], "CL.IETESTCD", "criteria.list.code", "criteria.list.test"),
    ],
)
def test_sponsor_codelists_decode_from_the_study(mdv, specs, variables, codelist, codes, decodes):
    items = item_defs(mdv)
    assert [items[v].find("odm:CodeListRef", NS).get("CodeListOID") for v in variables] == [codelist] * len(variables)
    cl = mdv.find(f"odm:CodeList[@OID='{codelist}']", NS)
    got = [
        (i.get("CodedValue"), i.find("odm:Decode/odm:TranslatedText", NS).text)
        for i in cl.findall("odm:CodeListItem", NS)
    ]
    assert got == list(zip(specs.study.lookup(codes), specs.study.lookup(decodes), strict=True))
    assert cl.find("odm:Alias", NS) is None  # no NCI code for sponsor terms


def test_methods_come_from_the_spec_or_methods_yaml(mdv, specs):
    methods = {
        m.get("OID"): m.find("odm:Description/odm:TranslatedText", NS).text for m in mdv.findall("odm:MethodDef", NS)
    }
    assert methods["MT.STUDY_DAY"] == specs.methods["STUDY_DAY"]
    exstdy = mdv.find("odm:ItemGroupDef[@OID='IG.EX']/odm:ItemRef[@ItemOID='IT.EX.EXSTDY']", NS)
    assert exstdy.get("MethodOID") == "MT.STUDY_DAY"
    assert methods["MT.DM.AGE"] == specs.sdtm["DM"].variable("AGE").method
    assert all(m.get("Type") == "Computation" for m in mdv.findall("odm:MethodDef", NS))
    assert len(set(methods.values())) == len(methods)  # one MethodDef per distinct text


@pytest.mark.parametrize(("domain", "name"), [("TS", "TSVALCD"), ("TI", "TIRL"), ("DM", "COUNTRY"), ("IE", "IETEST")])
def test_how_a_non_derived_value_is_set_is_a_comment(mdv, specs, domain, name):
    item = item_defs(mdv)[f"IT.{domain}.{name}"]
    comment = item.get(f"{{{NS['def']}}}CommentOID")
    assert comment, f"{domain}.{name} has no def:CommentOID"
    text = mdv.find(f"def:CommentDef[@OID='{comment}']/odm:Description/odm:TranslatedText", NS).text
    assert text == specs.sdtm[domain].variable(name).method


# --- value-level metadata -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parmcd", "data_type", "codelist"),
    [
        ("TITLE", "text", None),
        ("PLANSUB", "integer", None),
        ("AGEMIN", "durationDatetime", None),
        ("SSTDTC", "date", None),
        ("DCUTDTC", "date", None),  # from the data cut, not the protocol
        ("TPHASE", "text", "CL.TPHASE"),
        ("RANDOM", "text", "CL.NY"),
    ],
)
def test_tsval_value_list(mdv, datasets, parmcd, data_type, codelist):
    vl = mdv.find("def:ValueListDef[@OID='VL.TS.TSVAL']", NS)
    assert [r.get("ItemOID") for r in vl] == [f"IT.TS.TSVAL.{p}" for p in sorted(datasets["TS"]["TSPARMCD"].unique())]
    item = item_defs(mdv)[f"IT.TS.TSVAL.{parmcd}"]
    ref = item.find("odm:CodeListRef", NS)
    assert (item.get("DataType"), ref.get("CodeListOID") if ref is not None else None) == (data_type, codelist)
    where = vl.find(f"odm:ItemRef[@ItemOID='IT.TS.TSVAL.{parmcd}']/def:WhereClauseRef", NS).get("WhereClauseOID")
    check = mdv.find(f"def:WhereClauseDef[@OID='{where}']/odm:RangeCheck", NS)
    assert (check.get("Comparator"), check.get(f"{{{NS['def']}}}ItemOID")) == ("EQ", "IT.TS.TSPARMCD")
    assert [v.text for v in check] == [parmcd]


# --- the file as a whole --------------------------------------------------------------------------------------


def test_header_and_standards(written, specs):
    root = ET.parse(written).getroot()
    assert (root.get("ODMVersion"), root.get("FileType"), root.get("CreationDateTime")) == (
        "1.3.2",
        "Snapshot",
        CREATED,
    )
    assert root.get(f"{{{NS['def']}}}Context") == "Submission"
    gv = root.find("odm:Study/odm:GlobalVariables", NS)
    assert [e.text for e in gv] == [specs.study.studyid, specs.study.data["title"], specs.study.studyid]
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv.get(f"{{{NS['def']}}}DefineVersion") == "2.1.0"
    standards = [
        (s.get("Name"), s.get("Type"), s.get("Version")) for s in mdv.findall("def:Standards/def:Standard", NS)
    ]
    assert standards == [("SDTMIG", "IG", "3.4"), ("CDISC/NCI", "CT", specs.ct_release)]
    doc = mdv.find("def:SupplementalDoc/def:DocumentRef", NS).get("leafID")
    assert mdv.find(f"def:leaf[@ID='{doc}']", NS).get(f"{XLINK}href") == "documents/study.yaml"


@pytest.mark.skipif(not CDISC_EXAMPLE.exists(), reason="CDISC's Define-XML 2.1 example not available")
def test_layout_follows_the_cdisc_example(written):
    def sections(path: Path) -> list[str]:
        mdv = ET.parse(path).getroot().find("odm:Study/odm:MetaDataVersion", NS)
        return list(dict.fromkeys(el.tag for el in mdv))

    ours, theirs = sections(written), sections(CDISC_EXAMPLE)
    assert set(ours) <= set(theirs)
    assert ours == [tag for tag in theirs if tag in ours]  # same order of sections
    first_line = CDISC_EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    assert written.read_text(encoding="utf-8").splitlines()[0] == first_line


def test_two_writes_are_byte_identical(datasets, specs, lengths, tmp_path):
    for name, write in (
        ("define.xml", lambda p: write_define(datasets, specs, lengths, CREATED, p)),
        ("define.html", lambda p: write_define_html(datasets, specs, lengths, p)),
    ):
        write(tmp_path / f"1-{name}")
        write(tmp_path / f"2-{name}")
        assert (tmp_path / f"1-{name}").read_bytes() == (tmp_path / f"2-{name}").read_bytes(), name


def test_trace_columns_are_ignored(traced, datasets, specs, lengths):
    assert define_bytes(build_define(traced, specs, lengths, CREATED)) == define_bytes(
        build_define(datasets, specs, lengths, CREATED)
    )


def test_datasets_disagreeing_with_the_spec_are_reported_both_ways(datasets, specs, lengths, tmp_path):
    dm = datasets["DM"].drop(columns=["AGE"]).assign(EXTRA="x")
    with pytest.raises(OutputCheckError) as err:
        write_define({**datasets, "DM": dm}, specs, lengths, CREATED, tmp_path / "define.xml")
    assert "not in the dataset ['AGE']" in str(err.value)
    assert "not in the spec ['EXTRA']" in str(err.value)
    assert not (tmp_path / "define.xml").exists()


def test_missing_lengths_are_reported(datasets, specs, lengths):
    short = {**lengths, "EX": {k: v for k, v in lengths["EX"].items() if k != "EXLOT"}}
    with pytest.raises(OutputCheckError, match=r"EX: no XPT length .*EXLOT"):
        build_define(datasets, specs, short, CREATED)


@pytest.mark.parametrize("created", ["2026-10-31", "31/10/2026 00:00", ""])
def test_created_must_be_an_iso_datetime(datasets, specs, lengths, created):
    with pytest.raises(ValueError, match="created"):
        build_define(datasets, specs, lengths, created)


def test_check_oids_reports_dangling_duplicate_and_unused(datasets, specs, lengths):
    root = build_define(datasets, specs, lengths, CREATED)
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    ig = mdv.find("odm:ItemGroupDef", NS)
    ET.SubElement(ig, f"{{{NS['odm']}}}ItemRef", {"ItemOID": "IT.DM.NOPE", "Mandatory": "No"})
    mdv.append(mdv.find("odm:MethodDef", NS))  # the same MethodDef twice
    ET.SubElement(mdv, f"{{{NS['odm']}}}CodeList", {"OID": "CL.UNUSED", "Name": "x", "DataType": "text"})
    problems = check_oids(root)
    assert "ItemDef IT.DM.NOPE referenced but not defined" in problems
    assert any(p.startswith("MethodDef ") and p.endswith("defined 2 times") for p in problems)
    assert "CodeList CL.UNUSED defined but never referenced" in problems


def test_text_is_escaped(datasets, specs, lengths, tmp_path):
    label = 'Demo <b>"&"</b>'
    dm = dataclasses.replace(specs.sdtm["DM"], label=label)
    odd = dataclasses.replace(specs, sdtm={**specs.sdtm, "DM": dm})
    write_define(datasets, odd, lengths, CREATED, tmp_path / "define.xml")
    write_define_html(datasets, odd, lengths, tmp_path / "define.html")
    ig = ET.parse(tmp_path / "define.xml").getroot().find(".//odm:ItemGroupDef[@OID='IG.DM']", NS)
    assert ig.find("odm:Description/odm:TranslatedText", NS).text == label
    page = (tmp_path / "define.html").read_text(encoding="utf-8")
    assert "<b>" not in page
    assert "Demo &lt;b&gt;&quot;&amp;&quot;&lt;/b&gt;" in page


# --- define.html ----------------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Classes of the tables of a page and the first-column text of each row of the `dataset` tables."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.variables: list[list[str]] = []
        self._cell: list[str] | None = None
        self._first = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(attrs.get("class", ""))
            if attrs.get("class") == "dataset":
                self.variables.append([])
        elif tag == "tr":
            self._first = True
        elif tag == "td" and self._first and self.tables and self.tables[-1] == "dataset":
            self._cell, self._first = [], False
        elif tag == "td":
            self._first = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.variables[-1].append("".join(self._cell))
            self._cell = None


def test_define_html_has_one_table_per_dataset(datasets, specs, lengths, tmp_path):
    path = tmp_path / "define.html"
    write_define_html(datasets, specs, lengths, path)
    page = path.read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(page)
    assert parser.tables.count("dataset") == len(datasets)
    assert parser.variables == [specs.sdtm[d].names for d in datasets]
    for cls in ("codelists", "methods"):
        assert cls in parser.tables
    assert "(CL.ISO31661ALPHA3; external: ISO 3166-1 alpha-3, version 2020; used by DM.COUNTRY)" in page
    assert '<span class="code">QSTESTCD = MGADL01</span>' in page  # a where clause of QS's value-level metadata
    assert "<link" not in page and "<script" not in page  # self-contained


# --- helpers --------------------------------------------------------------------------------------------------


def _var(name: str, type_: str) -> Variable:
    return Variable(name, name, type_, 8, "Perm", "Timing", "Derived")


@pytest.mark.parametrize(
    ("name", "type_", "values", "expected"),
    [
        ("EXSTDTC", "Char", ["2025-06-17T11:59"], "datetime"),
        ("BRTHDTC", "Char", ["1984-08"], "datetime"),  # partial date: still an ISO 8601 --DTC
        ("EXTRT", "Char", ["S103"], "text"),
        ("EXSEQ", "Num", [1, 2, 3], "integer"),
        ("EXSTDY", "Num", [1.0, -3.0, None], "integer"),  # whole floats and a null
        ("EXENDY", "Num", [None, None], "integer"),  # nothing to contradict
        ("EXDOSE", "Num", [1.04, 2.0], "float"),
    ],
)
def test_item_data_type(name, type_, values, expected):
    dtype = "str" if type_ == "Char" else "Float64"
    assert item_data_type(_var(name, type_), pd.Series(values, dtype=dtype)) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.04, 2.0], 2),
        ([7.5, None], 1),
        ([0.125], 3),
        ([3.0], 0),
        ([1e-05], 5),  # not '1e-05'
    ],
)
def test_significant_digits(values, expected):
    assert significant_digits(pd.Series(values, dtype="Float64")) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["24"], "integer"),
        (["P18Y"], "durationDatetime"),
        (["P12M"], "durationDatetime"),
        (["2025-05-01"], "date"),
        (["2025-05-01T10:00"], "datetime"),
        (["3.4"], "text"),  # a version, not a number
        (["P"], "text"),  # not a duration
        (["SAFETY", "TOLERABILITY"], "text"),
        ([], "text"),
    ],
)
def test_value_data_type(values, expected):
    assert value_data_type(values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["72.5", "80"], "float"),  # a result with decimals (VSORRES of a weight)
        (["-0.25"], "float"),
        (["80", "75"], "integer"),
        (["3.4.1"], "text"),
        (["1.5 kg"], "text"),
    ],
)
def test_value_data_type_of_results(values, expected):
    assert value_data_type(values, decimals=True) == expected


@pytest.mark.parametrize(("values", "expected"), [(["ab", "abcd"], 4), ([], 1), (["é"], 2)])
def test_text_length(values, expected):
    assert text_length(values) == expected


# --- issue 21: a define.xml a reviewer accepts ------------------------------------------------------------------


def test_define_is_valid_against_the_define_xml_2_1_schema(written):
    odmlib = pytest.importorskip("odmlib")
    etree = pytest.importorskip("lxml.etree")
    xsd = Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(etree.parse(str(written))), [e.message for e in list(schema.error_log)[:5]]


@pytest.mark.parametrize(
    ("variable", "method"),
    [("QSORRES", None), ("QSSTRESC", "MT.QS.QSSTRESC"), ("QSSTRESN", "MT.QS.QSSTRESN")],
)
def test_qs_results_have_value_level_metadata_by_qstestcd(mdv, datasets, variable, method):
    qs = datasets["QS"]
    vl = mdv.find(f"def:ValueListDef[@OID='VL.QS.{variable}']", NS)
    assert [r.get("ItemOID") for r in vl] == [f"IT.QS.{variable}.{c}" for c in sorted(qs["QSTESTCD"].unique())]
    ref = vl.find(f"odm:ItemRef[@ItemOID='IT.QS.{variable}.MGADL01']", NS)
    assert (ref.get("MethodOID"), ref.get("Mandatory")) == (method, "No")  # the variable's method; Exp/Perm
    assert ref.find("def:WhereClauseRef", NS).get("WhereClauseOID") == "WC.QS.QSTESTCD.MGADL01"  # shared
    item = item_defs(mdv)[f"IT.QS.{variable}.MGADL01"]
    # MG-ADL item 1 (Talking) scores 0-3: one digit, an integer
    assert (item.get("Name"), item.get("DataType"), item.get("Length"), item.get("SASFieldName")) == (
        "MGADL01",
        "integer",
        "1",
        variable,
    )
    assert item.find("odm:Description/odm:TranslatedText", NS).text == "Talking"  # QSTEST of MGADL01
    total = item_defs(mdv)[f"IT.QS.{variable}.MGADLTOT"]
    longest = qs.loc[qs["QSTESTCD"] == "MGADLTOT", "QSORRES"].str.len().max()  # totals 0-24
    assert (total.get("DataType"), total.get("Length")) == ("integer", str(longest))
    origin = item.find("def:Origin", NS).get("Type")
    assert origin == ("Collected" if variable == "QSORRES" else "Derived")


def test_one_where_clause_per_test_code_checks_qstestcd(mdv):
    clauses = mdv.findall("def:WhereClauseDef[@OID='WC.QS.QSTESTCD.MGADL01']", NS)
    assert len(clauses) == 1  # QSORRES, QSSTRESC and QSSTRESN share it
    check = clauses[0].find("odm:RangeCheck", NS)
    assert (check.get("Comparator"), check.get(f"{{{NS['def']}}}ItemOID"), [v.text for v in check]) == (
        "EQ",
        "IT.QS.QSTESTCD",
        ["MGADL01"],
    )


def test_rs_result_value_level_has_the_mgfa_classes(mdv, specs):
    item = item_defs(mdv)["IT.RS.RSORRES.MGFACLS"]
    assert item.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.MGFACLS"
    cl = mdv.find("odm:CodeList[@OID='CL.MGFACLS']", NS)
    assert [i.get("CodedValue") for i in cl.findall("odm:CodeListItem", NS)] == specs.study.lookup(
        "instruments.MGFA.classes"
    )  # I, IIa, ... V: sponsor-defined (CT 2025-03-28 has no MGFA codelist), so no NCI code
    assert cl.find("odm:Alias", NS) is None


@pytest.mark.parametrize(
    ("dscat", "codelist"), [("PROTOCOL_MILESTONE", "CL.PROTMLST"), ("DISPOSITION_EVENT", "CL.NCOMPLT")]
)
def test_dsdecod_codelist_by_category(mdv, datasets, dscat, codelist):
    item = item_defs(mdv)[f"IT.DS.DSDECOD.{dscat}"]
    assert item.find("odm:CodeListRef", NS).get("CodeListOID") == codelist
    ds = datasets["DS"]
    used = set(ds.loc[ds["DSCAT"] == dscat.replace("_", " "), "DSDECOD"])
    listed = {i.get("CodedValue") for i in mdv.find(f"odm:CodeList[@OID='{codelist}']", NS)} - {None}
    assert listed == used  # the terms used, e.g. PROTMLST: INFORMED CONSENT OBTAINED, ENTERED INTO TRIAL


def test_epoch_codelist_lists_only_the_epochs_used_with_nci_codes(mdv, datasets):
    used = set().union(*(set(f["EPOCH"].dropna()) for f in datasets.values() if "EPOCH" in f))
    assert used == {"SCREENING", "TREATMENT", "FOLLOW-UP"}
    cl = mdv.find("odm:CodeList[@OID='CL.EPOCH']", NS)
    got = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name") for i in cl.findall("odm:EnumeratedItem", NS)}
    assert got == {"SCREENING": "C202487", "TREATMENT": "C101526", "FOLLOW-UP": "C202578"}  # not CT's 15 epochs
    assert cl.find("odm:Alias", NS).attrib == {"Context": "nci:ExtCodeID", "Name": "C99079"}


@pytest.mark.parametrize(
    ("item", "codelist", "dictionary", "version"),
    [
        ("IT.DM.COUNTRY", "CL.ISO31661ALPHA3", "ISO 3166-1 alpha-3", "2020"),
        ("IT.TS.TSVALNF", "CL.ISO21090NULLFLAVOR", "ISO 21090 NullFlavor", "2011"),
        ("IT.AE.AEDECOD", "CL.MEDDRA", "MedDRA", "27.1"),
    ],
)
def test_external_codelists(mdv, item, codelist, dictionary, version):
    assert item_defs(mdv)[item].find("odm:CodeListRef", NS).get("CodeListOID") == codelist
    ext = mdv.find(f"odm:CodeList[@OID='{codelist}']/odm:ExternalCodeList", NS)
    assert (ext.get("Dictionary"), ext.get("Version")) == (dictionary, version)


@pytest.mark.parametrize("name", ["AEDECOD", "AEBODSYS", "AESOC"])
def test_dictionary_coded_variables_are_assigned(mdv, name):
    origin = item_defs(mdv)[f"IT.AE.{name}"].find("def:Origin", NS)
    assert (origin.get("Type"), origin.get("Source")) == ("Assigned", "Sponsor")  # Define-XML 2.1: coded
    assert origin.find("odm:Description/odm:TranslatedText", NS).text.startswith("MedDRA 27.1, coded from ")


@pytest.mark.parametrize(
    ("variable", "terms"),
    [
        ("QSCAT", ["MG-ADL", "QMG"]),  # instruments used in QS, not MGFA
        ("RSCAT", ["MGFA clinical classification"]),
        ("AETOXGR", ["1", "2", "3", "4", "5"]),
    ],
)
def test_sponsor_codelists_of_categories_and_grades(mdv, datasets, variable, terms):
    domain = variable[:2]
    oid = item_defs(mdv)[f"IT.{domain}.{variable}"].find("odm:CodeListRef", NS).get("CodeListOID")
    listed = [i.get("CodedValue") for i in mdv.find(f"odm:CodeList[@OID='{oid}']", NS).findall("odm:CodeListItem", NS)]
    assert listed == terms
    assert set(datasets[domain][variable].dropna()) <= set(listed)


def test_suppae_gives_its_parent_domain(mdv):
    ig = mdv.find("odm:ItemGroupDef[@OID='IG.SUPPAE']", NS)
    assert (ig.get("Domain"), ig.get("Name"), ig.get("SASDatasetName")) == ("AE", "SUPPAE", "SUPPAE")
    assert ig.find("odm:Alias", NS).attrib == {"Context": "DomainDescription", "Name": "Adverse Events"}
    assert ig.find("def:Class", NS).get("Name") == "RELATIONSHIP"
    assert mdv.find("odm:ItemGroupDef[@OID='IG.AE']", NS).find("odm:Alias", NS) is None


def test_the_stylesheet_is_named_and_renders_every_dataset(written, datasets, tmp_path):
    etree = pytest.importorskip("lxml.etree")
    second = written.read_text(encoding="utf-8").splitlines()[1]
    assert second == '<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>'
    from flows.transfer.define import write_stylesheet

    xsl = write_stylesheet(tmp_path)
    assert "The MIT License" in xsl.read_text(encoding="utf-8")[:600]  # its licence travels with it
    page = str(etree.XSLT(etree.parse(str(xsl)))(etree.parse(str(written))))
    for domain in datasets:
        assert f"{domain} (" in page or f">{domain}<" in page, domain
    for shown in ('QSTESTCD</a> = "MGADL01" (Talking)', "CL.EPOCH", "ISO 3166-1 alpha-3", "C202487"):
        assert shown in page, shown  # a where clause of the VLM, a codelist, an external one, an NCI code


def test_a_findings_dataset_gets_value_level_metadata_by_its_key_alone(specs, tmp_path):
    """VS-like: value_level on a result, its unit and its number is all a new Findings dataset needs."""
    from flows.spec.model import DomainSpec
    from flows.transfer.define import define_metadata

    def var(name: str, type_: str = "Char", **keys) -> Variable:
        return Variable(name, name, type_, 8 if type_ == "Num" else 20, "Exp", "Result Qualifier", "Assigned", **keys)

    by = {"by": "VSTESTCD"}
    spec = DomainSpec(
        "VS",
        "Vital Signs",
        "FINDINGS",
        "One record per vital sign measurement per visit per subject",
        ("VSTESTCD",),
        None,
        (
            var("VSTESTCD"),
            var("VSTEST"),
            var("VSORRES", value_level=by),
            var("VSORRESU", codelist="UNIT", value_level=by),
            var("VSSTRESN", "Num", value_level=by),
        ),
        tmp_path / "vs.yaml",
        {"from": "vitals"},
    )
    frame = pd.DataFrame(
        {
            "VSTESTCD": ["WEIGHT", "WEIGHT", "HEIGHT"],
            "VSTEST": ["Weight", "Weight", "Height"],
            "VSORRES": ["72.5", "101.25", "170"],  # weights with decimals, a whole height
            "VSORRESU": ["kg", "kg", None],
            "VSSTRESN": pd.array([72.5, 101.25, 170.0], dtype="Float64"),
        }
    ).astype({c: "str" for c in ("VSTESTCD", "VSTEST", "VSORRES", "VSORRESU")})
    odd = dataclasses.replace(specs, sdtm={**specs.sdtm, "VS": spec})
    meta = define_metadata({"VS": frame}, odd, {"VS": xpt_lengths(frame, spec)})
    items = {i.oid: i for i in meta.items}
    weight = items["IT.VS.VSORRES.WEIGHT"]
    assert (weight.data_type, weight.length, weight.digits, weight.label) == ("float", 5, 2, "Weight")  # 101.25
    assert (items["IT.VS.VSORRES.HEIGHT"].data_type, items["IT.VS.VSORRES.HEIGHT"].length) == ("integer", 3)
    assert (items["IT.VS.VSSTRESN.WEIGHT"].data_type, items["IT.VS.VSSTRESN.WEIGHT"].digits) == ("float", 2)
    unit = items["IT.VS.VSORRESU.WEIGHT"]
    cl = next(c for c in meta.codelists if c.oid == unit.codelist)
    assert [(t.value, t.code) for t in cl.terms] == [("kg", "C28252")]  # the unit used, not 10^6/kg
    assert [w.oid for w in meta.where_clauses] == ["WC.VS.VSTESTCD.HEIGHT", "WC.VS.VSTESTCD.WEIGHT"]


def test_a_value_outside_its_value_level_codelist_stops_define(datasets, specs, lengths):
    ds = datasets["DS"].copy()
    ds.loc[ds["DSCAT"] == "DISPOSITION EVENT", "DSDECOD"] = "LEFT EARLY"  # no NCOMPLT term
    with pytest.raises(
        OutputCheckError, match=r"DS.DSDECOD where DISPOSITION EVENT: \['LEFT EARLY'\] not in codelist NCOMPLT"
    ):
        build_define({**datasets, "DS": ds}, specs, lengths, CREATED)


# --- the annotated CRF ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linked(datasets, specs, lengths, tmp_path_factory) -> Path:
    """define.xml linked to acrf.pdf: every Collected variable on a page (hand-made: page 1 + its dataset's index)."""
    pages = {
        f"{d}.{v.name}": (1 + i, 2 + i) if d == "DS" else (1 + i,)
        for i, (d, s) in enumerate(specs.sdtm.items())
        for v in s.variables
        if v.origin == "Collected"
    }
    for i, (d, s) in enumerate(specs.sdtm.items()):  # collected SUPP-- qualifiers (SUPPEX.EXTOTCEL): by QNAM
        for q in ((s.records or {}).get("supplemental") or {}).get("qualifiers", []):
            if q["qorig"] == "Collected":
                pages[f"{d}.{q['qnam']}"] = (1 + i,)
    path = tmp_path_factory.mktemp("linked") / "define.xml"
    write_define(datasets, specs, lengths, CREATED, path, acrf=pages)
    return path


def test_linked_define_is_valid_against_the_define_xml_2_1_schema(linked, written):
    odmlib = pytest.importorskip("odmlib")
    from lxml import etree

    xsd = Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    for path in (linked, written):
        assert schema.validate(etree.parse(str(path))), schema.error_log.filter_from_errors()[:3]


def test_annotated_crf_and_a_page_reference_on_every_collected_origin(linked, specs):
    mdv = ET.parse(linked).getroot().find("odm:Study/odm:MetaDataVersion", NS)
    tags = [local(el.tag) for el in mdv]
    assert tags[tags.index("Standards") + 1] == "AnnotatedCRF"  # Define-XML 2.1: after def:Standards
    assert mdv.find("def:AnnotatedCRF/def:DocumentRef", NS).get("leafID") == "LF.acrf"
    assert mdv.find("def:leaf[@ID='LF.acrf']", NS).get(f"{XLINK}href") == "acrf.pdf"
    order = {d: i for i, d in enumerate(specs.sdtm)}
    collected = 0  # variables; their value-level items (IT.QS.QSORRES.MGADL01) take their pages too
    for item in mdv.findall("odm:ItemDef", NS):
        origin = item.find("def:Origin", NS)
        ref = origin.find("def:DocumentRef[@leafID='LF.acrf']/def:PDFPageRef", NS)
        if origin.get("Type") != "Collected":
            assert ref is None, item.get("OID")
            continue
        collected += item.get("OID").count(".") == 2
        domain = item.get("OID").split(".")[1]
        expected = f"{1 + order[domain]} {2 + order[domain]}" if domain == "DS" else f"{1 + order[domain]}"
        assert (ref.get("Type"), ref.get("PageRefs")) == ("PhysicalRef", expected), item.get("OID")
    assert collected == 46  # the Collected variables of the specs, VS and the MedDRA terms (Assigned) included
    assert check_oids(ET.parse(linked).getroot()) == []


def test_a_collected_variable_without_a_page_is_refused(datasets, specs, lengths):
    root = build_define(datasets, specs, lengths, CREATED)
    with pytest.raises(OutputCheckError, match=r"IT.AE.AESPID is Collected but no page of acrf.pdf shows it"):
        link_acrf(root, {"DM.SEX": (5,)})
    assert ACRF_LEAF.href == "acrf.pdf"


@pytest.mark.parametrize(
    "oid, pages, expected",
    [
        ("IT.AE.AETERM", {"AE.AETERM": (1,)}, "1"),
        ("IT.QS.QSORRES.MGADL01", {"QS.QSORRES": (2, 3)}, "2 3"),  # a value-level item: its variable's pages
        ("IT.SUPPAE.QVAL.AETRMX", {"SUPPAE.AETRMX": (1,)}, "1"),  # a collected qualifier: its QNAM's
    ],
)
def test_link_acrf_finds_the_page_of_a_value_level_item(oid, pages, expected):
    odm = ET.fromstring(
        f'<ODM xmlns="{NS["odm"]}" xmlns:def="{NS["def"]}"><Study><MetaDataVersion><def:Standards/>'
        f'<ItemDef OID="{oid}"><def:Origin Type="Collected"/></ItemDef>'
        f'<ItemDef OID="IT.AE.AESEQ"><def:Origin Type="Derived"/></ItemDef></MetaDataVersion></Study></ODM>'
    )
    link_acrf(odm, pages)
    refs = odm.findall(".//def:PDFPageRef", NS)
    assert [r.get("PageRefs") for r in refs] == [expected]  # the Derived origin gets none


# --- issue 22: adam/define.xml, the analysis datasets' define -----------------------------------------------------


@pytest.fixture(scope="module")
def adam_written(analysis, specs, tmp_path_factory) -> Path:
    lengths = {d: xpt_lengths(f, specs.adam[d]) for d, f in analysis.items()}
    path = tmp_path_factory.mktemp("define") / "define.xml"
    meta = define_metadata(analysis, specs, lengths, analysis=True)
    write_define(analysis, specs, lengths, CREATED, path, meta)
    return path


def test_define_adam_is_valid_against_the_define_xml_2_1_schema(adam_written):
    odmlib = pytest.importorskip("odmlib")
    etree = pytest.importorskip("lxml.etree")
    xsd = Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(etree.parse(str(adam_written))), [e.message for e in list(schema.error_log)[:5]]


def test_define_adam_says_adamig_classes_dates_and_methods(adam_written):
    mdv = ET.parse(adam_written).getroot().find("odm:Study/odm:MetaDataVersion", NS)
    standard = mdv.find("def:Standards/def:Standard[@Type='IG']", NS)
    assert (standard.get("Name"), standard.get("Version")) == ("ADaMIG", "1.3")
    groups = mdv.findall("odm:ItemGroupDef", NS)
    assert [g.get("Name") for g in groups] == ["ADSL", "ADAE", "ADQS", "ADRS"]  # the subject-level dataset first
    classes = {g.get("Name"): g.find("def:Class", NS).get("Name") for g in groups}
    assert classes == {
        "ADSL": "SUBJECT LEVEL ANALYSIS DATASET",
        "ADAE": "OCCURRENCE DATA STRUCTURE",
        "ADQS": "BASIC DATA STRUCTURE",
        "ADRS": "BASIC DATA STRUCTURE",
    }
    assert all(g.get("Purpose") == "Analysis" and g.get("Domain") is None for g in groups)
    items = item_defs(mdv)
    trtsdt = items["IT.ADSL.TRTSDT"]
    assert (trtsdt.get("DataType"), trtsdt.get(f"{{{NS['def']}}}DisplayFormat")) == ("integer", "DATE9.")
    # a derived variable has its method, a predecessor its source
    ref = mdv.find("odm:ItemGroupDef[@Name='ADQS']/odm:ItemRef[@ItemOID='IT.ADQS.CHG']", NS)
    method = mdv.find(f"odm:MethodDef[@OID='{ref.get('MethodOID')}']", NS)
    assert "AVAL - BASE" in "".join(method.itertext())
    origin = items["IT.ADSL.AGE"].find("def:Origin", NS)
    assert origin.get("Type") == "Predecessor" and "DM.AGE" in "".join(origin.itertext())


def test_define_adam_html_names_the_analysis_datasets(analysis, specs, tmp_path):
    lengths = {d: xpt_lengths(f, specs.adam[d]) for d, f in analysis.items()}
    path = tmp_path / "define.html"
    write_define_html(analysis, specs, lengths, path, define_metadata(analysis, specs, lengths, analysis=True))
    page = path.read_text(encoding="utf-8")
    assert "ADaM data definitions" in page and "SUBJECT LEVEL ANALYSIS DATASET" in page and "TRTSDT" in page


class _InBlocks(dict):
    """Datasets kept in blocks of `size` rows (as run/spill.Spilled keeps them), read whole only when asked."""

    def __init__(self, datasets: dict[str, pd.DataFrame], size: int) -> None:
        super().__init__(datasets)
        self.size, self.read_whole = size, []

    def __getitem__(self, domain: str) -> pd.DataFrame:
        self.read_whole.append(domain)
        return super().__getitem__(domain)

    def chunks(self, domain: str):
        frame = super().__getitem__(domain)
        for start in range(0, max(len(frame), 1), self.size):
            yield frame.iloc[start : start + self.size]

    def in_blocks(self, domain: str) -> bool:
        return True

    def rows(self, domain: str) -> int:
        return len(super().__getitem__(domain))

    def columns(self, domain: str) -> list[str]:
        return list(super().__getitem__(domain).columns)


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_datasets_in_blocks_are_described_alike_from_their_sketch_without_being_read_whole(
    size, datasets, analysis, specs, lengths
):
    """define.xml of datasets kept in blocks comes from each block's first row of every distinct value and value-level
    combination: every type, length, digit, term used, value-level definition and record count the same."""
    blocks = _InBlocks(datasets, size)
    assert define_metadata(blocks, specs, lengths) == define_metadata(datasets, specs, lengths)
    assert blocks.read_whole == []
    adam_lengths = {d: xpt_lengths(f, specs.adam[d]) for d, f in analysis.items()}
    whole = define_metadata(analysis, specs, adam_lengths, analysis=True)
    assert define_metadata(_InBlocks(analysis, size), specs, adam_lengths, analysis=True) == whole


def test_a_sketch_keeps_the_first_row_of_each_value_in_order(specs):
    spec = specs.sdtm["QS"]
    frame = pd.DataFrame({v.name: pd.Series([None] * 6, dtype="str") for v in spec.variables})
    frame["QSTESTCD"] = ["A", "A", "B", "A", "B", "C"]
    frame["QSORRES"] = ["1", "1", "2", "3", None, "1"]
    sketch = define_sketch([frame.iloc[:3], frame.iloc[3:]], spec)
    # rows 0 and 2 of the first block; of the second every row brings a new (QSTESTCD, QSORRES) or value
    assert sketch["QSTESTCD"].tolist() == ["A", "B", "A", "B", "C"]
    assert sketch["QSORRES"].tolist()[:2] == ["1", "2"]

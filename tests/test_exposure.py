"""EX and SUPPEX of the sample: the total cells infused (dosing's total_cells) reach the transfer as SUPPEX
EXTOTCEL (SDTMIG 3.4 section 8.4: EXDOSU is the unit of EXDOSE, 10^6 cells/kg, so the total cannot sit in EX),
read back with pyreadstat and pyarrow and compared with values worked out by hand from the raw files."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from tests.conftest import RAW, STUDYID


@pytest.fixture(scope="module")
def xpt(sample_export) -> dict[str, pd.DataFrame]:
    _, transfer = sample_export
    return {d: pyreadstat.read_xport(transfer / "xpt" / f"{d}.xpt")[0] for d in ("ex", "suppex")}


@pytest.mark.parametrize(
    ("number", "dose", "weight", "total"),
    [
        ("0009", 1.94, 73.3, "142.2"),  # dosing line 8: 1.94 x 73.3 = 142.202 (10^6 cells)
        ("0031", 8.15, 45.0, "366.8"),  # dosing line 23: 8.15 x 45.0 = 366.75, recorded 366.8
    ],
)
def test_total_cells_of_named_subjects(xpt, number, dose, weight, total):
    usubjid = f"{STUDYID}-01-{number}"
    (ex,) = xpt["ex"][xpt["ex"]["USUBJID"] == usubjid].to_dict("records")
    supp = xpt["suppex"][xpt["suppex"]["USUBJID"] == usubjid]
    assert len(supp) == 1
    row = supp.iloc[0]
    assert (row["RDOMAIN"], row["IDVAR"], row["IDVARVAL"]) == ("EX", "EXSEQ", str(int(ex["EXSEQ"])))
    assert (row["QNAM"], row["QLABEL"], row["QVAL"]) == ("EXTOTCEL", "Total Cells Administered (10^6 cells)", total)
    assert (row["QORIG"], row["QEVAL"]) == ("Collected", "")  # objective collected data: no evaluator
    assert (ex["EXDOSE"], ex["EXDOSU"]) == (dose, "10^6/kg")  # per kg: the total has no place in EX
    assert float(row["QVAL"]) == pytest.approx(dose * weight, abs=0.0501)  # rounded to 0.1


def test_one_total_per_infusion_equal_to_the_raw_form(sample_export, xpt):
    """Every infusion has its record, with the value the form holds (Parquet, read with pyarrow)."""
    _, transfer = sample_export
    supp = pq.read_table(transfer / "parquet" / "suppex.parquet").to_pandas()
    raw = pd.read_csv(RAW / "dosing.csv", dtype=str)
    assert len(supp) == len(raw) == len(xpt["ex"])
    got = dict(zip(supp["USUBJID"].str.rsplit("-", n=1).str[1], supp["QVAL"], strict=True))
    assert got == dict(zip(raw["subject"], raw["total_cells"], strict=True))
    assert supp["QEVAL"].isna().all()


def test_define_gives_the_collected_total_its_raw_source(sample_export):
    """The value-level ItemDef of QVAL where QNAM is EXTOTCEL: Collected by the investigator from dosing.csv's
    total_cells, with no derivation method (read with ElementTree)."""
    _, transfer = sample_export
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    root = ET.parse(transfer / "define.xml").getroot()
    item = root.find(".//odm:ItemDef[@OID='IT.SUPPEX.QVAL.EXTOTCEL']", ns)
    origin = item.find("def:Origin", ns)
    assert (origin.get("Type"), origin.get("Source")) == ("Collected", "Investigator")
    assert origin.find("odm:Description/odm:TranslatedText", ns).text == "dosing.csv column total_cells"
    ref = root.find(".//def:ValueListDef[@OID='VL.SUPPEX.QVAL']/odm:ItemRef", ns)
    assert ref.get("ItemOID") == "IT.SUPPEX.QVAL.EXTOTCEL" and ref.get("MethodOID") is None
    group = root.find(".//odm:ItemGroupDef[@OID='IG.SUPPEX']", ns)
    assert group.find("def:leaf", ns).get("{http://www.w3.org/1999/xlink}href") == "xpt/suppex.xpt"

"""The safety review of summary.html on the sample, exported at a data cut and in full, read back from the transfer:
provisional DLTs, pending decisions, and the raw rows each table leaves out because validation rejected them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from flows.run.pipeline import run_export
from tests.conftest import RAW, STUDYID, run_cli
from tests.test_summary import tables

CUT = "2025-10-20"
SVG = "{http://www.w3.org/2000/svg}"


def notes_after(html: str, table_id: str) -> list[str]:
    """The texts of the notes between the table `table_id` and the next heading."""
    tail = html[html.index(f'<table id="{table_id}">') :]
    tail = tail[tail.index("</table>") : re.search(r"<h[234]>", tail).start()]
    return [unescape(t) for t in re.findall(r'<p class="note[^"]*">(.*?)</p>', tail, flags=re.DOTALL)]


@pytest.fixture(scope="module")
def at_cut(tmp_path_factory) -> Path:
    """`s103-sdtm export --cutoff 2025-10-20` of the sample, as a user runs it: the transfer published."""
    out = tmp_path_factory.mktemp("cut")
    proc = run_cli("export", "--raw", str(RAW), "--out", str(out), "--cutoff", CUT, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return (out / STUDYID / "latest").resolve()


def dlt_rows(transfer: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    html = (transfer / "summary.html").read_text(encoding="utf-8")
    got = tables(html)
    return got["safety-dlt"].set_index("Dose level"), got["safety-dlt-listing"], html


def test_at_the_cut_the_dl2_anaemia_is_a_provisional_dlt_and_dl2_pending(at_cut):
    level, listing, html = dlt_rows(at_cut)
    # The transfer's SUPPAE flags 01-0015's anaemia (grade 3, related, day 20, 2025-10-01, no end date at the cut):
    # by the rule it is a DLT unless it resolves within 28 days, by 2025-10-29, after the cut.
    ae = pyreadstat.read_xport(at_cut / "xpt" / "ae.xpt")[0]
    supp = pyreadstat.read_xport(at_cut / "xpt" / "suppae.xpt")[0]
    anaemia = ae[(ae["USUBJID"] == f"{STUDYID}-01-0015") & (ae["AEDECOD"] == "Anaemia")].iloc[0]
    assert (anaemia["AESTDTC"], anaemia["AEENDTC"], anaemia["AESTDY"], anaemia["AETOXGR"]) == (
        "2025-10-01",
        "",
        20,
        "3",
    )
    flag = supp[(supp["USUBJID"] == anaemia["USUBJID"]) & (supp["QNAM"] == "DLTFL")]
    assert flag.set_index("IDVARVAL").loc[str(int(anaemia["AESEQ"])), "QVAL"] == "Y"

    dl2 = level.loc["DL2"]
    # 6 treated, all followed through day 28; DLTs: 01-0014's ICANS (stands) and 01-0015's anaemia (provisional)
    counts = ["Treated", "DLT-evaluable", "Not yet evaluable", "Subjects with a DLT", "of which provisional"]
    assert dl2[counts].tolist() == ["6", "6", "0", "2", "1"]
    assert dl2["Rule decides"] == "PENDING"  # not STOP: MTD EXCEEDED
    assert dl2["Why"] == (
        "ESCALATE in the best case, STOP: MTD EXCEEDED in the worst: 1 subject whose only DLT may turn out not to be "
        "one (01-0015)"
    )
    rows = listing.set_index(["Subject", "Event (AEDECOD)"])
    assert rows.loc[("01-0015", "Anaemia"), ["Dose level", "Status", "Why"]].tolist() == [
        "DL2",
        "provisional DLT",
        "no end date at 2025-10-20: a DLT only if it lasts more than 28 days (not resolved by 2025-10-29)",
    ]
    icans = "Immune effector cell-associated neurotoxicity syndrome"
    assert rows.loc[("01-0014", icans), ["Status", "Onset"]].tolist() == ["DLT", "2025-09-04 (day 3)"]
    # 01-0019 (DL3) was infused 2025-10-16: day 28 is 2025-11-12, after the cut
    assert rows.loc[("01-0019", ""), ["Status", "Why"]].tolist() == [
        "provisional: not yet evaluable",
        "no DLT so far; DLT window open at 2025-10-20 until 2025-11-12",
    ]
    assert level.loc["DL3", "Rule decides"] == "PENDING"
    assert "STOP: MTD EXCEEDED" not in level["Rule decides"].tolist()
    assert "Provisional, as of 2025-10-20" in unescape(html)
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", html, flags=re.DOTALL).group(0))
    kinds = [g.get("data-kind") for g in svg.iter(f"{SVG}g") if g.get("class") == "events" for _ in g]
    assert (kinds.count("DLT"), kinds.count("DLT (provisional)")) == (1, 1)  # 01-0014's ICANS, 01-0015's anaemia


def test_with_the_full_data_dl2_escalates_with_one_dlt(sample_export):
    _, transfer = sample_export
    level, listing, _ = dlt_rows(transfer)
    dl2 = level.loc["DL2"]
    # 01-0015's anaemia ended 2025-10-25, 24 days: the expected cytopenia, not a DLT; 01-0014's ICANS is 1 of 6
    assert dl2[["Treated", "DLT-evaluable", "Subjects with a DLT", "of which provisional"]].tolist() == [
        "6",
        "6",
        "1",
        "0",
    ]
    assert (dl2["Rule decides"], dl2["Why"]) == ("ESCALATE", "")
    assert listing["Status"].tolist() == ["DLT"] * 5  # every window closed: nothing provisional
    assert listing[listing["Dose level"] == "DL2"]["Subject"].tolist() == ["01-0014"]


def test_every_safety_table_says_the_rows_rejected_none_here(sample_export):
    _, transfer = sample_export
    html = (transfer / "summary.html").read_text(encoding="utf-8")
    ae = pyreadstat.read_xport(transfer / "xpt" / "ae.xpt")[0]
    assert len(ae) == 106  # raw/adverse_events.csv: 106 events, all of treated subjects
    assert notes_after(html, "safety-ae")[-1] == (
        "106 AE records (of treated subjects) counted; 0 rows of adverse_events.csv and 0 rows of enrollment.csv "
        "rejected at validation, not counted (see rejects.csv)."
    )
    for table in ("safety-demographics", "safety-disposition", "safety-exposure", "safety-dlt", "arms"):
        assert any("rejected at validation, not counted (see rejects.csv)" in n for n in notes_after(html, table)), (
            table
        )


BROKEN = (9, 14, 29)  # lines of raw/adverse_events.csv: headaches of 01-0004, 01-0005 and 01-0011, none a DLT


def test_rejected_ae_rows_are_counted_in_every_table_that_reads_ae(raw_copy, tmp_path, specs):
    path = raw_copy / "adverse_events.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    grade = lines[0].rstrip("\n").split(",").index("ctcae_grade")
    for n in BROKEN:
        fields = lines[n - 1].split(",")
        fields[grade] = "9"  # ctcae_grade: 1 to 5
        lines[n - 1] = ",".join(fields)
    path.write_text("".join(lines), encoding="utf-8")
    result = run_export(raw_copy, tmp_path / "out", specs)
    assert result.exit_code == 1, result.message
    transfer = result.transfer

    rejects = pd.read_csv(transfer / "rejects.csv", dtype=str)
    assert sorted(set(rejects.loc[rejects["file"] == "adverse_events.csv", "line"].astype(int))) == list(BROKEN)
    assert len(pyreadstat.read_xport(transfer / "xpt" / "ae.xpt")[0]) == 103  # 106 - 3

    html = (transfer / "summary.html").read_text(encoding="utf-8")
    got = tables(html)
    assert got["safety-ae"].set_index("Subjects with").loc["AE records", "Total"] == "103"
    assert notes_after(html, "safety-ae")[-1] == (
        "103 AE records (of treated subjects) counted; 3 rows of adverse_events.csv and 0 rows of enrollment.csv "
        "rejected at validation, not counted (see rejects.csv)."
    )
    dlt_note = notes_after(html, "safety-dlt")[0]  # DLTs of 01-0014, 01-0018, 01-0028 and 01-0031 (two)
    assert dlt_note.startswith("103 AE records (of treated subjects) read for DLTs, 4 subjects with a DLT; 3 rows of ")
    domains = got["domains"].set_index("Domain")
    assert domains.loc["AE", "Raw rows rejected, not counted"] == "3"
    assert domains.loc["SUPPAE", "Raw rows rejected, not counted"] == "3"  # its parent's rows
    assert (
        domains.loc["DM", "Raw rows rejected, not counted"] == "0"
        and domains.loc["TS", "Raw rows rejected, not counted"] == ""
    )
    picture = unescape(html[html.index("</svg>") :])
    assert "3 rows of adverse_events.csv rejected at validation" in picture
    # tables not reading AE say none of their input was rejected
    assert notes_after(html, "safety-exposure")[-1].endswith(
        "0 rows of enrollment.csv and 0 rows of dosing.csv rejected at validation, not counted (see rejects.csv)."
    )

"""Tests of flows/transfer/diff.py: rows added, removed and changed between two versions of a dataset, matched on its
keys, and variables whose metadata changed, on small hand-built datasets of named subjects."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.transfer.diff import (
    SHOWN,
    diff_domain,
    diff_transfers,
    differs,
    first_transfer,
    render_markdown,
    write_changes,
)

KEYS = ["STUDYID", "USUBJID"]


def dm(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["STUDYID", "USUBJID", "SEX", "AGE"]).astype({"AGE": "Int64"})


OLD = dm([("S103", "01-0001", "M", 40), ("S103", "01-0002", "F", 31), ("S103", "01-0003", "F", 55)])
NEW = dm([("S103", "01-0001", "M", 41), ("S103", "01-0002", "F", 31), ("S103", "01-0004", "M", 60)])


def test_rows_added_removed_and_changed_by_key():
    d = diff_domain(OLD, NEW, KEYS)
    assert d["added"] == [{"STUDYID": "S103", "USUBJID": "01-0004"}]
    assert d["removed"] == [{"STUDYID": "S103", "USUBJID": "01-0003"}]
    # 01-0002 is the same; 01-0001 had a birthday: only AGE is listed, as plain Python values
    assert d["changed"] == [{"key": {"STUDYID": "S103", "USUBJID": "01-0001"}, "changes": {"AGE": [40, 41]}}]
    assert type(d["changed"][0]["changes"]["AGE"][1]) is int


def test_missing_on_both_sides_is_no_change_and_missing_on_one_is():
    old = dm([("S103", "01-0001", None, None), ("S103", "01-0002", None, 31)])
    new = dm([("S103", "01-0001", None, None), ("S103", "01-0002", "F", None)])
    d = diff_domain(old, new, KEYS)
    assert d["changed"] == [
        {"key": {"STUDYID": "S103", "USUBJID": "01-0002"}, "changes": {"SEX": [None, "F"], "AGE": [31, None]}}
    ]


def test_keys_that_repeat_are_told_apart_by_seq():
    """AE's keys (STUDYID, USUBJID, AEDECOD) repeat for a term reported twice: --SEQ joins the keys."""
    cols = ["STUDYID", "USUBJID", "AEDECOD", "AESEQ", "AESEV"]
    old = pd.DataFrame(
        [("S103", "01-0001", "Pyrexia", 1, "MILD"), ("S103", "01-0001", "Pyrexia", 2, "MILD")], columns=cols
    )
    new = old.assign(AESEV=["MILD", "MODERATE"])
    d = diff_domain(old, new, ["STUDYID", "USUBJID", "AEDECOD"])
    assert d["changed"] == [
        {
            "key": {"STUDYID": "S103", "USUBJID": "01-0001", "AEDECOD": "Pyrexia", "AESEQ": 2},
            "changes": {"AESEV": ["MILD", "MODERATE"]},
        }
    ]
    assert d["added"] == d["removed"] == []


def test_a_key_missing_from_one_version_is_not_matched_on():
    d = diff_domain(OLD.drop(columns="SEX"), NEW, [*KEYS, "SEX"])
    assert [r["USUBJID"] for r in d["added"]] == ["01-0004"] and set(d["added"][0]) == set(KEYS)


def test_an_empty_version_adds_or_removes_every_row():
    assert [r["USUBJID"] for r in diff_domain(OLD.iloc[:0], NEW, KEYS)["added"]] == ["01-0001", "01-0002", "01-0004"]
    assert [r["USUBJID"] for r in diff_domain(OLD, NEW.iloc[:0], KEYS)["removed"]] == ["01-0001", "01-0002", "01-0003"]


def write_dataset(folder: Path, domain: str, frame: pd.DataFrame, labels: dict[str, str], keys: list[str]) -> None:
    """A Parquet file laid out as the transfer's writer lays it: labels on the fields, domain and keys in the schema."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [f.with_metadata({"label": labels[f.name]}) for f in table.schema]
    schema = pa.schema(fields, metadata={"domain": domain, "keys": ",".join(keys)})
    (folder / "parquet").mkdir(parents=True, exist_ok=True)
    pq.write_table(table.cast(schema), folder / "parquet" / f"{domain.lower()}.parquet")


LABELS = {"STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SEX": "Sex", "AGE": "Age"}


def transfers(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "20250701T000000Z", tmp_path / "20250801T000000Z"
    write_dataset(old, "DM", OLD, LABELS, KEYS)
    write_dataset(new, "DM", NEW, {**LABELS, "AGE": "Age at Consent"}, KEYS)
    write_dataset(old, "TI", pd.DataFrame({"STUDYID": ["S103"]}), LABELS, ["STUDYID"])  # gone from the new one
    write_dataset(new, "SV", pd.DataFrame({"STUDYID": ["S103"]}), LABELS, ["STUDYID"])  # new in the new one
    return old, new


def test_two_transfers_compared_by_domain(tmp_path):
    old, new = transfers(tmp_path)
    changes = diff_transfers(old, new)
    assert changes["previous"] == "20250701T000000Z"
    assert list(changes["domains"]) == ["DM", "SV", "TI"]
    assert changes["domains"]["SV"] == {"dataset": "added"} and changes["domains"]["TI"] == {"dataset": "removed"}
    d = changes["domains"]["DM"]
    assert (len(d["added"]), len(d["removed"]), len(d["changed"])) == (1, 1, 1)
    assert d["variables"] == {
        "added": [],
        "removed": [],
        "changed": {
            "AGE": {"old": {"label": "Age", "type": "int64"}, "new": {"label": "Age at Consent", "type": "int64"}}
        },
    }
    assert differs(changes)


def test_a_transfer_against_itself_has_no_change(tmp_path):
    old, _ = transfers(tmp_path)
    changes = diff_transfers(old, old)
    assert changes["domains"]["DM"] == {
        "added": [],
        "removed": [],
        "changed": [],
        "variables": {"added": [], "removed": [], "changed": {}},
    }
    assert not differs(changes)


def test_changes_md_counts_and_lists_without_studyid(tmp_path):
    text = render_markdown(diff_transfers(*transfers(tmp_path)))
    lines = text.splitlines()
    assert lines[0] == "# Changes since transfer 20250701T000000Z"
    assert "| DM | 1 | 1 | 1 | 1 |" in lines and "| SV | dataset added | | | |" in lines
    assert "- added: USUBJID=01-0004" in lines and "- removed: USUBJID=01-0003" in lines
    # an integer stays an integer though rows are on one side only (01-0003, 01-0004) in the outer merge
    assert "- changed USUBJID=01-0001: AGE: 40 -> 41" in lines
    assert lines[2] == "| domain | rows added | rows removed | rows changed | variables added, removed or changed |"
    assert (
        "- variable AGE metadata: {'label': 'Age', 'type': 'int64'} -> {'label': 'Age at Consent', 'type': 'int64'}"
        in lines
    )


def test_changes_md_lists_the_first_rows_only():
    many = {"added": [{"USUBJID": f"01-{i:04d}"} for i in range(SHOWN + 3)], "removed": [], "changed": []}
    many["variables"] = {"added": [], "removed": [], "changed": {}}
    lines = render_markdown({"previous": "T0", "domains": {"DM": many}}).splitlines()
    assert sum(line.startswith("- added:") for line in lines) == SHOWN
    assert lines[-1] == "- ... 3 more in changes.json"


def test_the_first_transfer_says_so(tmp_path):
    write_changes(first_transfer(), tmp_path)
    assert json.loads((tmp_path / "changes.json").read_text())["previous"] is None
    assert (tmp_path / "changes.md").read_text() == "# Changes\n\nfirst transfer of the study: nothing to compare\n"
    assert not differs(first_transfer())


def test_analysis_datasets_in_adam_are_compared_too(tmp_path):
    """ADSL in the transfers' adam/ folder: a subject's changed flag is a change of ADSL."""
    old, new = transfers(tmp_path)
    adsl = pd.DataFrame({"STUDYID": ["S103", "S103"], "USUBJID": ["01-0001", "01-0010"], "SAFFL": ["Y", "N"]})
    labels = {**LABELS, "SAFFL": "Safety Population Flag"}
    write_dataset(old / "adam", "ADSL", adsl, labels, KEYS)
    write_dataset(new / "adam", "ADSL", adsl.assign(SAFFL=["Y", "Y"]), labels, KEYS)  # 0010 dosed since
    d = diff_transfers(old, new)["domains"]["ADSL"]
    assert (len(d["added"]), len(d["removed"]), len(d["changed"])) == (0, 0, 1)
    assert "01-0010" in json.dumps(d["changed"])

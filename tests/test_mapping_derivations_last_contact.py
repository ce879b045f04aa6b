"""derivations/last_contact.py: the latest date of the subject over its own and its child files."""

from __future__ import annotations

import pandas as pd

from flows.mapping.derivations.last_contact import child_files, last_dates_by_subject, raw_reads
from tests.mapping_cases import context, run, s


def test_last_dates_by_subject_over_several_columns():
    frame = pd.DataFrame(
        {"subject": ["1", "1", "2"], "a": ["2025-06-01", None, None], "b": ["2025-05-01", "2025-07-02T10:00", None]},
        dtype="str",
    )
    out = last_dates_by_subject(frame, ["subject"], ["a", "b"])
    assert out["d"].tolist()[0] == "2025-07-02" and pd.isna(out["d"].iloc[1])  # a datetime counts by its date


def test_last_contact_reads_the_child_files(specs):
    assert set(child_files(specs, "enrollment")) == {
        "adverse_events",
        "assessments",
        "dosing",
        "eligibility",
        "vital_signs",
    }
    assert set(raw_reads(specs.sdtm["DM"], specs)) == set(child_files(specs, "enrollment"))
    empty = {n: pd.DataFrame({c.name: pd.Series(dtype="str") for c in specs.raw[n].columns}) for n in specs.raw}
    dosing = empty["dosing"].copy()
    dosing.loc[0, ["site", "subject", "start"]] = ["01", "0001", "2025-07-01"]
    ctx = context(
        specs,
        {"consent": ["2025-05-21", "2025-05-22"]},
        variables={"USUBJID": s("CART-20250321-01-0001", "CART-20250321-01-0002")},
        contract="enrollment",
        valid={**empty, "dosing": dosing},
    )
    out = run("{derivation: last_contact, dates: [consent]}", ctx)
    assert out.tolist() == ["2025-07-01", "2025-05-22"]  # a dose after consent; no child rows: consent

"""algorithms/usubjid.py: STUDYID-SITEID-SUBJID, refused without a SUBJID column."""

from __future__ import annotations

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.algorithms.usubjid import check_subject_columns
from tests.mapping_cases import context, run


def test_usubjid_joins_study_site_and_subject(specs):
    ctx = context(specs, {"site": ["01", "02"], "subject": ["0001", "0007"]}, contract="enrollment")
    assert run("usubjid", ctx).tolist() == ["CART-20250321-01-0001", "CART-20250321-02-0007"]


def test_usubjid_needs_records_from_a_raw_file(specs):
    with pytest.raises(SpecError, match="usubjid needs records from a raw file"):
        check_subject_columns({}, specs.sdtm["TS"], specs, "ts.USUBJID")  # TS: a record source

"""algorithms/seq.py: --SEQ in key order within the subject, for the sequence variable only."""

from __future__ import annotations

import pytest

from flows.mapping.algorithms.seq import keys_read
from flows.mapping.context import KEY_ORDER
from tests.mapping_cases import context, run, s


def test_seq_numbers_records_in_key_order_within_subject(specs):
    variables = {
        "USUBJID": s("B", "A", "A", "B", "A"),
        "AEDECOD": s("x", "y", "x", "x", "x"),  # A: x, x, y; B: x, x (a tie: record order)
    }
    ctx = context(specs, variables=variables, domain="AE")  # AE's keys: those derived so far order the records
    out = run("seq", ctx)
    assert out.tolist() == [1, 3, 1, 2, 2]
    assert ctx.cache[KEY_ORDER][0] == ("USUBJID", "AEDECOD")  # the order is kept for the sort


def test_seq_reads_the_keys_and_numbers_the_sequence_variable_only(specs):
    ae = specs.sdtm["AE"]
    assert set(keys_read(ae, "AESEQ")) == {"STUDYID", "USUBJID", "AEDECOD", "AESTDTC", "AESPID"}
    with pytest.raises(ValueError, match=r"seq numbers the domain's sequence variable only \(seq: AESEQ\)"):
        keys_read(ae, "AETERM")

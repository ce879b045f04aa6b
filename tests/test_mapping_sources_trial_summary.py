"""sources/trial_summary.py: TS from study.yaml, with facts measured on the data."""

from __future__ import annotations

import dataclasses

import pytest

from flows.kernel.errors import SpecError
from flows.mapping.sources.trial_summary import DATA_FACTS, RECORD_SOURCE, check_data_facts
from tests.mapping_cases import context, s


def test_trial_summary_takes_data_facts(specs):
    dm = {"ARMCD": s("DL1", None, "DL2")}  # two subjects with an arm: ACTSUB 2
    ctx = context(specs, datasets={"DM": dm})
    ctx.facts = {"data_as_of": "2026-01-31"}  # no cut: the data-as-of date
    ts = RECORD_SOURCE.run(ctx).set_index("TSPARMCD")
    assert ts.loc["ACTSUB", "TSVAL"] == "2" and ts.loc["DCUTDTC", "TSVAL"] == "2026-01-31"
    assert ts.loc["STYPE", "TSVALCD"] is not None and ts.loc["STYPE", "TSVCDREF"] == "CDISC CT"


def test_the_data_facts(specs):
    ctx = context(specs, datasets={"DM": {"ARMCD": s("DL1", None)}})
    ctx.facts = {"cutoff": "2025-12-31", "data_as_of": "2026-01-31"}
    assert DATA_FACTS["enrolled_subjects"](ctx) == 1 and DATA_FACTS["cutoff"](ctx) == "2025-12-31"  # the cut first


def test_an_unknown_data_fact_is_refused_at_load(specs):
    entries = [*specs.study.data["trial_summary"], {"parmcd": "X", "from": "data.treated"}]
    study = dataclasses.replace(specs.study, data={**specs.study.data, "trial_summary": entries})
    with pytest.raises(SpecError, match=r"trial_summary\[\d+\].from: unknown data fact 'data.treated'"):
        check_data_facts(dataclasses.replace(specs, study=study))


def test_the_cutoff_description_says_cut_or_data_as_of(specs):
    ctx = context(specs, datasets={"DM": {"ARMCD": s("DL1")}})
    ctx.facts = {"cutoff": "2025-10-20", "data_as_of": "2025-10-20"}
    assert DATA_FACTS["cutoff_description"](ctx) == "Data cut of the transfer: the data known on or before 2025-10-20"
    ctx.facts = {"data_as_of": "2026-10-26"}
    assert DATA_FACTS["cutoff_description"](ctx).startswith("No data cut: the data as of 2026-10-26")


# Each parameter the issue asked for, read back from the published XPT with pyreadstat: (TSSEQ, TSVAL, TSVALNF,
# TSVALCD, TSVCDREF, TSVCDVER), from specs/study.yaml and the CT 2025-03-28 codes by hand.
NEW_PARAMETERS = {
    "ADAPT": [(1, "N", "", "C49487", "CDISC CT", "2025-03-28")],  # NY: N
    "OBJSEC": [(1, "", "UNK", "", "", "")],  # the registry states no objectives
    "OUTMSPRI": [(1, "", "UNK", "", "", "")],  # nor outcome measures
    "TDIGRP": [(1, "Myasthenia gravis", "", "91637004", "SNOMED", "")],
    "DCUTDESC": [(1, "No data cut: the data as of 2026-10-26, the latest date in the valid raw data", "", "", "", "")],
    "DCUTDTC": [(1, "2026-10-26", "", "", "ISO 8601", "")],
    "DOSE": [
        (1, "1.0", "", "", "", ""),
        (2, "2.0", "", "", "", ""),
        (3, "4.0", "", "", "", ""),
        (4, "8.0", "", "", "", ""),
    ],
    "DOSU": [(1, "10^6/kg", "", "C198380", "CDISC CT", "2025-03-28")],
    "DOSFRQ": [(1, "ONCE", "", "C64576", "CDISC CT", "2025-03-28")],
    "ROUTE": [(1, "INTRAVENOUS", "", "C38276", "CDISC CT", "2025-03-28")],
    "SENDTC": [(1, "", "NAV", "", "", "")],  # ongoing: not yet available
    "INDIC": [(1, "Refractory generalized myasthenia gravis", "", "91637004", "SNOMED", "")],
    "REGID": [(1, "NCT06958939", "", "NCT06958939", "ClinicalTrials.gov", "")],
    "FCNTRY": [(1, "CHN", "", "CHN", "ISO 3166", "2020")],
    "TRT": [(1, "S103 CAR-T CELLS", "", "", "", "")],  # no UNII for the product
}


@pytest.mark.parametrize("parmcd", sorted(NEW_PARAMETERS))
def test_new_parameters_in_the_published_xpt(sample_export, parmcd):
    pyreadstat = pytest.importorskip("pyreadstat")
    _, transfer = sample_export
    ts, _ = pyreadstat.read_xport(str(transfer / "xpt" / "ts.xpt"))
    rows = ts[ts["TSPARMCD"] == parmcd].sort_values("TSSEQ")
    columns = ["TSSEQ", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER"]
    got = [(int(r[0]), *r[1:]) for r in rows[columns].itertuples(index=False)]
    assert got == NEW_PARAMETERS[parmcd]


def test_tsval_is_null_exactly_where_tsvalnf_is_given(sample_export):
    pyreadstat = pytest.importorskip("pyreadstat")
    _, transfer = sample_export
    ts, meta = pyreadstat.read_xport(str(transfer / "xpt" / "ts.xpt"))
    assert ((ts["TSVAL"] == "") == (ts["TSVALNF"] != "")).all()  # SDTMIG 3.4 TS: TSVALNF only when TSVAL is null
    assert meta.column_names_to_labels["TSVALNF"] == "Parameter Value Null Flavor"
    assert list(ts.columns).index("TSVALNF") == list(ts.columns).index("TSVAL") + 1  # SDTMIG 3.4 variable order


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"parmcd": "OBJSEC", "null_flavor": "UNKNOWN"}, "'UNKNOWN' is not an ISO 21090 null flavor"),
        ({"parmcd": "OBJSEC", "null_flavor": "UNK", "value": "x"}, "null_flavor is for a value not known"),
        ({"parmcd": "INDIC", "from": "indication", "code_from": "indication_snomed"}, "code_from needs ref"),
        ({"parmcd": "DOSE", "from": "arms.dose", "code_from": "indication_snomed", "ref": "X"}, "one code per value"),
    ],
)
def test_broken_trial_summary_codes_are_refused_at_load(specs, entry, message):
    from flows.spec.checks import check_study

    entries = [*specs.study.data["trial_summary"], entry]
    study = dataclasses.replace(specs.study, data={**specs.study.data, "trial_summary": entries})
    with pytest.raises(SpecError, match=message):
        check_study(dataclasses.replace(specs, study=study))

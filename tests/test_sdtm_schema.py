"""flows.spec.sdtm_schema: a dataset conformed to its spec, and every output check failure reported as a pipeline
bug."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from flows.kernel.errors import OutputCheckError
from flows.spec.sdtm_schema import conform, quick_schema, sdtm_schema


def published(sample_export, name: str) -> pd.DataFrame:
    return pd.read_parquet(sample_export[1] / "parquet" / f"{name}.parquet")


def test_a_published_dataset_passes_its_checks_again(sample_export, specs):
    qs = published(sample_export, "qs")
    pd.testing.assert_frame_equal(conform(qs, specs.sdtm["QS"], specs), qs, check_dtype=False)


def test_a_duplicated_key_is_a_pipeline_bug_naming_the_key(sample_export, specs):
    qs = published(sample_export, "qs")
    twice = pd.concat([qs, qs.iloc[:2]], ignore_index=True)  # two records again: same USUBJID and QSSEQ
    with pytest.raises(OutputCheckError, match=r"QS: 4 output check failure\(s\).*USUBJID\+QSSEQ: not unique"):
        conform(twice, specs.sdtm["QS"], specs)


def test_a_value_off_the_codelist_is_reported(sample_export, specs):
    qs = published(sample_export, "qs")
    qs.loc[0, "QSLOBXFL"] = "N"  # the spec allows Y only
    with pytest.raises(OutputCheckError, match=r"QS: 1 output check failure\(s\).*QSLOBXFL: not in codelist NY"):
        conform(qs, specs.sdtm["QS"], specs)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("QSLOBXFL", "N", "QSLOBXFL: not in codelist NY ('N')"),  # off the codelist
        ("QSTESTCD", "X" * 9, "QSTESTCD: longer than 8 characters ('XXXXXXXXX')"),  # Length 8
        ("QSORRES", "café", "QSORRES: non-ASCII text ('café')"),  # not ASCII
        ("QSTESTCD", "ÉÉÉÉÉÉÉÉÉ", "QSTESTCD: longer than 8 characters"),  # two checks fail on one value: both named
        ("QSTESTCD", "ÉÉÉÉÉÉÉÉÉ", "QSTESTCD: non-ASCII text"),
        ("USUBJID", None, "USUBJID: not_nullable"),  # Req
    ],
)
def test_each_failing_check_is_named_with_its_value(sample_export, specs, column, value, expected):
    """The output check runs every variable's checks in one pass; a failure is explained check by check."""
    qs = published(sample_export, "qs")
    qs[column] = qs[column].astype("object")
    qs.loc[3, column] = value
    with pytest.raises(OutputCheckError, match=r"QS: .*output check failure") as caught:
        conform(qs, specs.sdtm["QS"], specs)
    assert expected in str(caught.value)


@pytest.mark.parametrize("rows", [40, 5000])  # checked on the rows, and on the distinct values (above 4,096 rows)
def test_quick_schema_passes_exactly_when_the_separate_checks_pass(specs, rows):
    """quick_schema (one check per variable) and sdtm_schema (one per rule) agree, failing value or not."""
    spec = specs.sdtm["TI"]
    good = pd.DataFrame({v.name: ["X"] * rows if v.type == "Char" else [1.0] * rows for v in spec.variables})
    good = good.astype({v.name: "str" for v in spec.variables if v.type == "Char"})
    char = next(v for v in spec.variables if v.type == "Char" and not v.codelist)
    coded = next(v for v in spec.variables if v.codelist)
    good[coded.name] = sorted(specs.codelists[coded.codelist].values if not coded.values else coded.values)[0]
    good = good.astype({coded.name: "str"})
    bad_length = good.assign(**{char.name: good[char.name].mask(good.index == 1, "Y" * (char.length + 1))})
    bad_term = good.assign(**{coded.name: good[coded.name].mask(good.index == rows - 1, "NOT A TERM")})
    for frame, passes in ((good, True), (bad_length, False), (bad_term, False)):
        verdicts = []
        for schema in (quick_schema(spec, specs), sdtm_schema(spec, specs)):
            try:
                schema.validate(frame, lazy=True)
                verdicts.append(True)
            except pa.errors.SchemaErrors:
                verdicts.append(False)
        assert verdicts == [passes, passes]


def test_terms_that_are_not_text_are_compared_as_the_separate_check_compares_them(specs):
    """A codelist given as numbers (values: [1, 2] in a spec) never matches the text "1" in either schema."""
    import dataclasses

    spec = specs.sdtm["TI"]

    def term(v):
        return sorted(v.values or specs.codelists[v.codelist].values)[0] if v.codelist else "X"

    frame = pd.DataFrame({v.name: [term(v)] if v.type == "Char" else [1.0] for v in spec.variables})
    frame = frame.astype({v.name: "str" for v in spec.variables if v.type == "Char"})
    coded = next(v for v in spec.variables if v.type == "Char" and v.codelist)
    for values, value, passes in (((coded.values or None), term(coded), True), ((1, 2), "1", False)):
        odd = dataclasses.replace(coded, values=values)
        changed = dataclasses.replace(spec, variables=tuple(odd if v is coded else v for v in spec.variables))
        data = frame.assign(**{coded.name: pd.Series([value], dtype="str")})
        for schema in (quick_schema(changed, specs), sdtm_schema(changed, specs)):
            try:
                schema.validate(data, lazy=True)
                verdict = True
            except pa.errors.SchemaErrors:
                verdict = False
            assert verdict == passes, (values, schema.name)

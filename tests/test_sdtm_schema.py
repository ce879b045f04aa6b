"""flows.sdtm_schema: a dataset conformed to its spec, and every output check failure reported as a pipeline bug."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.errors import OutputCheckError
from flows.sdtm_schema import conform


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

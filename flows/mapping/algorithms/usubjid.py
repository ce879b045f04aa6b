"""USUBJID: STUDYID-SITEID-SUBJID from the record's columns of role SITEID and SUBJID (STUDYID-SUBJID without a
SITEID column); the records must come from a raw file with a column of role SUBJID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.kernel.keys import subject_ids
from flows.mapping.context import Context
from flows.mapping.vocabulary import Operation
from flows.spec.model import DomainSpec, Specs


def usubjid(ctx: Context) -> pd.Series:
    return subject_ids(ctx.records, ctx.contract.subject_columns, ctx.specs.study.studyid)


def check_subject_columns(args: Mapping[str, Any], spec: DomainSpec, specs: Specs, where: str) -> None:
    contract = specs.raw.get(spec.raw_sources[0]) if spec.raw_sources else None
    if not contract or not contract.role("SUBJID"):
        raise SpecError(f"{where}: usubjid needs records from a raw file with a column of role: SUBJID")


ALGORITHM = Operation(
    name="usubjid",
    doc=__doc__,
    example="USUBJID: usubjid",
    params=(),
    run=usubjid,
    check=check_subject_columns,
    roles=("SITEID", "SUBJID"),
)

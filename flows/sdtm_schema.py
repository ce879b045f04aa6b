"""Generate pandera schemas of the SDTM datasets from specs/sdtm/*.yaml and check every dataset before writing."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from flows.distinct import duplicated, per_value_check, shared_codes
from flows.errors import OutputCheckError
from flows.specs import DomainSpec, Specs, Variable

TRACE = ["_file", "_line"]  # raw source of each record, carried beside the SDTM variables


def _checks(var: Variable, specs: Specs) -> list[pa.Check]:
    """Element-wise checks, each run once per distinct value (a dataset repeats a few values millions of times)."""
    checks = []
    if var.type == "Char":
        n = var.length
        fits = per_value_check(lambda s: (s.str.len() <= n) | s.isna())
        checks.append(pa.Check(fits, error=f"longer than {var.length} characters"))
        checks.append(pa.Check(per_value_check(lambda s: s.str.isascii() | s.isna()), error="non-ASCII text"))
    if var.codelist:
        allowed = frozenset(var.values or specs.codelists[var.codelist].values)
        checks.append(
            pa.Check(per_value_check(lambda s: s.isin(allowed) | s.isna()), error=f"not in codelist {var.codelist}")
        )
    return checks


def unique_key(spec: DomainSpec) -> list[str]:
    """The variables that identify a record: the keys, or USUBJID and --SEQ in a dataset with a --SEQ."""
    return list(spec.keys) if not spec.seq else ["USUBJID", spec.seq]


def sdtm_schema(spec: DomainSpec, specs: Specs) -> pa.DataFrameSchema:
    """Columns in spec order, Req variables never null, lengths and terms (conform checks the unique key)."""
    columns = {
        v.name: pa.Column(
            "str" if v.type == "Char" else None,
            checks=_checks(v, specs),
            nullable=v.core != "Req",
            required=True,
        )
        for v in spec.variables
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=spec.domain)


def conform(frame: pd.DataFrame, spec: DomainSpec, specs: Specs) -> pd.DataFrame:
    """The dataset in spec order with text as str and numbers as numbers, checked against its schema."""
    missing = [n for n in spec.names if n not in frame]
    extra = [c for c in frame if c not in spec.names and c not in TRACE]
    if missing or extra:
        raise OutputCheckError(f"{spec.domain}: variables missing from the derivation {missing}, not in spec {extra}")
    out = frame[spec.names]  # copy on write: setting a column here leaves `frame` as it is
    for v in spec.variables:
        if v.type == "Char":
            out[v.name] = out[v.name].astype("str")
        elif not pd.api.types.is_numeric_dtype(out[v.name]):
            out[v.name] = pd.to_numeric(out[v.name]).astype("Float64")
    failures = []
    with shared_codes():  # each column encoded once for all its checks and the key
        try:
            sdtm_schema(spec, specs).validate(out, lazy=True, inplace=True)  # checked, not changed: no copy
        except pa.errors.SchemaErrors as exc:
            fc = exc.failure_cases[["column", "check", "failure_case"]]
            failures += [f"{c}: {k} ({v!r})" for c, k, v in fc.itertuples(index=False)]
        key = unique_key(spec)
        twice = duplicated(out, key)  # on integer codes: a hash of ten million text keys takes seconds
        if twice.any():
            first = out.loc[twice, key].head(5).astype(str).agg("/".join, axis=1)
            failures += [f"{'+'.join(key)}: not unique ({v!r})" for v in first]
            failures += [""] * (int(twice.sum()) - len(first))  # counted, not shown
    if failures:
        shown = "; ".join(f for f in failures[:5] if f)
        raise OutputCheckError(f"{spec.domain}: {len(failures)} output check failure(s), a pipeline bug: {shown}")
    return out

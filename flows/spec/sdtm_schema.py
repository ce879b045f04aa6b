"""Generate pandera schemas of the SDTM datasets from specs/sdtm/*.yaml and check every dataset before writing."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from flows.kernel.distinct import distinct_values, duplicated, per_value_check, shared_codes
from flows.kernel.errors import OutputCheckError
from flows.spec.model import DomainSpec, Specs, Variable

TRACE = ["_file", "_line"]  # raw source of each record, carried beside the SDTM variables
TEXT = pd.api.types.pandas_dtype("str")


def fits(n: int) -> Callable[[pd.Series], pd.Series]:
    """Text of at most n characters (null passes): an SDTM text variable's length."""
    return lambda s: (s.str.len() <= n) | s.isna()


def ascii_text(s: pd.Series) -> pd.Series:
    """ASCII text (null passes): all that SAS XPORT v5 holds."""
    return s.str.isascii() | s.isna()


def _checks(var: Variable, specs: Specs) -> list[pa.Check]:
    """Element-wise checks, each run once per distinct value (a dataset repeats a few values millions of times)."""
    checks = []
    if var.type == "Char":
        checks.append(pa.Check(per_value_check(fits(var.length)), error=f"longer than {var.length} characters"))
        checks.append(pa.Check(per_value_check(ascii_text), error="non-ASCII text"))
    if var.codelist:
        allowed = _allowed(var, specs)
        checks.append(
            pa.Check(per_value_check(lambda s: s.isin(allowed) | s.isna()), error=f"not in codelist {var.codelist}")
        )
    return checks


def _allowed(var: Variable, specs: Specs) -> frozenset | None:
    return frozenset(var.values or specs.codelists[var.codelist].values) if var.codelist else None


def _every(test: Callable[[pd.Series], bool]) -> Callable[[pd.Series], bool]:
    """A whole-column check run on the distinct values of a large column (a few values repeated millions of times)."""

    def run(values: pd.Series) -> bool:
        distinct = distinct_values(values)
        return test(values if distinct is None else distinct.rows.iloc[:, 0])

    return run


def _all_at_once(var: Variable, specs: Specs) -> Callable[[pd.Series], bool]:
    """Every check of `_checks` on the variable, and its text type, in one pass of Arrow kernels: True when all pass."""
    allowed = _allowed(var, specs)
    as_text = allowed is not None and all(isinstance(t, str) for t in allowed)  # else compared as pandas compares
    terms = pyarrow.array(sorted(allowed), pyarrow.string()) if as_text else None
    n = var.length

    def other(values: pd.Series) -> bool:
        return allowed is None or bool((values.isin(allowed) | values.isna()).all())

    def text(values: pd.Series) -> bool:
        if values.dtype != TEXT or not isinstance(values.array, pd.arrays.ArrowStringArray):
            return False  # not text as conform makes it: the separate checks (and pandera's dtype check) decide
        data = pyarrow.array(values.array)
        ok = pc.and_(pc.less_equal(pc.utf8_length(data), n), pc.string_is_ascii(data))
        if terms is not None:
            ok = pc.and_(ok, pc.is_in(data, value_set=terms))
        passes = bool(pc.all(ok, skip_nulls=True, min_count=0).as_py())  # a null value passes, as in _checks
        return passes and (terms is not None or other(values))

    return _every(text if var.type == "Char" else other)


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


def quick_schema(spec: DomainSpec, specs: Specs) -> pa.DataFrameSchema:
    """sdtm_schema with every variable's checks and text type in one check of the dataset: passes exactly when
    sdtm_schema passes (a failure of it is then explained by sdtm_schema).

    On a small dataset pandera's own cost per check (about 1 ms: preprocessing, the dtype check, failure cases) was
    most of the output check, ten times the checks' work; the separate checks run only when this one fails."""
    tests = [(v.name, _all_at_once(v, specs)) for v in spec.variables if v.type == "Char" or v.codelist]
    columns = {v.name: pa.Column(nullable=v.core != "Req", required=True) for v in spec.variables}
    every = pa.Check(lambda frame: all(test(frame[name]) for name, test in tests), error="output checks")
    return pa.DataFrameSchema(columns, checks=[every], strict=True, ordered=True, name=spec.domain)


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> list[str]:
    """`column: check (value)` for every failure of the schema on frame."""
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases[["column", "check", "failure_case"]]
        return [f"{c}: {k} ({v!r})" for c, k, v in fc.itertuples(index=False)]
    return []


def conform(frame: pd.DataFrame, spec: DomainSpec, specs: Specs) -> pd.DataFrame:
    """The dataset in spec order with text as str and numbers as numbers, checked against its schema."""
    missing = [n for n in spec.names if n not in frame]
    extra = [c for c in frame if c not in spec.names and c not in TRACE]
    if missing or extra:
        raise OutputCheckError(f"{spec.domain}: variables missing from the derivation {missing}, not in spec {extra}")
    out = frame[spec.names]  # copy on write: setting a column here leaves `frame` as it is
    for v in spec.variables:
        if v.type == "Char":
            if out[v.name].dtype != TEXT:  # already text: no copy
                out[v.name] = out[v.name].astype("str")
        elif not pd.api.types.is_numeric_dtype(out[v.name]):
            out[v.name] = pd.to_numeric(out[v.name]).astype("Float64")
    failures = []
    with shared_codes():  # each column encoded once for all its checks and the key
        try:  # checked, not changed: no copy
            quick_schema(spec, specs).validate(out, lazy=True, inplace=True)
        except pa.errors.SchemaErrors:  # which check failed, on which value
            failures += _failures(sdtm_schema(spec, specs), out)
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

"""Generate the pandera schema of a raw file from its contract and the study facts it refers to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import pandera.pandas as pa

from flows.kernel.dates import is_valid
from flows.kernel.distinct import per_value_check
from flows.spec.model import VALUE_FORMATS, Copy, RawColumn, RawContract, Specs
from flows.spec.sdtm_schema import ascii_text, fits

NUMBER = r"-?[0-9]+(\.[0-9]+)?"  # ASCII digits: \d takes every script's, which no number parser reads
INTEGER = r"-?[0-9]+"


@dataclass(frozen=True)
class RawSchema:
    """A pandera schema plus, per (column, message), the rule name that rejects report."""

    schema: pa.DataFrameSchema
    rules: dict[tuple[str, str], str]


def _matches(pattern: str):
    return lambda s: s.str.fullmatch(pattern).fillna(False).astype(bool) | s.isna()


def _in_range(lo: float | None, hi: float | None):
    def check(s: pd.Series) -> pd.Series:
        num = pd.to_numeric(s, errors="coerce")
        ok = pd.Series(True, index=s.index)
        if lo is not None:
            ok &= ~(num < lo)
        if hi is not None:
            ok &= ~(num > hi)
        return ok

    return check


DATE_TYPES = ("date", "partial_date", "datetime")


def _unless_valid(out: pd.Series, s: pd.Series, kind: str) -> pd.Series:
    """`out` (True: in bounds), with a value that is not a valid date of the kind passing too (the type check
    reports it); validity is worked out for the values out of bounds only, usually none."""
    if out.all():
        return out
    out = out.copy()
    out[~out] = ~is_valid(s[~out], kind)
    return out


def _not_before(kind: str, earliest: str):
    """A value of the date kind whose latest possible day is on or after `earliest` (a partial date is a range)."""
    return lambda s: _unless_valid(~((s.str.slice(0, 10) + "~") < earliest).fillna(False).astype(bool), s, kind)


def not_after(kind: str, latest: str):
    """A value of the date kind whose earliest possible day is on or before `latest`."""
    return lambda s: _unless_valid(~(s.str.slice(0, 10) > latest).fillna(False).astype(bool), s, kind)


FUTURE_DATE = "date_in_future"  # the one rule whose verdict depends on the run's date, not only on the inputs


def earliest_date(col: RawColumn, specs: Specs) -> str | None:
    """The lower bound of a date column: its own `earliest`, else the study's `plausible_dates.earliest`."""
    return col.earliest or (specs.study.data.get("plausible_dates") or {}).get("earliest")


def _date_checks(col: RawColumn, specs: Specs, today: date | None) -> list[tuple[str, str, object]]:
    """Plausible dates: not before the column's or the study's earliest date, not after the run's date."""
    checks: list[tuple[str, str, object]] = []
    if earliest := earliest_date(col, specs):
        source = "its contract's earliest" if col.earliest else "study plausible_dates.earliest"
        checks.append(("date_too_early", f"must not be before {earliest} ({source})", _not_before(col.type, earliest)))
    if today is not None:
        msg = f"must not be after today ({today.isoformat()} at the study's sites)"
        checks.append((FUTURE_DATE, msg, not_after(col.type, today.isoformat())))
    return checks


def _column_checks(col: RawColumn, specs: Specs, today: date | None = None) -> list[tuple[str, str, object]]:
    """(rule, message, vectorised check) for one column, in the order they are reported."""
    checks: list[tuple[str, str, object]] = []
    if col.type == "integer":
        checks.append(("type:integer", "must be a whole number", _matches(INTEGER)))
    elif col.type == "float":
        checks.append(("type:number", "must be a decimal number", _matches(NUMBER)))
    elif col.type in DATE_TYPES:
        shape = {"date": "YYYY-MM-DD", "partial_date": "YYYY, YYYY-MM or YYYY-MM-DD", "datetime": "YYYY-MM-DDThh:mm"}
        expected = f"ISO 8601 {shape[col.type]}"
        if col.format and col.format != "ISO 8601":
            expected = f"{col.format} (e.g. {VALUE_FORMATS[col.format]})"
        checks.append((f"type:{col.type}", f"must be a valid {expected}", lambda s, k=col.type: is_valid(s, k)))
        checks += _date_checks(col, specs, today)
    if col.min is not None or col.max is not None:
        checks.append(("range", f"must be between {col.min} and {col.max}", _in_range(col.min, col.max)))
    if col.pattern:
        checks.append(("pattern", f"must match {col.pattern}", _matches(col.pattern)))
    if col.codelist:
        allowed = sorted(col.values or specs.codelists[col.codelist].values)
        shown = allowed if len(allowed) <= 8 else [*allowed[:8], "..."]
        msg = f"not a term of codelist {col.codelist} (CT {specs.ct_release}): expected one of {shown}"
        checks.append((f"codelist:{col.codelist}", msg, lambda s, a=frozenset(allowed): s.isin(a) | s.isna()))
    elif col.values:
        checks.append(
            ("values", f"must be one of {list(col.values)}", lambda s, a=frozenset(col.values): s.isin(a) | s.isna())
        )
    if col.values_from:
        allowed = specs.study.allowed(col.values_from)
        msg = f"must be one of {allowed} (study {col.values_from})"
        checks.append((f"study:{col.values_from}", msg, lambda s, a=frozenset(allowed): s.isin(a) | s.isna()))
    return checks


def _copy_checks(copies: tuple[Copy, ...]) -> list[tuple[str, str, object]]:
    """A column an SDTM text variable copies: ASCII (SAS XPORT v5 holds nothing else), no white space at its end
    (XPORT drops it, CSV and Dataset-JSON keep it), and no longer than the shortest variable that takes every value
    of it. ASCII and length are the output check's own tests (flows.spec.sdtm_schema), run on the raw rows first."""
    if not copies:
        return []
    names = ", ".join(c.variable for c in copies)
    checks: list[tuple[str, str, object]] = [
        ("ascii", f"must be ASCII text (it becomes {names}; SAS XPORT v5 holds ASCII only)", ascii_text),
        (
            "trailing_blank",
            "must not end in white space (SAS XPORT v5 drops it: the formats would disagree, and a blank value "
            "would be missing)",
            _no_trailing_blank,
        ),
    ]
    if whole := [(c.length, c.variable) for c in copies if c.length is not None]:
        n, variable = min(whole)
        checks.append(("length", f"must be at most {n} characters ({variable}'s length)", fits(n)))
    return checks


def _no_trailing_blank(s: pd.Series) -> pd.Series:
    return (s.str.rstrip() == s).fillna(True).astype(bool)


def raw_schema(contract: RawContract, specs: Specs, today: date | None = None) -> RawSchema:
    """Build the lazy-validation schema of one raw file: nullability, types, plausible dates (none after `today`,
    the run's date at the study's sites), ranges, patterns, terms, and for a column an SDTM text variable copies,
    ASCII, no white space at its end and the variable's length (`_copy_checks`).

    Every check is element-wise, so each runs once per distinct value of its column.
    """
    columns, rules = {}, {}
    copies = specs.copies
    for col in contract.columns:
        checks = []
        found = _column_checks(col, specs, today) + _copy_checks(copies.get((contract.name, col.name), ()))
        for rule, message, fn in found:
            checks.append(pa.Check(per_value_check(fn), error=message, name=rule))
            rules[(col.name, message)] = rule
        columns[col.name] = pa.Column(nullable=not col.required, checks=checks, required=True)
        rules[(col.name, "not_nullable")] = "required"
    return RawSchema(pa.DataFrameSchema(columns, strict=False, name=contract.file), rules)

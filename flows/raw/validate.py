"""Validate raw files: lazy pandera checks, row rules, keys and cross-file rules, collected into rejects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from flows.kernel.dates import completed_years, impute_first, parse_date
from flows.kernel.distinct import (
    Distinct,
    code_dtype,
    distinct_rows,
    duplicated,
    representatives,
    rows_where,
    shared_codes,
    value_codes,
)
from flows.kernel.held import Held
from flows.raw.read import SOURCE, RawFile
from flows.spec.model import CONDITIONS, RawContract, Specs
from flows.spec.raw_schema import DATE_TYPES, FUTURE_DATE, not_after, raw_schema

REJECT_COLUMNS = ["file", "line", "column", "value", "rule", "message"]
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Validation:
    """Valid rows per raw file (typed, PII dropped), every rejected cell, and per-file row counts."""

    valid: dict[str, pd.DataFrame | Held]  # held compact when the raw rows were (flows.kernel.held)
    rejects: pd.DataFrame
    counts: dict[str, dict[str, int]]
    codes: dict = field(default_factory=dict, repr=False, compare=False)  # the codes of the valid rows' text
    # columns worked out while validating (kernel.distinct.shared_codes), for the derivation to resume; then cleared
    lines: dict[str, int] = field(default_factory=dict)  # physical lines of each file's valid records (the manifest
    # balances them once the derivation has used the rows up)


def reject(frame: pd.DataFrame, mask: pd.Series, column: str, rule: str, message: str | pd.Series) -> pd.DataFrame:
    """Reject records for the rows of frame where mask holds (index = line)."""
    keep = mask.fillna(False).astype(bool)
    hit = rows_where(frame, keep) if keep.index.equals(frame.index) else frame.loc[keep]
    msg = message[keep] if isinstance(message, pd.Series) else message
    values = hit[column].astype("str").where(hit[column].notna(), "") if column in hit else ""
    return pd.DataFrame(
        {"file": hit[SOURCE], "line": hit.index, "column": column, "value": values, "rule": rule, "message": msg}
    )


def site_dates(specs: Specs, now: datetime | None = None) -> dict[str, date]:
    """Each site's own date at the instant `now` (default: now), in its time zone (study.yaml sites[].timezone)."""
    now = now or datetime.now(UTC)
    return {str(site["id"]): now.astimezone(ZoneInfo(site["timezone"])).date() for site in specs.study.sites}


def site_today(specs: Specs, now: datetime | None = None) -> date:
    """The latest date at any of the study's sites: no data date and no cut-off may lie after it. A row of a site
    whose own date is still the day before is held to that date (site_future_rejects)."""
    return max(site_dates(specs, now).values())


def site_future_rejects(
    frame: pd.DataFrame, contract: RawContract, today: date, sites: Mapping[str, date]
) -> pd.DataFrame:
    """Dates after their own site's today that are not after the latest `today` (the schema rejects those): a date
    is judged by the calendar of the site that recorded it, not by another site's."""
    site_column, behind = contract.role("SITEID"), {s: d for s, d in sites.items() if d < today}
    if not site_column or not behind or frame.empty:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    parts = []
    rows_of = {site: (frame[site_column] == site).fillna(False).astype(bool) for site in sorted(behind)}
    for col in (c for c in contract.columns if c.type in DATE_TYPES):
        for site, day in sorted(behind.items()):
            at_site = rows_of[site]
            values = frame[col.name].where(at_site)
            after = ~not_after(col.type, day.isoformat())(values) & not_after(col.type, today.isoformat())(values)
            message = f"must not be after today ({day.isoformat()} at site {site})"
            parts.append(reject(frame, after & at_site, col.name, FUTURE_DATE, message))
    found = [p for p in parts if not p.empty]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=REJECT_COLUMNS)


def schema_rejects(frame: pd.DataFrame, contract: RawContract, specs: Specs, today: date | None = None) -> pd.DataFrame:
    """Every failing cell of the generated pandera schema (no date after `today`), validated lazily."""
    built = raw_schema(contract, specs, today)
    try:
        built.schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.dropna(subset=["index"])
        messages = fc["check"].astype(str)
        column = fc["column"].astype(str)
        rule_of = pd.Series({f"{c}\x1f{m}": r for (c, m), r in built.rules.items()}, dtype="str")
        rules = (column + "\x1f" + messages).map(rule_of).fillna(messages)
        lines = fc["index"].astype("int64").to_numpy()
        return pd.DataFrame(
            {
                "file": contract.file,
                "line": lines,
                "column": column.to_numpy(),
                "value": fc["failure_case"].astype("str").where(fc["failure_case"].notna(), "").to_numpy(),
                "rule": rules.to_numpy(),
                "message": messages.where(rules != "required", "is required").to_numpy(),
            }
        )
    return pd.DataFrame(columns=REJECT_COLUMNS)


def _resolve(contract: RawContract, specs: Specs, column: str, value: str) -> str:
    """A condition's value: a key of the column's values_from mapping resolves to its value; a value of a list (a
    visit of visits.schedule.visit) is itself."""
    source = contract.column(column).values_from
    if source:
        try:
            return str(specs.study.lookup(f"{source}.{value}"))
        except (KeyError, TypeError):  # TypeError: the values_from names a list's field, not a mapping
            pass
    return value


def _instrument_table(specs: Specs, rule: Mapping) -> pd.DataFrame:
    rows = []
    for name, inst in specs.study.data["instruments"].items():
        for item in inst.get("items", []):
            rows.append((name, item["code"], item["min"], item["max"]))
        if "total" in inst:
            rows.append((name, rule["total_item"], inst["total"]["min"], inst["total"]["max"]))
        if "classes" in inst:
            rows.append((name, rule["class_item"], np.nan, np.nan))
    return pd.DataFrame(rows, columns=["_inst", "_item", "lo", "hi"])


def _condition(frame: pd.DataFrame, contract: RawContract, specs: Specs, rule: Mapping) -> tuple[pd.Series, str]:
    """Rows where a rule's condition holds, and the condition in words.

    `when: {column: value}` compares with the value (a key of the column's `values_from` resolves to its value);
    `when_in: {column: [values]}` tests membership, the list given or named as a study fact (e.g. `arms.armcd`);
    `when_present: {column: true}` holds where the column has a value (`false`: where it is blank).
    Several entries must all hold.
    """
    applies = pd.Series(True, index=frame.index)
    words = []
    for column, value in rule.get("when", {}).items():
        target = _resolve(contract, specs, column, str(value))
        applies &= (frame[column] == target).fillna(False).astype(bool)
        words.append(f"{column} is {target}")
    for column, values in rule.get("when_in", {}).items():
        allowed = specs.study.allowed(values) if isinstance(values, str) else [str(v) for v in values]
        applies &= frame[column].isin(allowed).fillna(False).astype(bool)
        words.append(f"{column} is one of {', '.join(allowed)}")
    for column, present in rule.get("when_present", {}).items():
        applies &= frame[column].notna() if present else frame[column].isna()
        words.append(f"{column} is {'given' if present else 'blank'}")
    return applies, " and ".join(words)


RuleHit = tuple[pd.Series, str, str, "str | pd.Series"]  # mask, column, rule, message


def _targets(rule: Mapping) -> list[str]:
    """The column(s) a rule checks: `column` is one name or a list."""
    col = rule["column"]
    return [col] if isinstance(col, str) else list(col)


def _rule_columns(rule: Mapping) -> list[str]:
    """The columns a row rule reads."""
    kind, col = rule["rule"], rule["column"]
    if kind in ("required_if", "blank_if", "blank_unless", "any_of_if"):
        conditions = [c for key in CONDITIONS for c in rule.get(key, {})]
        return list(dict.fromkeys([*conditions, *_targets(rule)]))
    if kind == "same_within":
        return [rule["by"], col]
    if kind in ("not_before", "greater_than"):
        return [col, rule["other"]]
    if kind == "product_matches":
        return [col, *rule["factors"]]
    if kind == "instrument_result":
        return [rule["instrument_column"], rule["item_column"], col]
    if kind == "age_in_range":
        return [col, rule["at"], *rule.get("when", {})]
    return [col]


def _row_rule_checks(frame: pd.DataFrame, contract: RawContract, specs: Specs, rule: Mapping) -> list[RuleHit]:
    """(mask, column, rule, message) of one row rule on `frame`, which needs only the columns the rule reads."""
    kind, col = rule["rule"], rule["column"]
    if kind in ("required_if", "blank_if", "blank_unless"):
        applies, condition = _condition(frame, contract, specs, rule)
        if kind == "blank_unless":
            applies, condition = ~applies, "unless " + condition
        else:
            condition = "when " + condition
        hits = []
        for target in _targets(rule):
            bad = applies & (frame[target].isna() if kind == "required_if" else frame[target].notna())
            verb = "is required" if kind == "required_if" else "must be blank"
            hits.append((bad, target, kind, f"{verb} {condition}"))
        return hits
    if kind == "any_of_if":
        applies, condition = _condition(frame, contract, specs, rule)
        targets, value = _targets(rule), str(rule["value"])
        bad = applies & ~(frame[targets] == value).fillna(False).any(axis=1)
        return [(bad, "+".join(targets), kind, f"one of {', '.join(targets)} must be {value} when {condition}")]
    if kind == "same_within":
        by = rule["by"]
        seen = frame[[by, col]].dropna()
        ambiguous = seen[by][seen[by].duplicated(keep=False)]
        bad = frame[by].isin(ambiguous) & frame[col].notna()
        message = f"differs between rows with the same {by} (" + frame[by].astype("str") + ")"
        return [(bad, col, kind, message)]
    if kind == "not_before":
        other = rule["other"]
        a, b = frame[col].str.slice(0, 19), frame[rule["other"]].str.slice(0, 19)
        bad = a.notna() & b.notna() & ((a + "~") < b)  # a partial date is a range: only its end must be before
        return [(bad, col, kind, f"must not be before {other}")]
    if kind == "greater_than":
        other = rule["other"]
        a, b = pd.to_numeric(frame[col], errors="coerce"), pd.to_numeric(frame[other], errors="coerce")
        bad = a.notna() & b.notna() & (a <= b)
        return [(bad, col, kind, f"must be greater than {other} (" + frame[other].astype("str") + ")")]
    if kind == "product_matches":
        tol = float(specs.study.lookup(rule["tolerance_from"]))
        product = np.prod([pd.to_numeric(frame[f], errors="coerce") for f in rule["factors"]], axis=0)
        value = pd.to_numeric(frame[col], errors="coerce")
        bad = (value - product).abs() > tol * product
        return [(bad, col, kind, f"must equal {' x '.join(rule['factors'])} within {tol:.0%}")]
    if kind == "age_in_range":
        rng = specs.study.lookup(rule["range_from"])
        years = completed_years(impute_first(frame[col]), parse_date(frame[rule["at"]]))
        applies = pd.Series(True, index=frame.index)
        for when_col, when_val in (rule.get("when") or {}).items():
            applies &= frame[when_col] == _resolve(contract, specs, when_col, when_val)
        bad = applies & years.notna() & ((years < rng["min"]) | (years > rng["max"]))
        message = f"age at {rule['at']} " + years.astype("str") + f" outside {rng['min']}-{rng['max']}"
        return [(bad, col, kind, message + f" {str(rng.get('unit', 'years')).lower()}")]
    if kind == "instrument_result":
        inst_col, item_col = rule["instrument_column"], rule["item_column"]
        frame = frame.rename(columns={inst_col: "_inst", item_col: "_item"})
        table = _instrument_table(specs, rule)
        merged = frame[["_inst", "_item", col]].reset_index().merge(table, on=["_inst", "_item"], how="left")
        merged.index = frame.index
        known_inst = frame["_inst"].isin(table["_inst"])
        unknown_item = known_inst & merged["lo"].isna() & (frame["_item"] != rule["class_item"])
        is_class = (frame["_item"] == rule["class_item"]) & ~unknown_item
        pairs = {f"{n}|{c}" for n, i in specs.study.data["instruments"].items() for c in i.get("classes", [])}
        class_ok = (frame["_inst"] + "|" + frame[col]).isin(pairs)
        score = pd.to_numeric(frame[col].where(~is_class), errors="coerce")
        scored = known_inst & ~unknown_item & ~is_class & frame[col].notna()
        bad = scored & (score.isna() | (score % 1 != 0) | (score < merged["lo"]) | (score > merged["hi"]))
        lo, hi = (merged[c].astype("Int64").astype("str") for c in ("lo", "hi"))
        return [
            (unknown_item, item_col, "instrument_item", "is not an item of the instrument"),
            (is_class & ~class_ok, col, kind, "is not a class of the instrument"),
            (bad, col, kind, "must be a whole score between " + lo + " and " + hi),
        ]
    return []


def row_rule_rejects(frame: pd.DataFrame, contract: RawContract, specs: Specs) -> list[pd.DataFrame]:
    """Rules across the columns of one row, as declared in the contract's row_rules.

    A rule reads only its row, so it is evaluated once per distinct combination of the columns it reads.
    """
    out = []
    for rule in contract.row_rules:
        distinct = distinct_rows(frame, _rule_columns(rule))
        for mask, column, name, message in _row_rule_checks(distinct.rows, contract, specs, rule):
            hit = distinct.expand(mask.fillna(False).astype(bool), frame.index)
            if isinstance(message, pd.Series):
                message = distinct.expand(message, frame.index) if hit.any() else ""
            out.append(reject(frame, hit, column, name, message))
    return out


def _span(ragged: pd.DataFrame) -> pd.Series | str:
    """For a record over several lines (an unbalanced quote swallows every line up to the next quote): which."""
    if "last" not in ragged:
        return ""
    n = ragged["last"] - ragged["line"] + 1
    text = " (one record over lines " + ragged["line"].astype("str") + "-" + ragged["last"].astype("str")
    return (text + ": " + n.astype("str") + " physical lines; an unbalanced quote?)").where(n > 1, "")


def ragged_rejects(raw: RawFile) -> pd.DataFrame:
    """Rows with the wrong number of fields: no cell of them can be trusted, so the whole row is rejected."""
    width = len(raw.frame.columns) - 1
    return pd.DataFrame(
        {
            "file": raw.file,
            "line": raw.ragged["line"],
            "column": "",
            "value": "",
            "rule": "field_count",
            "message": f"expected {width} fields, got " + raw.ragged["fields"].astype("str") + _span(raw.ragged),
        }
    )


def key_rejects(frame: pd.DataFrame, contract: RawContract) -> pd.DataFrame:
    """Every row of a duplicated key: which copy is right cannot be known, so none is kept."""
    key = list(contract.key)
    dup = pd.Series(duplicated(frame, key), index=frame.index) & frame[key].notna().all(axis=1)
    return reject(frame, dup, "+".join(key), "duplicate_key", f"duplicate key ({', '.join(key)})")


def subject_key(frame: pd.DataFrame, contract: RawContract) -> pd.Series:
    """One text key per subject from the columns of role site and subject (the subject alone without a site)."""
    cols = contract.subject_columns
    return frame[cols[0]] + "-" + frame[cols[1]] if len(cols) == 2 else frame[cols[0]].astype("str")


def _isin(values: pd.Series, allowed: pd.Series) -> pd.Series:
    """values.isin(allowed), without pandas' per-element loop over a large `allowed` of Arrow strings."""
    if isinstance(values.array, pd.arrays.ArrowStringArray) and isinstance(allowed.array, pd.arrays.ArrowStringArray):
        value_set = pyarrow.chunked_array(pyarrow.array(allowed.array)).combine_chunks()
        found = pc.is_in(pyarrow.array(values.array), value_set=value_set.cast(pyarrow.large_string()))
        return pd.Series(np.asarray(found, dtype=bool), index=values.index)
    return values.isin(allowed)


def ragged_subjects(raw: RawFile, contract: RawContract) -> pd.Series:
    """Line of the ragged record each subject key was read from (index: the key): the columns of role SITEID and
    SUBJID taken by their position in the header, from every record (or swallowed line) that has them."""
    cols = contract.subject_columns
    if raw.ragged.empty or not cols or not raw.header:
        return pd.Series(dtype="int64", index=pd.Index([], dtype="str"))
    at = [raw.header.index(c) for c in cols]
    keys, lines = [], []
    for line, records in zip(raw.ragged["line"], raw.ragged["records"], strict=True):
        for fields in records:
            if len(fields) > max(at) and all(fields[i] for i in at):
                keys.append("-".join(fields[i] for i in at))
                lines.append(int(line))
    return pd.Series(lines, index=pd.Index(keys, dtype="str"), dtype="int64")


def rejected_because(rejects: list[pd.DataFrame]) -> pd.Series:
    """The rules each rejected line broke (index: line), e.g. `field_count` or `range, codelist:SEX`."""
    if not rejects:
        return pd.Series(dtype="str")
    found = pd.concat(rejects, ignore_index=True)[["line", "rule"]].drop_duplicates().sort_values(["line", "rule"])
    return found.groupby("line")["rule"].agg(", ".join)


def child_rejects(
    child: pd.DataFrame,
    contract: RawContract,
    parent: pd.DataFrame,
    parent_contract: RawContract,
    parent_bad: pd.Series,
    reasons: pd.Series | None = None,
    ragged: pd.Series | None = None,
) -> pd.DataFrame:
    """Rows of a child file whose subject is unknown to, or rejected in, the parent file.

    `reasons` names the rules each rejected parent line broke; `ragged` the subjects of the parent's ragged records
    (see ragged_subjects): a row with the wrong number of fields is still a row of that subject.
    """
    parent_file = parent_contract.file
    subjects = distinct_rows(child, contract.subject_columns)  # each subject once, however many rows it has
    key = subject_key(subjects.rows, contract)
    parent_key = subject_key(parent, parent_contract)
    bad_lines = pd.Series(parent.index[parent_bad], index=parent_key[parent_bad])
    if ragged is not None and len(ragged):
        ragged = ragged[~ragged.index.isin(parent_key.dropna())]  # a row read whole speaks for its subject
        bad_lines = pd.concat([bad_lines, ragged])
        parent_key = pd.concat([parent_key, ragged.index.to_series().astype(parent_key.dtype)])
    bad_lines = bad_lines[~bad_lines.index.duplicated()]
    known = subjects.expand(_isin(key, parent_key), child.index)
    rejected = key.map(bad_lines)
    parent_rejected = subjects.expand(rejected.notna(), child.index)
    why = rejected.map(reasons) if reasons is not None and len(reasons) else pd.Series(pd.NA, index=rejected.index)
    why = (" (" + why.astype("str") + ")").fillna("")
    message = f"subject's {parent_file} line " + rejected.astype("Int64").astype("str") + " was rejected" + why
    subject_col = contract.role("SUBJID")
    return pd.concat(
        [
            reject(child, ~known, subject_col, "unknown_subject", f"subject not screened: no row in {parent_file}"),
            reject(
                child,
                parent_rejected,
                subject_col,
                "parent_rejected",
                subjects.expand(message, child.index) if parent_rejected.any() else "",
            ),
        ]
    )


def _parent_value(contract: RawContract, specs: Specs, column: str, value: object) -> object:
    """A value as the parent file writes it: a key of a study mapping (`enrolled`) resolves to its raw text."""
    return _resolve(contract, specs, column, str(value)) if isinstance(value, str) else value


def _with_parent(
    child: pd.DataFrame, subjects: Distinct, theirs: pd.Series, applies: np.ndarray, columns: list[str]
) -> tuple[pd.DataFrame, Distinct]:
    """The distinct combinations of each row's `columns` with its subject's parent value (`theirs`, one per subject
    of `subjects`) and whether the rule applies to the subject: rows with `_theirs` and `_applies` added, and which
    combination each row of the child is."""
    codes, n = value_codes(theirs)
    # the parent's value (or null) and whether the rule applies, as one small code per subject
    per_subject = ((codes.astype(np.int64) + 1) * 2 + applies).astype(code_dtype(2 * n + 2))
    columns = list(dict.fromkeys(columns))
    frame = pd.DataFrame({c: child[c].array for c in columns}, index=child.index)
    frame["_parent"] = per_subject[subjects.codes]
    distinct = distinct_rows(frame, ["_parent", *columns])
    parent = distinct.rows["_parent"].to_numpy()
    values = theirs.iloc[representatives(codes, n)].reset_index(drop=True)
    rows = distinct.rows[columns].reset_index(drop=True)
    rows["_theirs"] = values.reindex(parent // 2 - 1).reset_index(drop=True)  # -1: null
    rows["_applies"] = (parent % 2).astype(bool)
    return rows, distinct


def parent_rule_rejects(
    child: pd.DataFrame, contract: RawContract, parent: pd.DataFrame, parent_contract: RawContract, specs: Specs
) -> list[pd.DataFrame]:
    """The contract's parent_rules: each child row against its subject's (valid) row in the parent file."""
    if child.empty or parent.empty or not contract.parent_rules:  # no valid parent row: all rejected already
        return []
    indexed = parent.assign(_key=subject_key(parent, parent_contract)).drop_duplicates("_key").set_index("_key")
    subjects = distinct_rows(child, contract.subject_columns)  # each subject once, however many rows it has
    key = subject_key(subjects.rows, contract).reset_index(drop=True)
    at = indexed.index.get_indexer(key)  # each subject's parent row (-1: none), looked up once for every rule
    known = at >= 0

    def parents(column: str) -> pd.Series:  # what key.map(indexed[column]) gives
        return pd.Series(indexed[column].array.take(at, allow_fill=True))

    out = []
    for rule in contract.parent_rules:
        kind, name = rule["rule"], rule.get("name", rule["rule"])
        col = rule.get("column") or contract.role("SUBJID")
        # A rule reads its row and its subject's parent row: per subject, what the parent says and whether the rule
        # applies; then once per distinct combination of that with the row's own columns.
        theirs_s = parents(rule["parent_column"]).astype("str")  # null where the parent's cell is blank
        applies_s = known.copy()
        for pcol, pval in (rule.get("when_parent") or {}).items():
            target = _parent_value(parent_contract, specs, pcol, pval)
            applies_s &= (parents(pcol) == target).fillna(False).to_numpy(bool)
        rows, distinct = _with_parent(child, subjects, theirs_s, applies_s, [col, *(rule.get("when") or {})])
        theirs, applies = rows["_theirs"], rows["_applies"]
        template = rule.get("message", "")
        if kind == "parent_equals":
            target = rule["value"] if "value" in rule else specs.study.lookup(rule["value_from"])
            bad = applies & theirs.notna() & (theirs != target)
            default = f"subject's {rule['parent_column']} is " + theirs.astype("str") + f", expected {target}"
        elif kind == "not_before_parent":
            bad = applies & ((rows[col].str.slice(0, 10) + "~") < theirs.str.slice(0, 10))  # partial: a range
            default = f"before the subject's {rule['parent_column']} " + theirs.astype("str")
        elif kind == "equals_parent":
            bad = applies & (rows[col] != theirs)
            for ccol, cval in (rule.get("when") or {}).items():
                bad &= rows[ccol] == _resolve(contract, specs, ccol, str(cval))
            default = f"differs from the subject's {rule['parent_column']} " + theirs.astype("str")
        else:  # dose_of_arm: the dose of the subject's arm (its parent_column) within a relative tolerance
            tol = float(specs.study.lookup(rule["tolerance_from"]))
            doses = {a["armcd"]: float(a["dose"]) for a in specs.study.arms if "dose" in a}
            target = theirs.map(doses).astype("Float64")
            dose = pd.to_numeric(rows[col], errors="coerce").astype("Float64")
            bad = applies & ((dose - target).abs() > tol * target)
            default = f"not within {tol:.0%} of the dose of arm " + theirs.astype("str") + ": " + target.astype("str")
            theirs, template = target.astype("str"), template.replace("{tolerance}", f"{tol:.0%}")
        if template:  # one message per distinct parent value, not per row
            texts = theirs.astype("str").fillna("(blank)")
            message = texts.map({v: template.format(parent=v) for v in texts.dropna().unique()})
        else:
            message = default
        hit = distinct.expand(bad.fillna(False).to_numpy(bool), child.index)
        if isinstance(message, pd.Series):
            message = distinct.expand(message.reset_index(drop=True), child.index) if hit.any() else ""
        out.append(reject(child, hit, col, name, message))
    return out


def typed(frame: pd.DataFrame | Held, contract: RawContract) -> pd.DataFrame | Held:
    """Valid rows with numbers as numbers and personal data dropped; text stays text (held rows stay held)."""
    out = frame.drop(columns=[c.name for c in contract.columns if c.pii])
    for col in contract.columns:
        if col.type in ("float", "integer") and col.name in out:
            out[col.name] = pd.to_numeric(out[col.name]).astype("Float64" if col.type == "float" else "Int64")
    return out


def _kept(
    raw: RawFile, frame: pd.DataFrame, bad: pd.Index, contract: RawContract
) -> tuple[pd.DataFrame | Held, dict[str, int], int]:
    """A file's valid rows (typed; held compact when its rows were), their counts and their physical lines."""
    if raw.held is not None:
        rows: pd.DataFrame | Held = raw.held.take(np.flatnonzero(~raw.held.index.isin(bad))) if len(bad) else raw.held
    else:
        rows = rows_where(frame, ~frame.index.isin(bad)) if len(bad) else frame
    counts = {"read": raw.rows, "valid": len(rows), "rejected": raw.rows - len(rows)}
    return typed(rows, contract), counts, raw.lines_of(rows.index)


def _redact(rejects: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    pii = {f"{c.file}|{col.name}" for c in specs.raw.values() for col in c.columns if col.pii}
    rejects.loc[(rejects["file"] + "|" + rejects["column"]).isin(pii), "value"] = REDACTED
    return rejects


def parents_first(specs: Specs) -> list[str]:
    """Raw files ordered so that every parent comes before its children."""
    order: list[str] = []
    while len(order) < len(specs.raw):
        order += [n for n, c in specs.raw.items() if n not in order and (c.parent is None or c.parent in order)]
    return order


def validate_raw(
    raw: Mapping[str, RawFile], specs: Specs, today: date | None = None, sites: Mapping[str, date] | None = None
) -> Validation:
    """Collect every failure of every file, then keep the rows with none (and whose subject is kept).

    `today` is the run's date at the study's sites (by default now: the latest of `sites`, each site's own date):
    a date after it is rejected, and a row of a site whose date is earlier is held to its site's date.
    """
    if today is None:
        sites = sites or site_dates(specs)
        today = max(sites.values())
    sites = sites or {}
    order = parents_first(specs)
    parents = {c.parent for c in specs.raw.values() if c.parent is not None}
    found: dict[str, list[pd.DataFrame]] = {}
    bad_lines: dict[str, pd.Index] = {}
    texts: dict[str, pd.DataFrame] = {}  # the rows of parents as read, for their children's checks
    valid, counts, lines = {}, {}, {}
    memo: dict = {}  # the codes of every column, kept for the derivation while their data live
    for name in order:
        with shared_codes(memo):  # a file's checks read its columns many times: each is encoded once
            contract, frame = specs.raw[name], raw[name].text()
            if name in parents:
                texts[name] = frame
            parts = [ragged_rejects(raw[name]), schema_rejects(frame, contract, specs, today)]
            parts.append(site_future_rejects(frame, contract, today, sites))
            parts += [key_rejects(frame, contract), *row_rule_rejects(frame, contract, specs)]
            if contract.parent is not None:
                parent, parent_contract = texts[contract.parent], specs.raw[contract.parent]
                parent_bad = pd.Series(parent.index.isin(bad_lines[contract.parent]), parent.index)
                reasons = rejected_because(found[contract.parent])
                ragged = ragged_subjects(raw[contract.parent], parent_contract)
                parts.append(child_rejects(frame, contract, parent, parent_contract, parent_bad, reasons, ragged))
                ok_parent = rows_where(parent, ~parent_bad.to_numpy())
                parts += parent_rule_rejects(frame, contract, ok_parent, parent_contract, specs)
            found[name] = [p for p in parts if not p.empty]
            bad_lines[name] = pd.Index(pd.concat(found[name])["line"].unique()) if found[name] else pd.Index([])
            # the kept rows' codes follow from the file's
            valid[name], counts[name], lines[name] = _kept(raw[name], frame, bad_lines[name], contract)
            del frame, parts
    texts.clear()
    frames = [p for n in order for p in found[n]]
    rejects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REJECT_COLUMNS)
    rejects = rejects[REJECT_COLUMNS].astype({"line": "int64"})
    file_order = {specs.raw[n].file: i for i, n in enumerate(order)}
    rejects = rejects.sort_values(
        ["file", "line", "column", "rule"], key=lambda s: s.map(file_order) if s.name == "file" else s
    )
    rejects = _redact(rejects.drop_duplicates().reset_index(drop=True), specs)
    return Validation(valid, rejects, counts, memo, lines)

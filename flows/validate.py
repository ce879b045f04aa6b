"""Validate raw files: lazy pandera checks, row rules, keys and cross-file rules, collected into rejects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from flows.dates import completed_years, impute_first, parse_date
from flows.distinct import distinct_rows, duplicated, rows_where, shared_codes
from flows.raw_schema import raw_schema
from flows.read import SOURCE, RawFile
from flows.specs import RawContract, Specs

REJECT_COLUMNS = ["file", "line", "column", "value", "rule", "message"]
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Validation:
    """Valid rows per raw file (typed, PII dropped), every rejected cell, and per-file row counts."""

    valid: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    counts: dict[str, dict[str, int]]


def reject(frame: pd.DataFrame, mask: pd.Series, column: str, rule: str, message: str | pd.Series) -> pd.DataFrame:
    """Reject records for the rows of frame where mask holds (index = line)."""
    keep = mask.fillna(False).astype(bool)
    hit = rows_where(frame, keep) if keep.index.equals(frame.index) else frame.loc[keep]
    msg = message[keep] if isinstance(message, pd.Series) else message
    values = hit[column].astype("str").where(hit[column].notna(), "") if column in hit else ""
    return pd.DataFrame(
        {"file": hit[SOURCE], "line": hit.index, "column": column, "value": values, "rule": rule, "message": msg}
    )


def schema_rejects(frame: pd.DataFrame, contract: RawContract, specs: Specs) -> pd.DataFrame:
    """Every failing cell of the generated pandera schema, validated lazily."""
    built = raw_schema(contract, specs)
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
    source = contract.column(column).values_from
    if source:
        try:
            return str(specs.study.lookup(f"{source}.{value}"))
        except KeyError:
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
    return pd.DataFrame(rows, columns=["instrument", "item", "lo", "hi"])


RuleHit = tuple[pd.Series, str, str, "str | pd.Series"]  # mask, column, rule, message


def _rule_columns(rule: Mapping) -> list[str]:
    """The columns a row rule reads."""
    kind, col = rule["rule"], rule["column"]
    if kind in ("required_if", "blank_if"):
        return [*rule["when"], col]
    if kind == "not_before":
        return [col, rule["other"]]
    if kind == "product_matches":
        return [col, *rule["factors"]]
    if kind == "instrument_result":
        return ["instrument", "item", col]
    return [col]


def _row_rule_checks(frame: pd.DataFrame, contract: RawContract, specs: Specs, rule: Mapping) -> list[RuleHit]:
    """(mask, column, rule, message) of one row rule on `frame`, which needs only the columns the rule reads."""
    kind, col = rule["rule"], rule["column"]
    if kind in ("required_if", "blank_if"):
        ((when_col, when_val),) = rule["when"].items()
        target = _resolve(contract, specs, when_col, when_val)
        applies = frame[when_col] == target
        bad = applies & (frame[col].isna() if kind == "required_if" else frame[col].notna())
        verb = "is required" if kind == "required_if" else "must be blank"
        return [(bad, col, kind, f"{verb} when {when_col} is {target}")]
    if kind == "not_before":
        other = rule["other"]
        a, b = frame[col].str.slice(0, 19), frame[rule["other"]].str.slice(0, 19)
        bad = a.notna() & b.notna() & (a < b)
        return [(bad, col, kind, f"must not be before {other}")]
    if kind == "product_matches":
        tol = float(specs.study.lookup(rule["tolerance_from"]))
        product = np.prod([pd.to_numeric(frame[f], errors="coerce") for f in rule["factors"]], axis=0)
        value = pd.to_numeric(frame[col], errors="coerce")
        bad = (value - product).abs() > tol * product
        return [(bad, col, kind, f"must equal {' x '.join(rule['factors'])} within {tol:.0%}")]
    if kind == "instrument_result":
        table = _instrument_table(specs, rule)
        merged = frame[["instrument", "item", col]].reset_index().merge(table, on=["instrument", "item"], how="left")
        merged.index = frame.index
        known_inst = frame["instrument"].isin(table["instrument"])
        unknown_item = known_inst & merged["lo"].isna() & (frame["item"] != rule["class_item"])
        is_class = (frame["item"] == rule["class_item"]) & ~unknown_item
        pairs = {f"{n}|{c}" for n, i in specs.study.data["instruments"].items() for c in i.get("classes", [])}
        class_ok = (frame["instrument"] + "|" + frame[col]).isin(pairs)
        score = pd.to_numeric(frame[col].where(~is_class), errors="coerce")
        scored = known_inst & ~unknown_item & ~is_class & frame[col].notna()
        bad = scored & (score.isna() | (score % 1 != 0) | (score < merged["lo"]) | (score > merged["hi"]))
        lo, hi = (merged[c].astype("Int64").astype("str") for c in ("lo", "hi"))
        return [
            (unknown_item, "item", "instrument_item", "is not an item of the instrument"),
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
            "message": f"expected {width} fields, got " + raw.ragged["fields"].astype("str"),
        }
    )


def key_rejects(frame: pd.DataFrame, contract: RawContract) -> pd.DataFrame:
    """Every row of a duplicated key: which copy is right cannot be known, so none is kept."""
    key = list(contract.key)
    dup = pd.Series(duplicated(frame, key), index=frame.index) & frame[key].notna().all(axis=1)
    return reject(frame, dup, "+".join(key), "duplicate_key", f"duplicate key ({', '.join(key)})")


def _subject_key(frame: pd.DataFrame) -> pd.Series:
    return frame["site"] + "-" + frame["subject"]


def _isin(values: pd.Series, allowed: pd.Series) -> pd.Series:
    """values.isin(allowed), without pandas' per-element loop over a large `allowed` of Arrow strings."""
    if isinstance(values.array, pd.arrays.ArrowStringArray) and isinstance(allowed.array, pd.arrays.ArrowStringArray):
        value_set = pyarrow.chunked_array(pyarrow.array(allowed.array)).combine_chunks()
        found = pc.is_in(pyarrow.array(values.array), value_set=value_set.cast(pyarrow.large_string()))
        return pd.Series(np.asarray(found, dtype=bool), index=values.index)
    return values.isin(allowed)


def enrollment_rejects(frame: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    """Cross-field rule of the study on enrollment: age at consent inside the population age range."""
    age = specs.study.data["population"]["age"]
    years = completed_years(impute_first(frame["birth_date"]), parse_date(frame["consent_date"]))
    enrolled = frame["screening_outcome"] == specs.study.outcomes["enrolled"]
    bad = enrolled & years.notna() & ((years < age["min"]) | (years > age["max"]))
    message = "age at consent " + years.astype("str") + f" outside {age['min']}-{age['max']} {age['unit'].lower()}"
    return reject(frame, bad, "birth_date", "age_in_range", message)


def child_rejects(child: pd.DataFrame, parent: pd.DataFrame, parent_bad: pd.Series, parent_file: str) -> pd.DataFrame:
    """Rows of a child file whose subject is unknown to, or rejected in, the parent (enrollment) file."""
    subjects = distinct_rows(child, ["site", "subject"])  # each subject once, however many rows it has
    key = _subject_key(subjects.rows)
    bad_lines = pd.Series(parent.index[parent_bad], index=_subject_key(parent)[parent_bad])
    bad_lines = bad_lines[~bad_lines.index.duplicated()]
    known = subjects.expand(_isin(key, _subject_key(parent)), child.index)
    rejected = key.map(bad_lines)
    parent_rejected = subjects.expand(rejected.notna(), child.index)
    message = f"subject's {parent_file} line " + rejected.astype("Int64").astype("str") + " was rejected"
    return pd.concat(
        [
            reject(child, ~known, "subject", "unknown_subject", f"subject not screened: no row in {parent_file}"),
            reject(
                child,
                parent_rejected,
                "subject",
                "parent_rejected",
                subjects.expand(message, child.index) if parent_rejected.any() else "",
            ),
        ]
    )


def dosing_rejects(dosing: pd.DataFrame, enrollment: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    """Dosing against its subject's enrollment: enrolled, on or after consent, at the assigned level's dose."""
    parent = enrollment.assign(_key=_subject_key(enrollment)).drop_duplicates("_key").set_index("_key")
    key = _subject_key(dosing)
    outcome, level = key.map(parent["screening_outcome"]), key.map(parent["dose_level"])
    consent = key.map(parent["consent_date"])
    tol = float(specs.study.treatment["dose_tolerance"])
    doses = {a["armcd"]: float(a["dose"]) for a in specs.study.arms}
    target = level.map(doses)
    cells = pd.to_numeric(dosing["cells_per_kg"], errors="coerce")
    enrolled = outcome == specs.study.outcomes["enrolled"]
    return pd.concat(
        [
            reject(
                dosing,
                outcome.notna() & ~enrolled,
                "subject",
                "not_enrolled",
                "infusion for a subject whose screening outcome is " + outcome.astype("str"),
            ),
            reject(
                dosing,
                enrolled & (dosing["start"].str.slice(0, 10) < consent),
                "start",
                "infusion_before_consent",
                "infusion before informed consent (" + consent.astype("str") + ")",
            ),
            reject(
                dosing,
                enrolled & (dosing["planned_level"] != level),
                "planned_level",
                "planned_level_matches",
                "differs from the assigned dose level " + level.astype("str"),
            ),
            reject(
                dosing,
                enrolled & ((cells - target).abs() > tol * target),
                "cells_per_kg",
                "dose_matches_level",
                f"not within {tol:.0%} of the assigned level's dose " + target.astype("str"),
            ),
        ]
    )


def typed(frame: pd.DataFrame, contract: RawContract) -> pd.DataFrame:
    """Valid rows with numbers as numbers and personal data dropped; text stays text."""
    out = frame.drop(columns=[c.name for c in contract.columns if c.pii])
    for col in contract.columns:
        if col.type in ("float", "integer") and col.name in out:
            out[col.name] = pd.to_numeric(out[col.name]).astype("Float64" if col.type == "float" else "Int64")
    return out


def _redact(rejects: pd.DataFrame, specs: Specs) -> pd.DataFrame:
    pii = {f"{c.file}|{col.name}" for c in specs.raw.values() for col in c.columns if col.pii}
    rejects.loc[(rejects["file"] + "|" + rejects["column"]).isin(pii), "value"] = REDACTED
    return rejects


def validate_raw(raw: Mapping[str, RawFile], specs: Specs) -> Validation:
    """Collect every failure of every file, then keep the rows with none (and whose subject is kept)."""
    order = [n for n in specs.raw if specs.raw[n].parent is None] + [n for n in specs.raw if specs.raw[n].parent]
    found: dict[str, list[pd.DataFrame]] = {}
    bad_lines: dict[str, pd.Index] = {}
    for name in order:
        with shared_codes():  # a file's checks read its columns many times: each is encoded once
            contract, frame = specs.raw[name], raw[name].frame
            parts = [ragged_rejects(raw[name]), schema_rejects(frame, contract, specs), key_rejects(frame, contract)]
            parts += row_rule_rejects(frame, contract, specs)
            own_bad = pd.Index(pd.concat(parts)["line"].unique())
            clean = rows_where(frame, ~frame.index.isin(own_bad)) if len(own_bad) else frame
            if contract.parent is None:
                parts.append(enrollment_rejects(clean, specs))
            else:
                parent = raw[contract.parent].frame
                parent_bad = parent.index.isin(bad_lines[contract.parent])
                parts.append(
                    child_rejects(frame, parent, pd.Series(parent_bad, index=parent.index), raw[contract.parent].file)
                )
                if name == "dosing":
                    ok_parent = parent.loc[~parent_bad]
                    of_ok_parent = _isin(_subject_key(frame), _subject_key(ok_parent))
                    parts.append(dosing_rejects(frame[of_ok_parent], ok_parent, specs))
            found[name] = [p for p in parts if not p.empty]
            bad_lines[name] = pd.Index(pd.concat(found[name])["line"].unique()) if found[name] else pd.Index([])
    frames = [p for n in order for p in found[n]]
    rejects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REJECT_COLUMNS)
    rejects = rejects[REJECT_COLUMNS].astype({"line": "int64"})
    file_order = {specs.raw[n].file: i for i, n in enumerate(order)}
    rejects = rejects.sort_values(
        ["file", "line", "column", "rule"], key=lambda s: s.map(file_order) if s.name == "file" else s
    )
    rejects = _redact(rejects.drop_duplicates().reset_index(drop=True), specs)
    valid, counts = {}, {}
    for name in order:
        frame = raw[name].frame
        keep = rows_where(frame, ~frame.index.isin(bad_lines[name])) if len(bad_lines[name]) else frame
        valid[name] = typed(keep, specs.raw[name])
        counts[name] = {"read": raw[name].rows, "valid": len(keep), "rejected": raw[name].rows - len(keep)}
    return Validation(valid, rejects, counts)

"""Cross-checks of loaded specs (metacore-style): every reference must resolve, or start-up stops."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.kernel.errors import SpecError
from flows.spec.model import (
    CONDITIONS,
    CORES,
    ENCODINGS,
    FILE_TYPES,
    ORIGINS,
    RAW_TYPES,
    VALUE_FORMATS,
    RawColumn,
    RawContract,
    Specs,
    Variable,
)

# Each eligibility rule `check` (study.yaml criteria.list[].rule) and its parameters: name -> (required, kind).
# A key outside these, or one without a value, is what an unquoted comma in a YAML flow mapping leaves behind.
RULE_PARAMETERS: dict[str, dict[str, tuple[bool, str]]] = {
    "age_range": {"age": (True, "age")},
    "class_in": {"instrument": (True, "instrument"), "visit": (True, "visit"), "classes": (True, "classes")},
    "score_threshold": {
        "visits": (True, "visits"),
        "any_of": (True, "thresholds"),
        "ocular_share_below": (False, "share"),
    },
    "washout": {"event": (True, "text"), "window": (True, "duration"), "before": (True, "visit")},
}
RULE_CHECKS = set(RULE_PARAMETERS)
TS_KEYS = {"parmcd", "from", "value", "codelist", "format", "ref", "comment"}  # comment: define.xml, e.g. a source
TS_KEYS |= {"code_from", "version_from", "null_flavor"}  # TSVALCD of another terminology; TSVALNF
# ISO 21090 NullFlavor: SDTMIG 3.4 TS.TSVALNF, populated only when TSVAL is null
NULL_FLAVORS = (
    "NI",
    "INV",
    "DER",
    "OTH",
    "PINF",
    "NINF",
    "UNC",
    "MSK",
    "NA",
    "UNK",
    "ASKU",
    "NAV",
    "NASK",
    "QS",
    "TRC",
)
CONDITIONAL_RULES = {"required_if", "blank_if", "blank_unless", "any_of_if"}  # need a when, when_in or when_present
ROW_RULES = {
    "required_if",
    "blank_if",
    "blank_unless",
    "any_of_if",
    "not_before",
    "greater_than",
    "same_within",
    "product_matches",
    "instrument_result",
    "age_in_range",
}
PARENT_RULES = {"parent_equals", "not_before_parent", "equals_parent", "dose_of_arm"}
# What a raw column is to a derivation or check that finds it by role, not by name (RawColumn.role):
ROLES = {
    "SITEID",  # the site number (SDTM SITEID)
    "SUBJID",  # the subject number within the site (SDTM SUBJID)
    "BIRTH_DATE",  # date of birth, possibly partial (age_range rules)
    "CONSENT_DATE",  # date informed consent was signed: RFICDTC (age_range rules `at: RFICDTC`)
    "VISIT",  # visit name of study.yaml's schedule (class_in and score_threshold rules)
    "INSTRUMENT",  # instrument name of study.yaml's instruments
    "ITEM",  # item code of the instrument (or its total or class row)
    "ITEM_RESULT",  # item score, total or class
    "CRITERION",  # criterion code of the investigator's eligibility checklist
    "ANSWER",  # the checklist's answer (NY): Y when the criterion's statement holds
}
# The roles each evaluated rule check reads, all from one raw contract (washout: no raw file has the data).
RULE_ROLES = {
    "age_range": ("BIRTH_DATE",),  # plus the role its `at` names (AT_ROLES)
    "class_in": ("VISIT", "INSTRUMENT", "ITEM_RESULT"),
    "score_threshold": ("VISIT", "INSTRUMENT", "ITEM", "ITEM_RESULT"),
}
AT_ROLES = {"RFICDTC": "CONSENT_DATE"}  # SDTM reference dates an age_range rule may count years to
CHECKLIST_ROLES = ("CRITERION", "ANSWER")
DURATION = re.compile(r"^P(\d+[YMWD])+$")
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/\d+)?(,(\d+(-\d+)?|[A-Za-z]{3})(/\d+)?)*$")
SCHEDULE_KEYS = {"cron", "timezone", "source"}


def _codelist(specs: Specs, name: str, where: str) -> None:
    if name not in specs.codelists:
        raise SpecError(f"{where}: unknown codelist '{name}' (not in specs/ct/sdtm-ct.yaml)")


def _in_codelist(specs: Specs, name: str, values: list[str], where: str) -> None:
    _codelist(specs, name, where)
    bad = sorted(set(values) - specs.codelists[name].values)
    if bad:
        raise SpecError(f"{where}: {bad} not in codelist {name} (CT {specs.ct_release})")


def _iso_date(value: object, where: str) -> None:
    """A bound must be a date YYYY-MM-DD (quoted in YAML, so it stays text)."""
    try:
        ok = isinstance(value, str) and len(value) == 10 and bool(date.fromisoformat(value))
    except ValueError:
        ok = False
    if not ok:
        raise SpecError(f"{where}: '{value}' is not a date YYYY-MM-DD (quote it)")


def _zone(name: object, where: str) -> None:
    try:
        ZoneInfo(str(name))
    except (ValueError, ZoneInfoNotFoundError):
        raise SpecError(f"{where}: {name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None


def check_study_schedule(study: Mapping[str, Any], where: str) -> None:
    """The sites' time zones and the optional `schedule`: a five-field cron and a time zone that exist."""
    for i, site in enumerate(study.get("sites") or []):
        _zone(site.get("timezone"), f"{where}: sites[{i}].timezone")
    if "schedule" not in study:
        return
    schedule = study["schedule"]
    if not isinstance(schedule, Mapping) or "cron" not in schedule:
        raise SpecError(f"{where}: schedule: expected a mapping with 'cron' (and optionally 'timezone')")
    unknown = sorted(set(schedule) - SCHEDULE_KEYS)
    if unknown:
        raise SpecError(f"{where}: schedule: unknown key(s) {unknown} (one of {sorted(SCHEDULE_KEYS)})")
    fields = str(schedule["cron"]).split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        raise SpecError(f"{where}: schedule.cron {schedule['cron']!r} is not a five-field cron (e.g. '0 2 * * *')")
    if "timezone" in schedule:
        _zone(schedule["timezone"], f"{where}: schedule.timezone")


def check_study(specs: Specs) -> None:
    """study.yaml on its own and against the CT; a TS parameter `from: data.X` names a data fact of the mapping
    vocabulary and is checked with the mappings (flows.mapping.checks.check_data_facts)."""
    study, where = specs.study, str(specs.study.path)
    check_study_schedule(study.data, where)
    if "plausible_dates" in study.data:
        _iso_date((study.data["plausible_dates"] or {}).get("earliest"), f"{where}: plausible_dates.earliest")
    for key in (
        "studyid",
        "title",
        "arms",
        "population",
        "sites",
        "visits",
        "criteria",
        "trial_summary",
    ):
        if key not in study.data:
            raise SpecError(f"{where}: missing required key '{key}'")
    for i, arm in enumerate(study.arms):
        for key in ("armcd", "arm"):
            if key not in arm:
                raise SpecError(f"{where}: arms[{i}]: missing required key '{key}'")
        if len(arm["armcd"]) > 8 or len(arm["arm"]) > 200:
            raise SpecError(f"{where}: arms[{i}]: ARMCD longer than 8 or ARM longer than 200 characters")
    treatments = [("treatment", study.data["treatment"])] if "treatment" in study.data else []
    treatments += [(f"arms[{i}].treatment", a["treatment"]) for i, a in enumerate(study.arms) if "treatment" in a]
    for at, tr in treatments:  # the study's treatment, or each arm's own
        for key, cl in (
            ("form", "FRM"),
            ("route", "ROUTE"),
            ("frequency", "FREQ"),
            ("dose_unit", "UNIT"),
            ("unit", "UNIT"),
        ):
            if key in tr:
                _in_codelist(specs, cl, [tr[key]], f"{where}: {at}.{key}")
    _in_codelist(specs, "EPOCH", [v["epoch"] for v in study.visits], f"{where}: visits.schedule.epoch")
    for i, element in enumerate(study.data.get("elements") or []):
        if isinstance(element, Mapping) and "epoch" in element:
            _in_codelist(specs, "EPOCH", [element["epoch"]], f"{where}: elements[{i}].epoch")
    if "arm_null_reasons" in study.data:
        _in_codelist(specs, "ARMNULRS", list(study.data["arm_null_reasons"].values()), f"{where}: arm_null_reasons")
    _in_codelist(specs, "IECAT", list(study.data["criteria"]["not_met_when"]), f"{where}: criteria.not_met_when")
    if "unit" in study.data["population"].get("age", {}):
        _in_codelist(specs, "AGEU", [study.data["population"]["age"]["unit"]], f"{where}: population.age.unit")
    codes = [c["code"] for c in study.criteria]
    if len(set(codes)) != len(codes):
        raise SpecError(f"{where}: criteria.list: duplicate criterion codes")
    visit_names = {v["visit"] for v in study.visits}
    for c in study.criteria:
        cw = f"{where}: criteria.{c.get('code', '?')}"
        for key in ("code", "category", "source", "test", "text"):
            if key not in c:
                raise SpecError(f"{cw}: missing required key '{key}'")
        if len(c["code"]) > 8 or len(c["test"]) > 200:
            raise SpecError(f"{cw}: IETESTCD over 8 or IETEST over 200 characters")
        _in_codelist(specs, "IECAT", [c["category"]], f"{cw}.category")
        verbatim = c["text"].removesuffix(";")  # the registry's words, without the list's separator
        if c["source"] == "registry" and len(verbatim) <= 200 and c["test"] != verbatim:
            raise SpecError(f"{cw}.test: the registry's text fits in 200 characters: IETEST must be the text itself")
        if "rule" in c:
            check_rule(c["rule"], specs, f"{cw}.rule", visit_names)
    for i, ts in enumerate(study.data["trial_summary"]):
        tw = f"{where}: trial_summary[{i}]"
        unknown = sorted(set(ts) - TS_KEYS)
        if unknown:
            raise SpecError(f"{tw}: unknown key(s) {unknown} (one of {sorted(TS_KEYS)})")
        _in_codelist(specs, "TSPARMCD", [ts["parmcd"]], f"{tw}.parmcd")
        if "from" in ts and not ts["from"].startswith("data."):
            try:
                value = study.lookup(ts["from"])
            except KeyError:
                raise SpecError(f"{tw}.from: '{ts['from']}' names no fact in the study") from None
            if "codelist" in ts:
                _in_codelist(specs, ts["codelist"], [str(v) for v in _as_list(value)], f"{tw}.codelist")
        elif "from" not in ts and "value" not in ts and "null_flavor" not in ts:
            raise SpecError(f"{tw}: needs 'from', 'value' or 'null_flavor'")
        _check_ts_codes(ts, specs, tw)


def _check_ts_codes(ts: Mapping[str, Any], specs: Specs, tw: str) -> None:
    """A TS parameter's null flavor stands alone and is ISO 21090's; `code_from` gives a code per value."""
    if "null_flavor" in ts:
        if {"from", "value", "codelist", "code_from"} & set(ts):
            raise SpecError(f"{tw}: null_flavor is for a value not known: no from, value, codelist or code_from")
        if ts["null_flavor"] not in NULL_FLAVORS:
            raise SpecError(f"{tw}.null_flavor: '{ts['null_flavor']}' is not an ISO 21090 null flavor {NULL_FLAVORS}")
    for key in ("code_from", "version_from"):
        if key in ts:
            try:
                specs.study.lookup(ts[key])
            except KeyError:
                raise SpecError(f"{tw}.{key}: '{ts[key]}' names no fact in the study") from None
    if "code_from" in ts:
        if "codelist" in ts or "ref" not in ts or str(ts.get("from", "")).startswith("data."):
            raise SpecError(f"{tw}: code_from needs ref (the terminology, TSVCDREF), no codelist, no data fact")
        values = ts["value"] if "value" in ts else specs.study.lookup(ts.get("from", ""))
        if len(_as_list(values)) != len(_as_list(specs.study.lookup(ts["code_from"]))):
            raise SpecError(f"{tw}.code_from: one code per value of the parameter")


def check_rule(rule: Any, specs: Specs, where: str, visits: set[str]) -> None:
    """A criterion's rule is exactly what its check declares: known parameters, each with a value of its kind,
    and a raw contract with the roles the check reads."""
    if not isinstance(rule, Mapping) or rule.get("check") not in RULE_PARAMETERS:
        check = rule.get("check") if isinstance(rule, Mapping) else rule
        raise SpecError(f"{where}.check: unknown check '{check}' (one of {sorted(RULE_PARAMETERS)})")
    params = RULE_PARAMETERS[rule["check"]]
    for key, value in rule.items():
        if key == "check":
            continue
        if key not in params:
            raise SpecError(
                f"{where}: '{key}' is not a parameter of {rule['check']} ({', '.join(params)})"
                + (": an unquoted comma in a value? quote it or give a list" if value is None else "")
            )
        _rule_value(params[key][1], value, specs, f"{where}.{key}", visits)
    missing = [k for k, (required, _) in params.items() if required and k not in rule]
    if missing:
        raise SpecError(f"{where}: {rule['check']} needs {', '.join(missing)}")
    roles = list(RULE_ROLES.get(rule["check"], ()))
    if rule["check"] == "age_range":
        roles.append(AT_ROLES[rule["age"]["at"]])
    if roles:
        _contract_with(specs, (*roles, "SUBJID"), where)
        checklist = _contract_with(specs, (*CHECKLIST_ROLES, "SUBJID"), where)
        answer = checklist.column(checklist.role("ANSWER"))
        if answer.codelist != "NY":
            raise SpecError(f"{checklist.path}: columns.{answer.name}: the checklist ANSWER needs codelist: NY (Y/N)")


def _contract_with(specs: Specs, roles: tuple[str, ...], where: str) -> RawContract:
    """The first raw contract with a column of every role (the one flows/raw/eligibility.py will read)."""
    found = next((c for c in specs.raw.values() if all(c.role(r) for r in roles)), None)
    if found is None:
        raise SpecError(f"{where}: evaluated on the data, it needs a raw contract with columns of roles {list(roles)}")
    return found


def _rule_value(kind: str, value: Any, specs: Specs, where: str, visits: set[str]) -> None:
    """One rule parameter against its kind; raise SpecError naming it when the value is not of that kind."""
    instruments = specs.study.data.get("instruments", {})
    if kind == "age":
        ok = isinstance(value, Mapping) and set(value) == {"min", "max", "unit", "at"} and value["at"] in AT_ROLES
        ok = ok and all(isinstance(value[k], int) for k in ("min", "max")) and value["min"] <= value["max"]
        expected = f"{{min, max, unit, at}} with whole years and at one of {sorted(AT_ROLES)}"
    elif kind == "instrument":
        ok, expected = value in instruments, f"an instrument of study.yaml ({', '.join(instruments)})"
    elif kind in ("visit", "visits"):
        names = value if kind == "visits" and isinstance(value, list) else [value]
        ok, expected = bool(names) and all(v in visits for v in names), f"visit(s) of the schedule {sorted(visits)}"
    elif kind == "classes":
        known = [c for i in instruments.values() for c in i.get("classes", [])]
        ok = isinstance(value, list) and bool(value) and all(v in known for v in value)
        expected = f"a list of classes of the instrument ({', '.join(known)})"
    elif kind == "thresholds":
        ok = isinstance(value, list) and bool(value)
        ok = ok and all(isinstance(t, Mapping) and set(t) == {"instrument", "min"} for t in value)
        ok = ok and all(t["instrument"] in instruments and isinstance(t["min"], int | float) for t in value)
        expected = "a list of {instrument, min} with instruments of study.yaml"
    elif kind == "share":
        ok, expected = isinstance(value, int | float) and 0 < value <= 1, "a share between 0 and 1"
    elif kind == "duration":
        ok, expected = isinstance(value, str) and bool(DURATION.match(value)), "an ISO 8601 duration (P4W, P6M)"
    else:  # text: one name, or a list of names
        names = value if isinstance(value, list) else [value]
        ok, expected = bool(names) and all(isinstance(n, str) and n.strip() for n in names), "a name or a list"
    if not ok:
        raise SpecError(f"{where}: {value!r} is not {expected}")


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def check_format(contract: RawContract) -> None:
    """A contract's `format`: a file type the pipeline reads, with what that type needs."""
    fmt, where = contract.format, f"{contract.path}: format"
    if fmt.type not in FILE_TYPES:
        raise SpecError(f"{where}.type: '{fmt.type}' is not one of {list(FILE_TYPES)}")
    if fmt.encoding not in ENCODINGS:
        raise SpecError(f"{where}.encoding: '{fmt.encoding}' is not one of {list(ENCODINGS)}")
    for key in ("delimiter", "quote"):
        if not isinstance(getattr(fmt, key), str) or len(getattr(fmt, key)) != 1:
            raise SpecError(f"{where}.{key}: one character, not {getattr(fmt, key)!r}")
    if fmt.delimiter == fmt.quote:
        raise SpecError(f"{where}: delimiter and quote must differ")
    if fmt.decimal not in (".", ","):
        raise SpecError(f"{where}.decimal: '.' or ',', not {fmt.decimal!r}")
    if fmt.decimal == fmt.delimiter:
        raise SpecError(f"{where}: a decimal comma needs another delimiter (e.g. ';')")
    if fmt.type == "odm" and not (fmt.form and fmt.item_group):
        raise SpecError(f"{where}: an ODM file needs the form and item_group (FormOID, ItemGroupOID) of the rows")
    if fmt.type != "odm" and (fmt.form or fmt.item_group or fmt.study_event):
        raise SpecError(f"{where}: form, item_group and study_event are for type odm")


def _check_written(col: RawColumn, contract: RawContract, specs: Specs, where: str) -> None:
    """How a column is written in the file: a date format on a date column, a decode table whose values the column
    allows."""
    if col.format is not None:
        if col.type not in ("date", "partial_date", "datetime"):
            raise SpecError(f"{where}.format: only a date column has a format (the column is {col.type})")
        if col.format not in VALUE_FORMATS:
            raise SpecError(f"{where}.format: '{col.format}' is not one of {list(VALUE_FORMATS)}")
    if col.decode is not None:
        if col.type != "string":
            raise SpecError(f"{where}.decode: only a text column is decoded (the column is {col.type})")
        decoded = sorted(set(col.decode.values()))
        if col.codelist:
            _in_codelist(specs, col.codelist, decoded, f"{where}.decode")
        elif col.values and set(decoded) - set(col.values):
            raise SpecError(f"{where}.decode: {sorted(set(decoded) - set(col.values))} not among its values")


def check_raw(specs: Specs) -> None:
    for contract in specs.raw.values():
        where = str(contract.path)
        names = contract.column_names
        for key in contract.key:
            if key not in names:
                raise SpecError(f"{where}: key: '{key}' is not a column")
        if contract.parent and contract.parent not in specs.raw:
            raise SpecError(f"{where}: parent: unknown raw file '{contract.parent}'")
        check_format(contract)
        if (
            not isinstance(contract.file, str)
            or contract.file != Path(contract.file).name
            or contract.file in ("", ".", "..")
        ):
            raise SpecError(f"{where}: file: '{contract.file}' must be a plain file name in the raw folder (no path)")
        for col in contract.columns:
            cw = f"{where}: columns.{col.name}"
            if col.type not in RAW_TYPES:
                raise SpecError(f"{cw}.type: '{col.type}' is not one of {sorted(RAW_TYPES)}")
            _check_written(col, contract, specs, cw)
            if col.earliest is not None:
                if col.type not in ("date", "partial_date", "datetime"):
                    raise SpecError(f"{cw}.earliest: only a date column has an earliest date")
                _iso_date(col.earliest, f"{cw}.earliest")
            if col.codelist:
                _in_codelist(specs, col.codelist, list(col.values or ()), f"{cw}.values")
            if col.values_from:
                try:
                    specs.study.allowed(col.values_from)
                except KeyError:
                    raise SpecError(f"{cw}.values_from: '{col.values_from}' names no fact in the study") from None
        if contract.cut:
            cut_cols = [contract.cut.get("date"), *contract.cut.get("blank_after", {})]
            cut_cols += [c for cols in contract.cut.get("blank_after", {}).values() for c in cols]
            for ref in cut_cols:
                if ref not in names:
                    raise SpecError(f"{where}: cut: unknown column '{ref}'")
        for i, rule in enumerate(contract.row_rules):
            rw = f"{where}: row_rules[{i}]"
            if rule.get("rule") not in ROW_RULES:
                raise SpecError(f"{rw}: unknown rule '{rule.get('rule')}'")
            column = rule.get("column")
            refs = [*([column] if isinstance(column, str) else column or []), rule.get("other"), rule.get("by")]
            refs += [*rule.get("factors", []), *(c for key in CONDITIONS for c in rule.get(key, {}))]
            refs += [rule.get("at"), rule.get("instrument_column"), rule.get("item_column")]
            for ref in filter(None, refs):
                if ref not in names:
                    raise SpecError(f"{rw}: unknown column '{ref}'")
            for key in ("range_from", "tolerance_from"):
                if key in rule:
                    _fact(specs, rule[key], f"{rw}.{key}")
            if rule["rule"] in CONDITIONAL_RULES and not any(rule.get(key) for key in CONDITIONS):
                raise SpecError(f"{rw}: needs a condition: 'when', 'when_in' or 'when_present'")
            for ref, present in rule.get("when_present", {}).items():
                if not isinstance(present, bool):
                    raise SpecError(f"{rw}: when_present.{ref}: true or false, not {present!r}")
            for ref, values in rule.get("when_in", {}).items():
                if isinstance(values, str):
                    try:
                        specs.study.allowed(values)
                    except KeyError:
                        raise SpecError(f"{rw}: when_in.{ref}: '{values}' names no fact in the study") from None
        _check_roles(contract, specs)
        _check_parent_rules(contract, specs)


def _fact(specs: Specs, path: str, where: str) -> object:
    try:
        return specs.study.lookup(path)
    except KeyError:
        raise SpecError(f"{where}: '{path}' names no fact in the study") from None


def _check_roles(contract, specs: Specs) -> None:
    where = str(contract.path)
    for col in contract.columns:
        if col.role and col.role not in ROLES:
            raise SpecError(f"{where}: columns.{col.name}.role: '{col.role}' is not one of {sorted(ROLES)}")
    roles = [c.role for c in contract.columns if c.role]
    if len(roles) != len(set(roles)):
        raise SpecError(f"{where}: columns: a role is given to more than one column")
    if (contract.parent or any(c.parent == contract.name for c in specs.raw.values())) and not contract.role("SUBJID"):
        raise SpecError(f"{where}: columns: a file with a parent or children needs a column with role: SUBJID")


def _check_parent_rules(contract, specs: Specs) -> None:
    where = str(contract.path)
    if contract.parent_rules and not contract.parent:
        raise SpecError(f"{where}: parent_rules: the file has no parent")
    parent = specs.raw.get(contract.parent) if contract.parent else None
    for i, rule in enumerate(contract.parent_rules):
        rw = f"{where}: parent_rules[{i}]"
        if rule.get("rule") not in PARENT_RULES:
            raise SpecError(f"{rw}: unknown rule '{rule.get('rule')}' (one of {sorted(PARENT_RULES)})")
        for ref in filter(None, [rule.get("column"), *rule.get("when", {})]):
            if ref not in contract.column_names:
                raise SpecError(f"{rw}: unknown column '{ref}'")
        for ref in [rule.get("parent_column"), *rule.get("when_parent", {})]:
            if ref not in parent.column_names:
                raise SpecError(f"{rw}: unknown column '{ref}' of the parent file {parent.file}")
        for key in ("value_from", "tolerance_from"):
            if key in rule:
                _fact(specs, rule[key], f"{rw}.{key}")
        if rule["rule"] == "parent_equals" and ("value" in rule) == ("value_from" in rule):
            raise SpecError(f"{rw}: parent_equals needs value or value_from")


def _check_define_keys(v: Variable, specs: Specs, names: list[str], vw: str) -> None:
    """A variable's `dictionary`, `external_codelist` and `value_level` (DEFINE_KEYS) name what exists."""
    for key in ("dictionary", "external_codelist"):
        ext = getattr(v, key)
        if ext is None:
            continue
        if not isinstance(ext, Mapping) or set(ext) != {"name", "version_from"}:
            raise SpecError(f"{vw}.{key}: expected {{name: <list>, version_from: <study.yaml path>}}")
        try:
            specs.study.lookup(str(ext["version_from"]))
        except KeyError:
            raise SpecError(f"{vw}.{key}.version_from: no '{ext['version_from']}' in study.yaml") from None
    vl = v.value_level
    if vl is None:
        return
    if not isinstance(vl, Mapping) or "by" not in vl or set(vl) - {"by", "codelists"}:
        raise SpecError(f"{vw}.value_level: expected {{by: <variable>, codelists: {{<value>: <CT codelist>}}}}")
    if vl["by"] not in names or vl["by"] == v.name:
        raise SpecError(f"{vw}.value_level.by: '{vl['by']}' is not another variable of the dataset")
    for value, name in (vl.get("codelists") or {}).items():
        _codelist(specs, str(name), f"{vw}.value_level.codelists.{value}")


def check_sdtm(specs: Specs) -> None:
    for domain, spec in specs.sdtm.items():
        where = str(spec.path)
        names = spec.names
        for key in spec.keys + ((spec.seq,) if spec.seq else ()):
            if key not in names:
                raise SpecError(f"{where}: keys: unknown variable '{key}'")
        for v in spec.variables:
            vw = f"{where}: variables.{v.name}"
            if len(v.name) > 8 or v.name != v.name.upper():
                raise SpecError(f"{vw}: name must be upper case and at most 8 characters")
            if len(v.label) > 40:
                raise SpecError(f"{vw}.label: longer than 40 characters")
            if v.type not in ("Char", "Num") or v.core not in CORES or v.origin not in ORIGINS:
                raise SpecError(f"{vw}: type, core or origin not one of Char/Num, {sorted(CORES)}, {sorted(ORIGINS)}")
            if v.codelist:
                _in_codelist(specs, v.codelist, list(v.values or ()), f"{vw}.values")
            if v.method and v.method.isupper() and " " not in v.method and v.method not in specs.methods:
                raise SpecError(f"{vw}.method: unknown method '{v.method}' (not in specs/sdtm/methods.yaml)")
            if v.origin == "Derived" and not v.method:
                raise SpecError(f"{vw}: a Derived variable needs a method")
            _check_define_keys(v, specs, names, vw)
        if domain != spec.path.stem.upper():
            raise SpecError(f"{where}: domain: '{domain}' does not match the file name")


def check_conformance(specs: Specs) -> None:
    """The datasets and DOMAIN.VARIABLEs each conformance finding names (`datasets`, `affected`) exist."""
    for i, finding in enumerate((specs.conformance or {}).get("findings", [])):
        where = f"{specs.conformance['path']}: findings[{i}]"
        for ref in [*finding["datasets"], *(finding.get("affected") or {}).values()]:
            domain, _, var = str(ref).partition(".")
            if domain not in specs.sdtm or (var and var not in specs.sdtm[domain].names):
                raise SpecError(f"{where}: '{ref}' names no dataset or DOMAIN.VARIABLE of specs/sdtm")

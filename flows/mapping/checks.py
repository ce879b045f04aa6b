"""Check every mapping against the specs and the code at load: a spec that loads must run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flows.kernel.errors import SpecError
from flows.mapping.derivations import DATA_FACTS, RECORD_SOURCES
from flows.mapping.plan import parse_filter, plan_domains, signature_of
from flows.mapping.registry import AGGREGATES, table_rows
from flows.mapping.steps import Condition, Step, StepError
from flows.spec.model import DomainSpec, Specs

RAW_READERS = {"assign", "assign_ct", "dtc"}  # algorithms that carry a collected raw value into a variable


def record_fields(spec: DomainSpec, specs: Specs) -> set[str] | None:
    """The fields a domain's records have (raw columns, study-list fields, a named source's fields)."""
    rec, where = spec.records, f"{spec.path}: records"
    kinds = {"from", "study", "derivation", "supplemental"}
    if not isinstance(rec, Mapping) or len(kinds & set(rec)) != 1:
        raise SpecError(
            f"{where}: name one of from (a raw file), study (a study.yaml list), derivation or supplemental"
        )
    if "supplemental" in rec:
        return _check_supplemental(rec["supplemental"], specs, f"{where}.supplemental")
    if "from" in rec:
        if rec["from"] not in specs.raw:
            raise SpecError(f"{where}.from: no contract for raw file '{rec['from']}' in specs/raw")
        fields = set(specs.raw[rec["from"]].column_names)
        if "unpivot" in rec:
            how = rec["unpivot"]
            bad = [c for c in how.get("columns", []) if c not in fields]
            if bad or not how.get("name") or not how.get("value"):
                raise SpecError(f"{where}.unpivot: needs columns (of the contract), name and value; unknown {bad}")
            fields = (fields - set(how["columns"])) | {how["name"], how["value"]}
        if "group" in rec:
            how = rec["group"]
            cols = [*how.get("by", []), *how.get("min", []), *how.get("max", [])]
            bad = [c for c in cols if c not in fields]
            if bad or not how.get("by"):
                raise SpecError(f"{where}.group: needs by (and min/max) columns of the contract; unknown {bad}")
            fields = (
                set(how["by"]) | {f"min_{c}" for c in how.get("min", [])} | {f"max_{c}" for c in how.get("max", [])}
            )
        return fields
    if "study" in rec:
        try:
            rows = specs.study.lookup(rec["study"])
        except KeyError:
            raise SpecError(f"{where}.study: '{rec['study']}' names no list in the study") from None
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            raise SpecError(f"{where}.study: '{rec['study']}' is not a list of mappings")
        fields = {k for r in rows for k in r}
        if "explode" in rec:
            how = rec["explode"]
            if (
                not isinstance(how, Mapping)
                or how.get("field") not in fields
                or not how.get("as")
                or not how.get("order")
            ):
                raise SpecError(f"{where}.explode: needs field (a list field of the rows), as and order")
            fields |= {how["as"], how["order"]}
        return fields
    if rec["derivation"] not in RECORD_SOURCES:
        raise SpecError(f"{where}.derivation: unknown record source '{rec['derivation']}' ({sorted(RECORD_SOURCES)})")
    return set(RECORD_SOURCES[rec["derivation"]][2])


def _check_supplemental(how: Any, specs: Specs, where: str) -> set[str]:
    """SUPP-- records: a parent dataset, its identifying variable and qualifiers each with a mapping on it."""
    from flows.mapping.engine import SUPP_FIELDS
    from flows.mapping.plan import qualifier_steps

    if not isinstance(how, Mapping) or how.get("parent") not in specs.sdtm:
        raise SpecError(f"{where}.parent: names no dataset in specs/sdtm")
    parent = specs.sdtm[how["parent"]]
    if how.get("idvar") not in parent.names:
        raise SpecError(f"{where}.idvar: '{how.get('idvar')}' is not a variable of {parent.domain}")
    fields = record_fields(parent, specs)
    for i, q in enumerate(how.get("qualifiers") or []):
        qw = f"{where}.qualifiers[{i}]"
        missing = sorted({"qnam", "qlabel", "qorig", "map"} - set(q))
        if missing:
            raise SpecError(f"{qw}: missing key(s) {missing}")
        if len(q["qnam"]) > 8 or not q["qnam"].isupper() or len(q["qlabel"]) > 40:
            raise SpecError(f"{qw}: QNAM upper case and at most 8 characters, QLABEL at most 40")
        _check_steps(qualifier_steps(q, f"{qw}.map"), parent, fields, specs, f"{qw}.map")
    if not how.get("qualifiers"):
        raise SpecError(f"{where}.qualifiers: at least one")
    return set(SUPP_FIELDS)


def _check_condition(c: Condition, spec: DomainSpec, fields: set[str], specs: Specs, where: str) -> None:
    if c.kind == "column" and c.name not in fields:
        raise SpecError(f"{where}: unknown column '{c.name}' (not in the records of {spec.domain})")
    if c.kind == "variable" and c.name not in spec.names:
        raise SpecError(f"{where}: unknown variable '{c.name}'")
    if c.equals_from:
        _study(specs, c.equals_from, where)
    if c.in_from:
        _study(specs, c.in_from, where)


def _study(specs: Specs, path: str, where: str) -> Any:
    try:
        return specs.study.lookup(path)
    except KeyError:
        raise SpecError(f"{where}: '{path}' names no fact in the study") from None


def _check_arg(kind: str, value: Any, spec: DomainSpec, fields: set[str], specs: Specs, where: str) -> None:
    if kind == "column" and value not in fields:
        raise SpecError(f"{where}: unknown column '{value}' (not in the records of {spec.domain})")
    if kind == "columns":
        for v in value or []:
            _check_arg("column", v, spec, fields, specs, where)
    if kind == "variable" and value not in spec.names:
        raise SpecError(f"{where}: unknown variable '{value}'")
    if kind == "source":
        head = str(value).partition(".")[0]
        kind = "ref" if head in specs.sdtm else "raw"
    if kind == "raw":
        file, _, column = str(value).partition(".")
        if file not in specs.raw or column not in specs.raw[file].column_names:
            raise SpecError(f"{where}: '{value}' names no column of a raw contract (<file>.<column>)")
        if not specs.raw[file].role("SUBJID"):
            raise SpecError(f"{where}: raw file '{file}' has no column of role: SUBJID")
    if kind == "ref":
        domain, _, var = str(value).partition(".")
        if domain not in specs.sdtm or var not in specs.sdtm[domain].names:
            raise SpecError(f"{where}: '{value}' names no variable of a dataset in specs/sdtm (DOMAIN.VARIABLE)")
    if kind == "study":
        _study(specs, str(value), where)
    if kind == "domain" and value not in specs.sdtm:
        raise SpecError(f"{where}: '{value}' names no dataset in specs/sdtm")


def _check_specifics(step: Step, spec: DomainSpec, specs: Specs, where: str) -> None:
    """What a signature cannot say: recode tables cover the raw values, look-up tables exist, and so on."""
    a = step.args
    if step.algorithm == "assign_ct":
        table = a["recode"]
        if not isinstance(table, Mapping) or not table:
            raise SpecError(f"{where}.recode: a mapping raw value -> submission value")
        contract = specs.raw.get(spec.records.get("from", ""))
        col = contract.column(a["column"]) if contract else None
        allowed = set(col.values or ()) if col else set()
        if col and col.values_from:
            allowed |= set(specs.study.allowed(col.values_from))
        if col and col.codelist and not col.values:
            allowed |= set(specs.codelists[col.codelist].values)
        missing = sorted(allowed - {str(k) for k in table})
        if missing:
            raise SpecError(f"{where}.recode: raw values {missing} of column '{a['column']}' have no recode")
        if col and not allowed:
            raise SpecError(f"{where}: raw column '{a['column']}' needs values or a codelist in its contract")
    if step.algorithm == "aggregate":
        if a["how"] not in AGGREGATES:
            raise SpecError(f"{where}.how: '{a['how']}' is not one of {sorted(AGGREGATES)}")
        if ("ref" in a) == ("raw" in a):
            raise SpecError(f"{where}: an aggregate reads one ref (DOMAIN.VARIABLE) or one raw (<file>.<column>)")
    if step.algorithm == "lookup":
        if ("column" in a) == ("variable" in a):
            raise SpecError(f"{where}: a lookup reads one column or one variable")
        rows = table_rows(specs, a["table"])
        if not rows or not all(isinstance(r, Mapping) and a["key"] in r for r in rows):
            raise SpecError(f"{where}.table: '{a['table']}' is not a table of mappings with key '{a['key']}'")
    if step.algorithm == "template":
        import string

        names = {f for _, f, _, _ in string.Formatter().parse(str(a["text"])) if f is not None}
        missing = sorted(names - set(a.get("parts") or {}))
        if missing:
            raise SpecError(f"{where}.text: placeholders {missing} have no part")
    if step.algorithm == "usubjid":
        contract = specs.raw.get(spec.records.get("from", ""))
        if not contract or not contract.role("SUBJID"):
            raise SpecError(f"{where}: usubjid needs records from a raw file with a column of role: SUBJID")
    if step.algorithm == "arm_by_dose":
        doses = [float(arm["dose"]) for arm in specs.study.arms if "dose" in arm]
        if len(doses) != len(specs.study.arms) or len(set(doses)) != len(doses):
            raise SpecError(f"{where}: arm_by_dose needs a distinct dose per arm; identify arms from the raw data")


def _check_sponsor_codelist(cl: Mapping[str, Any], specs: Specs, where: str) -> None:
    missing = sorted({"name", "label", "codes", "decodes"} - set(cl))
    if missing:
        raise SpecError(f"{where}: missing key(s) {missing}")

    def values(key: str) -> list:
        paths = cl[key] if isinstance(cl[key], list) else [cl[key]]
        found = [_study(specs, str(path), f"{where}.{key}") for path in paths]
        if not all(isinstance(f, list) for f in found):
            raise SpecError(f"{where}.{key}: must name study.yaml lists")
        return [v for f in found for v in f]

    if len(values("codes")) != len(values("decodes")):
        raise SpecError(f"{where}: codes and decodes must name study.yaml lists of the same length")


def _check_steps(steps: tuple[Step, ...], spec: DomainSpec, fields: set[str], specs: Specs, where: str) -> None:
    """Every step (and template part) against the domain it runs in: its arguments, conditions and specifics."""
    for step in _with_nested(steps):
        for arg, kind in signature_of(step).params.items():
            if arg in step.args:
                _check_arg(kind, step.args[arg], spec, fields, specs, f"{where}.{step.algorithm}.{arg}")
        for c in step.when:
            _check_condition(c, spec, fields, specs, f"{where}.when")
        _check_specifics(step, spec, specs, f"{where}.{step.algorithm}")


def _with_nested(steps: tuple[Step, ...]) -> list[Step]:
    """The steps and the parts of any template among them."""
    out = []
    for step in steps:
        out.append(step)
        if step.algorithm == "template":
            out += _with_nested(tuple((step.args.get("parts") or {}).values()))
    return out


def raw_source(step: Step, spec: DomainSpec) -> str | None:
    """<raw file>.<column> a collected value comes from, for define.xml's Origin."""
    if step.derivation or step.algorithm not in RAW_READERS or "from" not in spec.records:
        return None
    return f"{spec.records['from']}.{step.args.get('column') or step.args.get('date')}"


def check_data_facts(specs: Specs) -> None:
    """A TS parameter of study.yaml taken `from: data.X` names a data fact the derivations know."""
    for i, ts in enumerate(specs.study.data["trial_summary"]):
        fact = str(ts.get("from", ""))
        if fact.startswith("data.") and fact.removeprefix("data.") not in DATA_FACTS:
            where = f"{specs.study.path}: trial_summary[{i}]"
            raise SpecError(f"{where}.from: unknown data fact '{fact}' (one of {sorted(DATA_FACTS)})")


def check_mappings(specs: Specs) -> dict[str, DomainSpec]:
    """Every domain's records and mappings against the specs; return the domains with each variable's raw source."""
    check_data_facts(specs)
    plan = plan_domains(specs)
    updated = {}
    for domain, spec in specs.sdtm.items():
        fields = record_fields(spec, specs)
        if "where" in spec.records:
            try:
                flt = parse_filter(spec.records["where"], f"{spec.path}: records.where")
            except StepError as exc:
                raise SpecError(str(exc)) from None
            for c in flt.when:
                _check_condition(c, spec, fields, specs, f"{spec.path}: records.where")
            if flt.derivation:
                from flows.mapping.plan import FILTER_SIGNATURES

                for arg, kind in FILTER_SIGNATURES[flt.algorithm].params.items():
                    _check_arg(kind, flt.args.get(arg), spec, fields, specs, f"{spec.path}: records.where.{arg}")
        for var_name, by in (spec.value_lists or {}).items():
            if var_name not in spec.names or by not in spec.names:
                raise SpecError(f"{spec.path}: value_lists: '{var_name}: {by}' must name two variables of {domain}")
        variables = []
        for var in spec.variables:
            where = f"{spec.path}: variables.{var.name}.map"
            steps = plan.domains[domain].steps.get(var.name, ())
            _check_steps(steps, spec, fields, specs, where)
            if var.sponsor_codelist is not None:
                _check_sponsor_codelist(
                    var.sponsor_codelist, specs, f"{spec.path}: variables.{var.name}.sponsor_codelist"
                )
            sources = [s for s in (raw_source(s, spec) for s in steps) if s]
            if var.origin == "Collected" and not sources:
                raise SpecError(f"{where}: a Collected variable needs a step that reads a raw column (assign, dtc)")
            variables.append(dataclasses.replace(var, source=sources[0] if sources else None))
        updated[domain] = dataclasses.replace(spec, variables=tuple(variables))
    return updated

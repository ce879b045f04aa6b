"""Check every mapping against the specs and the code at load: a spec that loads must run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flows.kernel.errors import SpecError
from flows.mapping.plan import parse_filter, plan_domains, qualifier_steps
from flows.mapping.records import SUPP_FIELDS
from flows.mapping.registry import RECORD_SOURCES
from flows.mapping.steps import StepError
from flows.mapping.vocabulary import Condition, Step
from flows.spec.model import ANALYSIS_CLASSES, DomainSpec, RawColumn, Specs, Variable, time_kind


def _source_fields(spec: DomainSpec, specs: Specs, where: str) -> set[str]:
    """The columns of a domain's raw sources (one contract, or a list whose valid rows are taken in turn): a column
    some of them lack is null on their records (VS takes the weight of the enrollment and infusion forms beside the
    vital signs form's measurements); the subject columns (roles SITEID, SUBJID) go by the first source's names."""
    named = spec.records["from"]
    if not spec.raw_sources or not all(isinstance(s, str) for s in spec.raw_sources) or isinstance(named, Mapping):
        raise SpecError(f"{where}: a raw contract's name, or a list of them")
    for source in spec.raw_sources:
        if source not in specs.raw:
            raise SpecError(f"{where}: no contract for raw file '{source}' in specs/raw")
    contracts = [specs.raw[s] for s in spec.raw_sources]
    if len({(bool(c.role("SITEID")), bool(c.role("SUBJID"))) for c in contracts}) > 1:
        named = {c.name: c.subject_columns for c in contracts}
        raise SpecError(f"{where}: the sources identify subjects by different roles (SITEID, SUBJID): {named}")
    first, others = contracts[0], contracts[1:]
    return set(first.column_names).union(*(set(c.column_names) - set(c.subject_columns) for c in others))


def record_fields(spec: DomainSpec, specs: Specs) -> set[str] | None:
    """The fields a domain's records have (raw columns, study-list fields, a named source's fields)."""
    rec, where = spec.records, f"{spec.path}: records"
    kinds = {"from", "study", "derivation", "supplemental", "from_sdtm"}
    if not isinstance(rec, Mapping) or len(kinds & set(rec)) != 1:
        raise SpecError(
            f"{where}: name one of from (a raw file), study (a study.yaml list), derivation, supplemental or "
            "from_sdtm (an SDTM dataset: analysis datasets)"
        )
    if "from_sdtm" in rec:
        source = specs.sdtm.get(rec["from_sdtm"])
        if source is None or "from_sdtm" in (source.records or {}):
            raise SpecError(f"{where}.from_sdtm: '{rec['from_sdtm']}' names no dataset in specs/sdtm")
        return set(source.names)
    if "supplemental" in rec:
        return _check_supplemental(rec["supplemental"], specs, f"{where}.supplemental")
    if "from" in rec:
        fields = _source_fields(spec, specs, f"{where}.from")
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
        if "complete" in rec:
            name = (rec["complete"] or {}).get("derivation") if isinstance(rec["complete"], Mapping) else None
            source = RECORD_SOURCES.get(str(name))
            if source is None or source.completes is None:
                known = sorted(n for n, s in RECORD_SOURCES.items() if s.completes)
                raise SpecError(f"{where}.complete: {{derivation: name}} of a source that completes records ({known})")
            source.completes(spec, specs, f"{where}.complete")
            fields |= set(source.fields)
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
    source = RECORD_SOURCES.get(rec["derivation"])
    if source is None or source.completes:
        builders = sorted(n for n, s in RECORD_SOURCES.items() if not s.completes)
        raise SpecError(f"{where}.derivation: unknown record source '{rec['derivation']}' ({builders})")
    return set(source.fields)


def _check_supplemental(how: Any, specs: Specs, where: str) -> set[str]:
    """SUPP-- records: a parent dataset, its identifying variable and qualifiers each with a mapping on it."""
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
    if kind == "variables":
        if not isinstance(value, list):
            raise SpecError(f"{where}: a list of variables")
        for v in value:
            _check_arg("variable", v, spec, fields, specs, where)
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


def raw_columns(spec: DomainSpec, specs: Specs, name: Any) -> list[tuple[str, RawColumn]]:
    """(contract file, column) of each raw source that has the field `name` of the domain's records."""
    contracts = [specs.raw[s] for s in spec.raw_sources if s in specs.raw]
    return [(c.path.name, c.column(name)) for c in contracts if name in c.column_names]


def _check_column_type(types: tuple[str, ...], value: Any, spec: DomainSpec, specs: Specs, where: str) -> None:
    """A column an algorithm reads as dates (say) is declared so in its raw contract."""
    for contract, col in raw_columns(spec, specs, value):
        if col.type not in types:
            raise SpecError(f"{where}: '{value}' is declared {col.type} in {contract}; this reads {' or '.join(types)}")


NUMERIC = ("integer", "float")


def _check_copied_type(steps: tuple[Step, ...], var: Variable, spec: DomainSpec, specs: Specs, where: str) -> None:
    """A Num variable takes a raw column as it is only when the column is declared a number."""
    for step in steps:
        column = step.args.get(step.operation.copies) if step.operation.copies else None
        for contract, col in raw_columns(spec, specs, column) if column and var.type == "Num" else ():
            if col.type not in NUMERIC:
                said = f"{var.name} is Num, but '{column}' is declared {col.type} in {contract}"
                raise SpecError(f"{where}.{step.name}: {said}")


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
        for p in step.operation.params:
            if p.name in step.args:
                _check_arg(p.kind, step.args[p.name], spec, fields, specs, f"{where}.{step.name}.{p.name}")
                if p.types is not None:
                    _check_column_type(p.types, step.args[p.name], spec, specs, f"{where}.{step.name}.{p.name}")
        for c in step.when:
            _check_condition(c, spec, fields, specs, f"{where}.when")
        if step.operation.check:  # what the parameters' kinds cannot say
            step.operation.check(step.args, spec, specs, f"{where}.{step.name}")


def _with_nested(steps: tuple[Step, ...]) -> list[Step]:
    """The steps and the parts of any template among them."""
    out = []
    for step in steps:
        out.append(step)
        out += _with_nested(tuple(step.parts()))
    return out


def raw_source(step: Step, spec: DomainSpec, specs: Specs) -> str | None:
    """<raw file>.<column> a collected value comes from, for define.xml's Origin: each source that has the column
    (for the value of an unpivot, each of its columns; a date with its time, the time's column too)."""
    op = step.operation
    if op.collects is None or "from" not in spec.records:
        return None
    column = step.args.get(op.collects)
    unpivot = spec.records.get("unpivot") or {}
    columns = list(unpivot.get("columns", [])) if column == unpivot.get("value") else [column]
    if step.args.get(op.collects_also):
        columns.append(step.args[op.collects_also])
    having = [
        f"{s}.{c}" for s in spec.raw_sources for c in columns if s in specs.raw and c in specs.raw[s].column_names
    ]
    return ", ".join(having or [f"{s}.{column}" for s in spec.raw_sources])


def check_analysis(specs: Specs) -> dict[str, DomainSpec]:
    """The ADaM datasets of specs/adam checked like the SDTM ones, their mappings reading the SDTM datasets and
    each other: names of at most 8 characters, labels of at most 40, text of at most 200 (SAS XPORT v5)."""
    for domain, spec in specs.adam.items():
        if domain in specs.sdtm or "from_sdtm" not in (spec.records or {}):
            raise SpecError(f"{spec.path}: records: an analysis dataset's come from_sdtm: <an SDTM dataset>")
        if spec.klass not in ANALYSIS_CLASSES:
            raise SpecError(f"{spec.path}: class: one of the ADaM classes {list(ANALYSIS_CLASSES)}")
        for v in spec.variables:
            where = f"{spec.path}: variables.{v.name}"
            if len(v.name) > 8 or not v.name.isupper() or len(v.label) > 40 or (v.type == "Char" and v.length > 200):
                raise SpecError(f"{where}: name upper case of at most 8 characters, label at most 40, length 200")
            if v.display_format and (v.type != "Num" or time_kind(v.display_format) is None):
                raise SpecError(f"{where}.display_format: a Num variable's date (DATE9.) or date-time (DATETIME20.)")
    together = dataclasses.replace(specs, sdtm={**specs.sdtm, **specs.adam})
    checked = check_mappings(together)
    return {d: checked[d] for d in specs.adam}


def check_mappings(specs: Specs) -> dict[str, DomainSpec]:
    """Every domain's records and mappings against the specs; return the domains with each variable's raw source."""
    for source in RECORD_SOURCES.values():  # the study facts each reads (TS: trial_summary's data facts)
        if source.check:
            source.check(specs)
    plan = plan_domains(specs)
    updated = {}
    for domain, spec in specs.sdtm.items():
        fields = record_fields(spec, specs)
        if "where" in spec.records:
            try:
                flt = parse_filter(spec.records["where"], f"{spec.path}: records.where")
            except StepError as exc:
                raise SpecError(str(exc)) from None
            for c in flt.conditions:
                _check_condition(c, spec, fields, specs, f"{spec.path}: records.where")
            if flt.step:
                for p in flt.step.operation.params:
                    arg = flt.step.args.get(p.name)
                    _check_arg(p.kind, arg, spec, fields, specs, f"{spec.path}: records.where.{p.name}")
        variables = []
        for var in spec.variables:
            where = f"{spec.path}: variables.{var.name}.map"
            steps = plan.domains[domain].steps.get(var.name, ())
            _check_steps(steps, spec, fields, specs, where)
            _check_copied_type(steps, var, spec, specs, where)
            if var.sponsor_codelist is not None:
                _check_sponsor_codelist(
                    var.sponsor_codelist, specs, f"{spec.path}: variables.{var.name}.sponsor_codelist"
                )
            sources = [s for s in (raw_source(s, spec, specs) for s in steps) if s]
            if var.origin == "Collected" and not sources:
                raise SpecError(f"{where}: a Collected variable needs a step that reads a raw column (assign, dtc)")
            variables.append(dataclasses.replace(var, source=sources[0] if sources else None))
        updated[domain] = dataclasses.replace(spec, variables=tuple(variables))
    return updated

"""Load the study, raw-file and SDTM specifications from specs/ and check them before anything uses them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from flows.errors import SpecError

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
RAW_TYPES = {"string", "integer", "float", "date", "partial_date", "datetime"}
ORIGINS = {"Collected", "Derived", "Assigned", "Protocol", "Predecessor"}
CORES = {"Req", "Exp", "Perm"}
CONDITIONS = ("when", "when_in", "when_present")  # what a conditional row rule of a raw contract holds under


@dataclass(frozen=True)
class Term:
    value: str
    code: str
    decode: str


@dataclass(frozen=True)
class Codelist:
    name: str
    code: str
    label: str
    extensible: bool
    terms: tuple[Term, ...]

    @cached_property
    def values(self) -> frozenset[str]:
        return frozenset(t.value for t in self.terms)

    def code_of(self, value: str) -> str:
        return next(t.code for t in self.terms if t.value == value)


@dataclass(frozen=True)
class RawColumn:
    name: str
    type: str
    required: bool
    description: str
    pattern: str | None = None
    codelist: str | None = None
    values: tuple[str, ...] | None = None
    values_from: str | None = None
    min: float | None = None
    max: float | None = None
    pii: bool = False
    role: str | None = None  # the identifier a derivation needs the column as: SITEID, SUBJID
    earliest: str | None = None  # a date column's own lower bound (e.g. birth), instead of the study's


@dataclass(frozen=True)
class RawContract:
    name: str
    file: str
    description: str
    key: tuple[str, ...]
    allow_empty: bool
    parent: str | None
    columns: tuple[RawColumn, ...]
    row_rules: tuple[Mapping[str, Any], ...]
    cut: Mapping[str, Any] | None
    not_tabulated: str
    path: Path
    parent_rules: tuple[Mapping[str, Any], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> RawColumn:
        return next(c for c in self.columns if c.name == name)

    def role(self, role: str) -> str | None:
        """The column that plays `role` (SITEID, SUBJID), or None."""
        return next((c.name for c in self.columns if c.role == role), None)

    @property
    def subject_columns(self) -> list[str]:
        """The columns that identify a subject: the site (if the file has one) and the subject number."""
        return [c for c in (self.role("SITEID"), self.role("SUBJID")) if c]


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    type: str
    length: int
    core: str
    role: str
    origin: str
    codelist: str | None = None
    values: tuple[str, ...] | None = None
    source: str | None = None  # <raw file>.<column>, worked out from `map` at load
    method: str | None = None
    map: Any = None  # how the variable is derived: one mapping step or a list (first non-null wins)
    sponsor_codelist: Mapping[str, Any] | None = None  # {name, codes, decodes}: study.yaml paths of the terms
    dictionary: Mapping[str, Any] | None = None  # {name, version_from}: an external dictionary (MedDRA)


@dataclass(frozen=True)
class DomainSpec:
    domain: str
    label: str
    klass: str
    structure: str
    keys: tuple[str, ...]
    seq: str | None
    variables: tuple[Variable, ...]
    path: Path
    records: Mapping[str, Any] | None = None  # {from: <raw file>} | {study: <list>} | {derivation: <source>}
    value_lists: Mapping[str, str] | None = None  # variable -> the variable whose values select its definition

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)


@dataclass(frozen=True)
class Study:
    """The protocol facts of specs/study.yaml, with lookups the derivations need."""

    data: Mapping[str, Any]
    path: Path

    @property
    def studyid(self) -> str:
        return self.data["studyid"]

    @property
    def arms(self) -> list[Mapping[str, Any]]:
        return self.data["arms"]

    @property
    def visits(self) -> list[Mapping[str, Any]]:
        return self.data["visits"]["schedule"]

    @property
    def criteria(self) -> list[Mapping[str, Any]]:
        return self.data["criteria"]["list"]

    @property
    def treatment(self) -> Mapping[str, Any]:
        return self.data["treatment"]

    @property
    def sites(self) -> list[Mapping[str, Any]]:
        return self.data["sites"]

    @property
    def timezone(self) -> str:
        """The study's time zone (IANA name): its sites'; with sites in several zones, the first site's."""
        return self.sites[0]["timezone"]

    @property
    def cron(self) -> str | None:
        """The scheduled export's cron (`schedule.cron`); None: the deployment's own (prefect.yaml)."""
        return (self.data.get("schedule") or {}).get("cron")

    @property
    def schedule_timezone(self) -> str:
        """The time zone of the scheduled export: `schedule.timezone`, by default the study's."""
        return (self.data.get("schedule") or {}).get("timezone") or self.timezone

    @property
    def outcomes(self) -> Mapping[str, str]:
        return self.data["screening_outcomes"]

    def lookup(self, dotted: str) -> Any:
        """Resolve 'a.b.c' in the study; through a list it collects the field of every element. `*` takes every
        value of a mapping, and the lists found under it are joined ('instruments.*.items': every item)."""
        node: Any = self.data
        spread = False
        for part in dotted.split("."):
            if part == "*" and isinstance(node, Mapping):
                node, spread = list(node.values()), True
            elif isinstance(node, list) and spread and part != "count":
                found = [item[part] for item in node if isinstance(item, Mapping) and part in item]
                if not found:
                    raise KeyError(dotted)
                node = [x for f in found for x in (f if isinstance(f, list) else [f])]
            elif isinstance(node, list):
                node = len(node) if part == "count" else [item[part] for item in node]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                raise KeyError(dotted)
        return node

    def allowed(self, dotted: str) -> list[str]:
        """Values a raw column may take according to `values_from` (a list, or a mapping's values or keys)."""
        node = self.lookup(dotted)
        if isinstance(node, Mapping):
            node = list(node.values()) if all(isinstance(v, str) for v in node.values()) else list(node)
        return [str(v) for v in node]


@dataclass(frozen=True)
class Specs:
    study: Study
    ct_release: str
    codelists: Mapping[str, Codelist]
    raw: Mapping[str, RawContract]
    sdtm: Mapping[str, DomainSpec]
    methods: Mapping[str, str]
    root: Path


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ~10x faster


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: expected a mapping at the top level")
    return data


def _need(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] is None:
        raise SpecError(f"{where}: missing required key '{key}'")
    return data[key]


def _build(cls: type, data: Mapping[str, Any], required: tuple[str, ...], where: str, **extra: Any) -> Any:
    for key in required:
        _need(data, key, where)
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}")
    values = {k: tuple(v) if isinstance(v, list) and k != "map" else v for k, v in data.items()}
    return cls(**values, **extra)


def load_codelists(path: Path) -> tuple[str, dict[str, Codelist]]:
    data = _read_yaml(path)
    lists = {}
    for name, cl in _need(data, "codelists", str(path)).items():
        where = f"{path}: codelists.{name}"
        terms = tuple(Term(t["value"], t["code"], t.get("decode", "")) for t in _need(cl, "terms", where))
        lists[name] = Codelist(name, _need(cl, "code", where), cl.get("name", name), cl["extensible"], terms)
    return str(_need(data, "release", str(path))), lists


def load_raw_contract(path: Path) -> RawContract:
    data = _read_yaml(path)
    where = str(path)
    cols = tuple(
        _build(RawColumn, c, ("name", "type", "required", "description"), f"{where}: columns[{i}]")
        for i, c in enumerate(_need(data, "columns", where))
    )
    return RawContract(
        name=path.stem,
        file=_need(data, "file", where),
        description=_need(data, "description", where),
        key=tuple(_need(data, "key", where)),
        allow_empty=bool(data.get("allow_empty", False)),
        parent=data.get("parent"),
        columns=cols,
        row_rules=tuple(data.get("row_rules") or ()),
        cut=data.get("cut"),
        not_tabulated=_need(data, "not_tabulated", where),
        path=path,
        parent_rules=tuple(data.get("parent_rules") or ()),
    )


def load_domain(path: Path) -> DomainSpec:
    data = _read_yaml(path)
    where = str(path)
    required = ("name", "label", "type", "length", "core", "role", "origin")
    variables = tuple(
        _build(Variable, v, required, f"{where}: variables.{v.get('name', i)}")
        for i, v in enumerate(_need(data, "variables", where))
    )
    return DomainSpec(
        domain=_need(data, "domain", where),
        label=_need(data, "label", where),
        klass=_need(data, "class", where),
        structure=_need(data, "structure", where),
        keys=tuple(_need(data, "keys", where)),
        seq=data.get("seq"),
        variables=variables,
        path=path,
        records=_need(data, "records", where),
        value_lists=data.get("value_lists"),
    )


def load_specs(root: Path = SPECS_DIR) -> Specs:
    """Load every spec under root and cross-check them; raise SpecError naming file and key on the first problem."""
    study = Study(_read_yaml(root / "study.yaml"), root / "study.yaml")
    release, codelists = load_codelists(root / "ct" / "sdtm-ct.yaml")
    raw = {p.stem: load_raw_contract(p) for p in sorted((root / "raw").glob("*.yaml"))}
    sdtm_dir = root / "sdtm"
    methods = dict(_read_yaml(sdtm_dir / "methods.yaml")["methods"]) if (sdtm_dir / "methods.yaml").exists() else {}
    sdtm = {}
    for p in sorted(sdtm_dir.glob("*.yaml")):
        if p.name != "methods.yaml":
            spec = load_domain(p)
            sdtm[spec.domain] = spec
    specs = Specs(study, release, codelists, raw, sdtm, methods, root)
    return check_specs(specs)


def check_specs(specs: Specs) -> Specs:
    """Cross-check the specs against each other, the controlled terminology and the mapping vocabulary; return
    them with each collected variable's raw source worked out from its mapping."""
    from flows.mapping.checks import check_mappings
    from flows.spec_checks import check_raw, check_sdtm, check_study

    check_raw(specs)  # first: the study's criteria rules look for contracts' column roles
    check_study(specs)
    check_sdtm(specs)
    return dataclasses.replace(specs, sdtm=check_mappings(specs))

"""What the specs say, as frozen dataclasses: the study (specs/study.yaml), the raw contracts (specs/raw/), the
dataset specs (specs/sdtm/) and the controlled terminology (specs/ct/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

RAW_TYPES = {"string", "integer", "float", "date", "partial_date", "datetime"}
ORIGINS = {"Collected", "Derived", "Assigned", "Protocol", "Predecessor"}
CORES = {"Req", "Exp", "Perm"}
CONDITIONS = ("when", "when_in", "when_present")  # what a conditional row rule of a raw contract holds under

# The keys of a dataset variable that say what define.xml states about its values (besides label, type, length,
# core, role, origin and method): what each does, and an example. specs/README.md's reference is generated from it.
DEFINE_KEYS: dict[str, tuple[str, str]] = {
    "codelist": (
        "A CDISC CT codelist of `ct/` (`values:` a subset the variable may take). define.xml lists the terms the "
        "data use, each with its NCI code, and the codelist's NCI code.",
        "EPOCH: {..., codelist: EPOCH}\nDTHFL: {..., codelist: NY, values: [Y]}",
    ),
    "sponsor_codelist": (
        "A sponsor codelist from study.yaml: `name`, `label`, `codes` and `decodes` (study.yaml lists, or lists of "
        "them joined in order, of the same length; `@key` takes a mapping's keys); every term is listed, or with "
        "`used_only: true` those the data use.",
        "ARMCD: {..., sponsor_codelist: {name: ARMCD, label: Planned Arm Code, codes: arms.armcd, decodes: arms.arm}}\n"
        "QSCAT: {..., sponsor_codelist: {name: QSCAT, label: Category of Questionnaire, codes: instruments.@key,\n"
        "                                decodes: instruments.*.name, used_only: true}}",
    ),
    "dictionary": (
        "Coded with an external dictionary: `name` and `version_from` (a study.yaml path). define.xml gives an "
        "ExternalCodeList and the origin Assigned (Source Sponsor: the coding team assigns the term; Define-XML 2.1 "
        "section 5.3.11.3).",
        "AEDECOD: {..., dictionary: {name: MedDRA, version_from: safety.dictionary.version}}",
    ),
    "external_codelist": (
        "Values taken from an external code list, not coded by the sponsor: `name` and `version_from` (a study.yaml "
        "path); an ExternalCodeList, the origin unchanged.",
        "COUNTRY: {..., external_codelist: {name: ISO 3166-1 alpha-3, version_from: standards.country_codes.version}}",
    ),
    "value_level": (
        "Value-level metadata: one definition of the variable per value of `by` (a variable of the dataset, e.g. "
        "the test code) present in the data, each with its def:WhereClauseDef (`by` EQ the value) shared by every "
        "variable defined by the same `by`. Data type, length and significant digits come from that value's "
        "records, the label from the paired name variable (QSTEST for QSTESTCD), origin and method from the "
        "variable; the codelist is the variable's (a CT codelist restricted to the terms those records use), or "
        "the CT codelist that `codelists` names for that value.",
        "QSORRES: {..., value_level: {by: QSTESTCD}}\n"
        "DSDECOD: {..., value_level: {by: DSCAT, codelists: {PROTOCOL MILESTONE: PROTMLST, DISPOSITION EVENT: "
        "NCOMPLT}}}",
    ),
}


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
    source: str | None = None  # its name in the file (CSV header, XPT variable) or its ODM ItemOID; default: name
    format: str | None = None  # how a date is written in the file (VALUE_FORMATS); default: ISO 8601
    decode: Mapping[str, str] | None = None  # coded value in the file -> the value the pipeline sees (1: Y, 0: N)

    @property
    def in_file(self) -> str:
        """The column's name where the file has it: its `source`, or its own name."""
        return self.source or self.name


# How a date is written in a raw file (a column's `format`), read once into ISO 8601 (flows.raw.values), with examples;
# UN or UNK mark an unknown day or month, and make a partial date.
VALUE_FORMATS = {
    "ISO 8601": "2025-05-21, 1979-02",
    "DDMONYYYY": "21MAY2025, UNFEB1979, UNUNK1995",
    "DD/MM/YYYY": "21/05/2025, UN/02/1979",
    "MM/DD/YYYY": "05/21/2025, 02/UN/1979",
    "SAS date": "23882, days since 1960-01-01",
}
FILE_TYPES = ("csv", "xpt", "odm")
ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16")


@dataclass(frozen=True)
class RawFormat:
    """How a raw file is written (a contract's `format`): CSV with its dialect, SAS transport, or CDISC ODM 1.3 XML,
    where one file holds many forms and the contract names its form and item group."""

    type: str = "csv"  # FILE_TYPES
    delimiter: str = ","
    encoding: str = "utf-8"  # a byte-order mark is allowed and skipped
    quote: str = '"'
    decimal: str = "."  # the decimal mark of the file's numbers: "." or ","
    study_event: str | None = None  # ODM: StudyEventOID (default: any)
    form: str | None = None  # ODM: FormOID
    item_group: str | None = None  # ODM: ItemGroupOID


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
    format: RawFormat = RawFormat()

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
    dictionary: Mapping[str, Any] | None = None  # {name, version_from}: coded with an external dictionary (MedDRA)
    external_codelist: Mapping[str, Any] | None = None  # {name, version_from}: values of an external list (ISO 3166)
    value_level: Mapping[str, Any] | None = None  # {by, codelists}: define.xml value-level metadata (DEFINE_KEYS)
    display_format: str | None = None  # a SAS display format (DATE9., DATETIME20.): an ADaM numeric date or time


# ADaMIG 1.3 dataset classes (adam/define.xml def:Class); the subject-level dataset comes first
ANALYSIS_CLASSES = ("SUBJECT LEVEL ANALYSIS DATASET", "BASIC DATA STRUCTURE", "OCCURRENCE DATA STRUCTURE")
DATE_FORMATS = ("DATE", "E8601DA", "YYMMDD")  # display formats of a SAS date (days since 1960-01-01)
DATETIME_FORMATS = ("DATETIME", "E8601DT")  # of a SAS date-time (seconds since 1960-01-01T00:00)


def time_kind(display_format: str | None) -> str | None:
    """'date' or 'datetime' for a display format of a SAS date or date-time (DATE9., DATETIME20.), else None."""
    head = (display_format or "").rstrip(".0123456789")
    return "datetime" if head in DATETIME_FORMATS else "date" if head in DATE_FORMATS else None


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
    records: Mapping[str, Any] | None = None  # {from: <raw file(s)>} | {study: <list>} | {derivation: <source>}

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def value_lists(self) -> dict[str, str]:
        """Variable -> the variable whose values select its value-level definition (its `value_level: {by: ...}`)."""
        return {v.name: v.value_level["by"] for v in self.variables if v.value_level}

    @property
    def raw_sources(self) -> tuple[str, ...]:
        """The raw contracts the records come from: `records.from` names one, or a list (one dataset from several
        forms, e.g. QS from the MG-ADL and the QMG form), their valid rows taken in that order."""
        named = (self.records or {}).get("from")
        return (named,) if isinstance(named, str) else tuple(named or ())

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
        value of a mapping, and the lists found under it are joined ('instruments.*.items': every item); `@key` its
        keys ('instruments.@key': the instruments' names)."""
        node: Any = self.data
        spread = False
        for part in dotted.split("."):
            if part == "@key" and isinstance(node, Mapping):
                node = list(node)
            elif part == "*" and isinstance(node, Mapping):
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
        """Values a raw column may take according to `values_from` (a list, a mapping's values or keys, or one
        value, e.g. the MedDRA version of safety.dictionary.version)."""
        node = self.lookup(dotted)
        if isinstance(node, str | int | float):
            node = [node]
        elif isinstance(node, Mapping):
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
    # (raw file, column) -> the SDTM text variables that copy its values as they are: worked out from the mappings
    # when the specs are loaded (flows.mapping.load), read by raw validation (ASCII, no trailing blank, length)
    copies: Mapping[tuple[str, str], tuple[Copy, ...]] = field(default_factory=dict)
    base: Path | None = None  # the spec folder root/layout.yaml extends: study.yaml, ct/ and sdtm/ come from it
    conformance: Mapping[str, Any] = field(default_factory=dict)  # conformance.yaml: findings and why (the guide)
    adam: Mapping[str, DomainSpec] = field(default_factory=dict)  # specs/adam: analysis datasets, from the SDTM ones


@dataclass(frozen=True)
class Copy:
    """An SDTM text variable that takes a raw column's values as they are (an `assign` of the column)."""

    variable: str  # DOMAIN.VARIABLE
    length: int | None  # its length, when every value of the column lands in it (no record filter, no condition)

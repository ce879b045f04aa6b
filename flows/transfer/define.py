"""Define-XML 2.1 of a transfer's SDTM datasets, generated from the specs and the data (nothing hand-written per study).

`define_metadata` gathers what the define says as frozen dataclasses; `define_xml` renders that as the ODM tree,
laid out like CDISC's Define-XML 2.1 SDTM example; `check_oids` checks every OID reference. define_html.py renders
the same metadata for people.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.chunks import chunks_of, columns_of, in_blocks, rows_of
from flows.kernel.distinct import distinct_rows, shared_codes
from flows.kernel.errors import OutputCheckError
from flows.kernel.pandas_arrow import arrow_data
from flows.mapping.checks import raw_source
from flows.mapping.plan import qualifier_steps
from flows.mapping.sources.trial_summary import DATA_FACT_METHODS
from flows.spec.model import ANALYSIS_CLASSES, Codelist, DomainSpec, Specs, Variable
from flows.spec.sdtm_schema import TRACE
from flows.transfer.num_type import holds_integers

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NAMESPACES = {"": ODM_NS, "def": DEF_NS, "xlink": XLINK_NS, "xml": XML_NS}
ODM_VERSION, DEFINE_VERSION = "1.3.2", "2.1.0"
NCI_ALIAS = "nci:ExtCodeID"
LENGTH_TYPES = {"text", "integer", "float"}  # Define-XML gives Length for these DataTypes only
STYLESHEET = Path(__file__).with_name("define2-1.xsl")  # CDISC's, from the Define-XML 2.1 package (MIT licence)
STUDY_DOC = ("LF.STUDY", "documents/study.yaml", "Study specification (the protocol as data)")
ADAMIG_VERSION = "1.3"  # the ADaM Implementation Guide specs/adam follow (adam/define.xml's def:Standard)


_VALUE_TYPES = (
    ("integer", re.compile(r"-?\d+")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}")),
    ("datetime", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")),
    ("durationDatetime", re.compile(r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")),
)


@dataclass(frozen=True)
class Origin:
    type: str  # Collected, Derived, Assigned, Protocol, Predecessor
    source: str | None  # Investigator, Sponsor...
    text: str | None = None  # the raw field of a collected value, the predecessor variable


@dataclass(frozen=True)
class Item:
    """One ItemDef: a dataset variable or one value-level definition of it."""

    oid: str
    name: str
    label: str
    data_type: str
    length: int | None  # the Define-XML Length: only for text, integer and float
    xpt_length: int | None  # as written to the XPT file (shown in define.html)
    digits: int | None
    origin: Origin
    codelist: str | None = None
    comment: str | None = None
    value_list: str | None = None
    sas_name: str | None = None  # SASFieldName where it is not `name` (a value-level item: its variable's name)
    display_format: str | None = None  # def:DisplayFormat: an ADaM numeric date's SAS format (DATE9.)


@dataclass(frozen=True)
class ItemRef:
    item: str
    order: int
    mandatory: bool
    key: int | None = None
    method: str | None = None
    role: str | None = None
    where: str | None = None


@dataclass(frozen=True)
class Leaf:
    id: str
    href: str
    title: str


@dataclass(frozen=True)
class Dataset:
    oid: str
    name: str
    label: str
    klass: str
    structure: str
    keys: tuple[str, ...]
    repeating: bool
    reference: bool
    refs: tuple[ItemRef, ...]
    leaf: Leaf
    records: int
    domain: str = ""  # ItemGroupDef Domain: the dataset's, or a SUPP--'s parent domain (Define-XML 2.1 example)
    domain_description: str | None = None  # a SUPP--'s parent label: Alias Context="DomainDescription"


@dataclass(frozen=True)
class CodeListTerm:
    value: str
    code: str | None
    decode: str | None


@dataclass(frozen=True)
class CodeList:
    oid: str
    name: str
    code: str | None  # NCI code of a CT codelist; None for a sponsor codelist
    terms: tuple[CodeListTerm, ...]
    decoded: bool  # CodeListItem with Decode, else EnumeratedItem
    used_by: tuple[str, ...]
    data_type: str = "text"
    external: tuple[str, str] | None = None  # (dictionary, version) of an ExternalCodeList, e.g. MedDRA


@dataclass(frozen=True)
class Method:
    oid: str
    name: str
    text: str
    used_by: tuple[str, ...]


@dataclass(frozen=True)
class Comment:
    oid: str
    text: str
    used_by: tuple[str, ...]


@dataclass(frozen=True)
class WhereClause:
    oid: str
    item: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ValueList:
    oid: str
    refs: tuple[ItemRef, ...]


@dataclass(frozen=True)
class Standard:
    oid: str
    name: str
    type: str
    version: str
    publishing_set: str | None = None


@dataclass(frozen=True)
class Define:
    studyid: str
    title: str
    originator: str
    standards: tuple[Standard, ...]
    documents: tuple[Leaf, ...]
    datasets: tuple[Dataset, ...]
    items: tuple[Item, ...]  # dataset variables, then value-level items
    value_lists: tuple[ValueList, ...]
    where_clauses: tuple[WhereClause, ...]
    codelists: tuple[CodeList, ...]
    methods: tuple[Method, ...]
    comments: tuple[Comment, ...]
    purpose: str = "Tabulation"  # ItemGroupDef Purpose: Tabulation (SDTM) or Analysis (ADaM)

    def item(self, oid: str) -> Item:
        return next(i for i in self.items if i.oid == oid)


# --- vector helpers -------------------------------------------------------------------------------------------


def item_data_type(var: Variable, values: pd.Series) -> str:
    """text, datetime for --DTC, integer for numbers that are all whole (SEQ, DY, AGE), float otherwise."""
    if var.type == "Char":
        return "datetime" if var.name.endswith("DTC") else "text"
    return "integer" if holds_integers(values) else "float"


def significant_digits(values: pd.Series) -> int:
    """Most digits after the decimal point of any value (shortest round-trip form), over its distinct values."""
    distinct = values.dropna().unique()
    decimals = [len(np.format_float_positional(float(x), trim="-").partition(".")[2]) for x in distinct]
    return max(decimals, default=0)


_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def value_data_type(values: list[str], decimals: bool = False) -> str:
    """DataType of one value-level definition from its values: integer, ISO 8601 date/duration, else text; with
    `decimals`, numbers with a decimal point are float (a result such as a weight of 72.5: not TS, where '3.4' is
    a version)."""
    for data_type, pattern in _VALUE_TYPES:
        if values and all(pattern.fullmatch(v) for v in values):
            return data_type
    if decimals and values and all(_DECIMAL.fullmatch(v) for v in values):
        return "float"
    return "text"


def text_length(values: list[str]) -> int:
    """Longest value in UTF-8 bytes, at least 1 (as the XPT writer measures)."""
    return max([1, *(len(v.encode("utf-8")) for v in values)])


# --- metadata -------------------------------------------------------------------------------------------------


@dataclass
class _Registry:
    """Methods, comments and codelists as they are met, one per distinct text or term set, OIDs stable."""

    specs: Specs
    methods: dict[str, dict] = field(default_factory=dict)
    comments: dict[str, dict] = field(default_factory=dict)
    codelists: dict[tuple, dict] = field(default_factory=dict)

    def method(self, text: str, oid: str, user: str) -> str:
        entry = self.methods.setdefault(text, {"oid": oid, "users": []})
        entry["users"].append(user)
        return entry["oid"]

    def comment(self, text: str, oid: str, user: str) -> str:
        entry = self.comments.setdefault(text, {"oid": oid, "users": []})
        entry["users"].append(user)
        return entry["oid"]

    def ct_codelist(self, name: str, values: tuple[str, ...] | None, user: str, used: Iterable[str] = ()) -> str:
        """A CT codelist (or the subset `values` of the spec); it lists the terms its users' data hold (`used`)."""
        cl = self.specs.codelists[name]
        if values is not None and set(values) == set(cl.values):
            values = None
        key = ("ct", name, tuple(sorted(values)) if values else None)
        oid = f"CL.{name}" if values is None else f"CL.{name}.{user}"
        entry = self.codelists.setdefault(key, {"oid": oid, "users": [], "used": set()})
        entry["users"].append(user)
        entry["used"].update(str(v) for v in used)
        return entry["oid"]

    def sponsor_codelist(self, spec: Mapping[str, Any], user: str, used: Iterable[str] = ()) -> str:
        """A variable's sponsor codelist (spec key sponsor_codelist: name, label, codes, decodes in study.yaml;
        `used_only: true` lists only the terms the data hold)."""
        key = ("sponsor", spec["name"], None)
        entry = self.codelists.setdefault(key, {"oid": f"CL.{spec['name']}", "users": [], "spec": spec, "used": set()})
        entry["users"].append(user)
        entry["used"].update(str(v) for v in used)
        return entry["oid"]

    def built_methods(self) -> tuple[Method, ...]:
        out = [
            Method(e["oid"], f"Algorithm to derive {_names(e['users'])}", text, tuple(e["users"]))
            for text, e in self.methods.items()
        ]
        return tuple(sorted(out, key=lambda m: m.oid))

    def built_comments(self) -> tuple[Comment, ...]:
        return tuple(
            sorted(
                (Comment(e["oid"], text, tuple(e["users"])) for text, e in self.comments.items()), key=lambda c: c.oid
            )
        )

    def external_codelist(self, spec: Mapping[str, Any], user: str, data_type: str = "text") -> str:
        """An external dictionary or code list (spec keys dictionary, external_codelist: name, version_from); a
        dictionary's codes (MedDRA's integers, AEPTCD) get a codelist of their own: a CodeList has one DataType."""
        version = str(self.specs.study.lookup(spec["version_from"]))
        key = ("external", spec["name"], version, data_type)
        oid = "CL." + re.sub(r"[^A-Za-z0-9]", "", spec["name"]).upper()  # MedDRA -> CL.MEDDRA
        oid += "" if data_type == "text" else f".{data_type.upper()}"  # its codes: CL.MEDDRA.INTEGER
        entry = self.codelists.setdefault(key, {"oid": oid, "users": [], "data_type": data_type})
        entry["users"].append(user)
        return entry["oid"]

    def built_codelists(self) -> tuple[CodeList, ...]:
        out = []
        for (kind, name, values, *_), e in self.codelists.items():
            users = tuple(e["users"])
            if kind == "sponsor":
                out.append(_sponsor_codelist(self.specs, e["spec"], e["oid"], users, e["used"]))
            elif kind == "external":
                data_type = e["data_type"]
                label = f"{name} {values}" + ("" if data_type == "text" else " codes")
                out.append(CodeList(e["oid"], label, None, (), False, users, data_type, external=(name, values)))
            else:
                out.append(_ct_codelist(self.specs, self.specs.codelists[name], values, e["oid"], users, e["used"]))
        return tuple(sorted(out, key=lambda c: c.oid))


def _names(users: list[str]) -> str:
    """'EXSTDY, EXENDY, IEDY' from ['EX.EXSTDY', 'EX.EXENDY', 'IE.IEDY'], 'TSVAL (ACTSUB)' from ['TS.TSVAL.ACTSUB']."""
    names = (f"{u.split('.')[1]} ({u.split('.', 2)[2]})" if u.count(".") > 1 else u.split(".")[1] for u in users)
    return ", ".join(dict.fromkeys(names))


def _decodes(specs: Specs, cl: Codelist) -> dict[str, str] | None:
    """Decodes worth showing: the test name of a --TESTCD codelist, the NCI term of short codes (M, Y); else None."""
    paired = specs.codelists.get(cl.name[:-2]) if cl.name.endswith("CD") else None
    if paired is not None:
        names = {t.code: t.value for t in paired.terms}
        return {t.value: names.get(t.code, t.decode) for t in cl.terms}
    if any(len(t.value) <= 2 and t.decode and t.decode.upper() != t.value.upper() for t in cl.terms):
        return {t.value: t.decode for t in cl.terms}
    return None


def _ct_codelist(
    specs: Specs, cl: Codelist, values: tuple[str, ...] | None, oid: str, users: tuple[str, ...], used: set[str]
) -> CodeList:
    """The terms the data use (of the spec's subset `values`), in CT order with their NCI codes; when the data use
    none, the subset (else every term), so a codelist is never empty."""
    decodes = _decodes(specs, cl)
    allowed = [t for t in cl.terms if values is None or t.value in values]
    present = [t for t in allowed if t.value in used] or allowed
    terms = tuple(CodeListTerm(t.value, t.code, (decodes or {}).get(t.value) or None) for t in present)
    name = cl.label if values is None else f"{cl.label} ({_names(list(users))})"
    return CodeList(oid, name, cl.code, terms, decodes is not None, users)


def study_values(specs: Specs, paths: str | list[str]) -> list:
    """The values of one study.yaml path, or of several joined in order (a single value counts as a list of one)."""
    found = [specs.study.lookup(path) for path in ([paths] if isinstance(paths, str) else paths)]
    return [v for f in found for v in (f if isinstance(f, list) else [f])]


def _sponsor_codelist(
    specs: Specs, spec: Mapping[str, Any], oid: str, users: tuple[str, ...], used: set[str]
) -> CodeList:
    codes, decodes = study_values(specs, spec["codes"]), study_values(specs, spec["decodes"])
    pairs = [(str(c), str(d)) for c, d in zip(codes, decodes, strict=True)]
    if spec.get("used_only"):
        pairs = [p for p in pairs if p[0] in used] or pairs
    terms = tuple(CodeListTerm(c, None, d) for c, d in pairs)
    return CodeList(oid, spec["label"], None, terms, True, users)


def _raw_columns(source: str, specs: Specs) -> str:
    """'adverse_events.csv column meddra_pt' from a source <raw file>.<column> (several joined by ', ')."""
    sources = [s.split(".", 1) for s in source.split(", ")]
    return "; ".join(f"{specs.raw[f].file} column {c}" for f, c in sources)


def _collected(source: str, specs: Specs) -> Origin:
    """A Collected origin naming its raw columns."""
    return Origin("Collected", "Investigator", _raw_columns(source, specs))


def _origin(var: Variable, specs: Specs) -> Origin:
    if var.dictionary:  # a term a coding team assigns from a dictionary: Assigned (Define-XML 2.1, 5.3.11.3)
        version = specs.study.lookup(var.dictionary["version_from"])
        coded = f"{var.dictionary['name']} {version}" + (
            f", coded from {_raw_columns(var.source, specs)}" if var.source else ""
        )
        return Origin("Assigned", "Sponsor", coded)
    if var.origin == "Collected":  # source: <raw file>.<column>, or several (a dataset of several forms)
        return _collected(var.source or "", specs)
    if var.origin == "Predecessor":
        return Origin("Predecessor", None, var.source or var.method)
    return Origin(var.origin, "Sponsor")


def _check_inputs(
    datasets: Mapping[str, pd.DataFrame], specs: Specs, lengths: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """Datasets against their specs and the lengths, every difference both ways."""
    problems = []
    for domain in datasets:
        if domain not in specs.sdtm:
            problems.append(f"{domain}: no spec in specs/sdtm")
            continue
        names = specs.sdtm[domain].names
        columns = [c for c in columns_of(datasets, domain) if c not in TRACE]  # a dataset in blocks: not read
        missing, extra = [n for n in names if n not in columns], [c for c in columns if c not in names]
        if missing:
            problems.append(f"{domain}: variables in the spec but not in the dataset {missing}")
        if extra:
            problems.append(f"{domain}: variables in the dataset but not in the spec {extra}")
        given = lengths.get(domain, {})
        no_length = [n for n in names if not isinstance(given.get(n), Integral) or given[n] < 1]
        if no_length:
            problems.append(f"{domain}: no XPT length (positive integer) for {no_length}")
        unknown = sorted(set(given) - set(names))
        if unknown:
            problems.append(f"{domain}: lengths given for variables not in the spec {unknown}")
    return problems


def _distinct_text(values: pd.Series) -> list[str]:
    """The distinct present values of a column as text."""
    data = arrow_data(values)
    if data is not None and pa.types.is_string(data.type):  # pyarrow's hash of the text, not a frame of it
        return pc.unique(data).drop_null().to_pylist()
    return pd.Series(values.unique()).dropna().astype(str).tolist()


def _digits(shown: list[str]) -> int:
    """Define-XML Length of numbers: the most digits of any ('-72.5' has 3), at least 1."""
    return max([1, *(len(t.replace("-", "").replace(".", "")) for t in shown)])


def _value_type(var: Variable, present: pd.Series, decimals: bool, coded: bool) -> tuple[str, int | None, int | None]:
    """DataType, Length and SignificantDigits of one value-level definition, from its records' values: a Num
    variable's numbers (integer or float), else its text (integer, float with `decimals`, ISO 8601 date or
    duration, text; always text when `coded`: its codelist's terms are text)."""
    if var.type == "Num":
        numbers = present.astype("float64").drop_duplicates()
        data_type = "integer" if holds_integers(numbers) else "float"
        length = _digits([np.format_float_positional(float(x), trim="-") for x in numbers])
        return data_type, length, significant_digits(numbers) if data_type == "float" else None
    values = list(dict.fromkeys(present.astype(str).tolist()))
    data_type = "text" if coded else value_data_type(values, decimals)
    if data_type in ("integer", "float"):
        places = max([0, *(len(v.partition(".")[2]) for v in values)])
        return data_type, _digits(values), places if data_type == "float" else None
    return data_type, text_length(values) if data_type == "text" else None, None


def _value_codelist(
    var: Variable, key: str, entry: Mapping[str, Any], user: str, used: list, reg: _Registry
) -> str | None:
    """The codelist of one value-level definition: TS's per parameter, `value_level.codelists`' for this value, else
    the variable's own (a CT codelist lists the terms these records use)."""
    named = entry.get("codelist") or ((var.value_level or {}).get("codelists") or {}).get(key)
    if named:
        outside = sorted(set(used) - reg.specs.codelists[named].values)
        if outside:  # the dataset check knows the variable's codelist only, not this one
            raise OutputCheckError(
                f"define.xml: {user.rsplit('.', 1)[0]} where {key}: {outside} not in codelist {named}"
            )
        return reg.ct_codelist(named, None, user, used)
    if var.codelist:
        return reg.ct_codelist(var.codelist, var.values, user, used)
    if var.sponsor_codelist:
        return reg.sponsor_codelist(var.sponsor_codelist, user, used)
    ext = var.dictionary or var.external_codelist
    return reg.external_codelist(ext, user) if ext else None


def _oid_part(value: str) -> str:
    """A value as part of an OID: letters, digits, '.', '-' and '_' ('PROTOCOL MILESTONE' -> 'PROTOCOL_MILESTONE')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)


def _name_column(by: str, columns: Collection[str]) -> str | None:
    """The column naming the values of a value-level `by` column: TSPARMCD -> TSPARM, QSTESTCD -> QSTEST."""
    return by[:-2] if by.endswith("CD") and by[:-2] in columns else None


def _value_level_columns(var: Variable, columns: Collection[str]) -> list[str]:
    """The columns a variable's value-level definitions are made from: its `by`, itself and the name of `by`."""
    by = var.value_level["by"]
    name_col = _name_column(by, columns)
    return list(dict.fromkeys([by, var.name, *([name_col] if name_col else [])]))


def _values_read(var: Variable, values: pd.Series) -> bool:
    """Whether `_dataset` reads a variable's values beyond its dtype: the terms used of a text variable with a
    codelist, the numbers of a float one (integer or float, significant digits); not those of an integer column
    (integer whatever its values) or of text without a codelist (USUBJID, dates: many values, none read)."""
    if var.type == "Char":
        return bool(var.codelist or var.sponsor_codelist)
    return not pd.api.types.is_integer_dtype(values)


def define_sketch(chunks: Iterable[pd.DataFrame], spec: DomainSpec) -> pd.DataFrame:
    """Rows of a dataset enough for its define.xml metadata: of each chunk of its rows (in order), the first row of
    each distinct value of every variable (a missing value too) and of each combination its value-level definitions
    are made from, in their order. Every value and combination then first appears in the sketch in the order it
    first appears in the dataset, which is all `_dataset` reads of the rows (but their number): a dataset kept in
    blocks is described without being read whole. Variables whose values `_dataset` does not read are left out
    (`_values_read`). A sketch of sketches is the sketch."""
    parts = []
    for chunk in chunks:
        chunk = chunk.reset_index(drop=True)  # distinct rows come labelled by position
        keep = np.zeros(len(chunk), bool)
        with shared_codes():
            for var in spec.variables:
                groups = [[var.name]] if _values_read(var, chunk[var.name]) else []
                groups += [_value_level_columns(var, chunk.columns)] if var.value_level else []
                for columns in groups:
                    keep[distinct_rows(chunk, columns).rows.index.to_numpy()] = True
        parts.append(chunk.loc[keep])
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


def _value_list(
    domain: str, var: Variable, frame: pd.DataFrame, specs: Specs, reg: _Registry, method: str | None
) -> tuple[ValueList, list[Item], list[WhereClause]]:
    """One ItemDef per value of the variable's `value_level.by` present in the data, with its WhereClauseDef (shared
    by every variable defined by the same `by`); types and lengths from its records, TS parameters and SUPP--
    qualifiers with their own origin, method and comment. `method`: the variable's MethodDef, if it has one."""
    by = var.value_level["by"]
    from_ts = (specs.sdtm[domain].records or {}).get("derivation") == "trial_summary"
    entries = {e["parmcd"]: e for e in specs.study.data.get("trial_summary", [])} if from_ts else {}
    name_col = _name_column(by, frame.columns)
    parent_origin = _origin(var, specs)
    supp = (specs.sdtm[domain].records or {}).get("supplemental") or {}
    qualifiers = {q["qnam"]: q for q in supp.get("qualifiers", [])}
    refs, items, wheres = [], [], []
    # every distinct (by, value, name) once, in order of first appearance: what each key's definition is made from
    # (types, lengths, terms used, the first name given) is the same over its distinct values as over its records
    distinct = distinct_rows(frame, _value_level_columns(var, frame.columns)).rows
    key_rows: dict[str, list[int]] = {}  # each key's distinct rows, and those of them with a value
    valued: dict[str, list[int]] = {}
    keys, values = distinct[by], distinct[var.name]
    keyed = zip(keys.astype(str).tolist(), keys.notna().tolist(), values.notna().tolist(), strict=True)
    for i, (key, has_key, has_value) in enumerate(keyed):
        if has_key:
            key_rows.setdefault(key, []).append(i)
            valued.setdefault(key, []).extend([i] if has_value else [])
    names = distinct[name_col].tolist() if name_col else [None] * len(distinct)
    named = distinct[name_col].notna().tolist() if name_col else [False] * len(distinct)
    for order, key in enumerate(sorted(key_rows), start=1):
        present = values.iloc[valued[key]]
        oid, user = f"IT.{domain}.{var.name}.{_oid_part(key)}", f"{domain}.{var.name}.{key}"
        entry = entries.get(key, {})
        codelist = _value_codelist(var, key, entry, user, present.astype(str).tolist(), reg)
        data_type, length, digits = _value_type(var, present, decimals=not entries, coded=codelist is not None)
        origin, item_method = parent_origin, method
        if str(entry.get("from", "")).startswith("data."):
            fact = entry["from"].removeprefix("data.")
            text = DATA_FACT_METHODS.get(fact) or f"Determined at export from the data of the transfer (fact '{fact}')"
            origin, item_method = Origin("Derived", "Sponsor"), reg.method(text, f"MT.{user}", user)
        first_name = next((names[i] for i in key_rows[key] if named[i]), None)  # the test name of QSTESTCD, ...
        label = key if entries or qualifiers else f"{var.label} ({key})"
        label = str(first_name) if first_name is not None else label
        if key in qualifiers:  # a SUPP-- qualifier: its own origin and method
            q = qualifiers[key]
            origin, item_method, label = Origin(q["qorig"], "Sponsor"), None, str(q["qlabel"])
            parent = specs.sdtm[supp["parent"]]
            collected = [s for step in qualifier_steps(q, user) if (s := raw_source(step, parent, specs))]
            if q["qorig"] == "Collected" and collected:  # the raw columns its map reads, as for a variable
                origin = _collected(", ".join(collected), specs)
            if q.get("method"):
                item_method = reg.method(str(q["method"]).strip(), f"MT.{user}", user)
        comment = reg.comment(entry["comment"], f"COM.{user}", user) if entry.get("comment") else None
        item = Item(oid, key, label, data_type, length, length, digits, origin, codelist, comment, sas_name=var.name)
        items.append(item)
        where = WhereClause(f"WC.{domain}.{by}.{_oid_part(key)}", f"IT.{domain}.{by}", (key,))
        wheres.append(where)
        refs.append(ItemRef(oid, order, var.core == "Req", method=item_method, where=where.oid))
    return ValueList(f"VL.{domain}.{var.name}", tuple(refs)), items, wheres


def _dataset(
    spec: DomainSpec, frame: pd.DataFrame, lengths: Mapping[str, int], specs: Specs, reg: _Registry, rows: int
) -> tuple[Dataset, list[Item], list[Item], list[ValueList], list[WhereClause]]:
    """The ItemGroupDef of one dataset of `rows` records, its variables' ItemDefs and any value-level metadata of
    them, from `frame`: the dataset or its define_sketch."""
    domain = spec.domain
    refs, items, value_items, value_lists, wheres = [], [], [], [], []
    for order, var in enumerate(spec.variables, start=1):
        oid, user = f"IT.{domain}.{var.name}", f"{domain}.{var.name}"
        data_type = item_data_type(var, frame[var.name])
        text = specs.methods.get(var.method, var.method) if var.method else None
        method = comment = codelist = value_list = None
        if text and var.origin == "Derived":
            method = reg.method(text, f"MT.{var.method}" if var.method in specs.methods else f"MT.{user}", user)
        elif text and var.origin != "Predecessor":  # how an assigned or protocol value is set
            comment = reg.comment(text, f"COM.{user}", user)
        used = _distinct_text(frame[var.name]) if var.type == "Char" else []
        if var.codelist:
            codelist = reg.ct_codelist(var.codelist, var.values, user, used)
        elif var.sponsor_codelist:
            codelist = reg.sponsor_codelist(var.sponsor_codelist, user, used)
        elif var.dictionary:
            codelist = reg.external_codelist(var.dictionary, user, data_type)
        elif var.external_codelist:
            codelist = reg.external_codelist(var.external_codelist, user)
        if var.value_level:
            vl, vl_items, vl_wheres = _value_list(domain, var, frame, specs, reg, method)
            value_list = vl.oid
            value_lists.append(vl)
            value_items += vl_items
            wheres += vl_wheres
        length = lengths[var.name]
        digits = significant_digits(frame[var.name]) if data_type == "float" else None
        items.append(
            Item(
                oid,
                var.name,
                var.label,
                data_type,
                length if data_type in LENGTH_TYPES else None,
                length,
                digits,
                _origin(var, specs),
                codelist,
                comment,
                value_list,
                display_format=var.display_format,
            )
        )
        key = spec.keys.index(var.name) + 1 if var.name in spec.keys else None
        role = var.role if spec.klass not in ANALYSIS_CLASSES else None  # ADaM variables have no SDTM role
        refs.append(ItemRef(oid, order, var.core == "Req", key, method, role))
    reference = spec.klass == "TRIAL DESIGN"
    # Repeating No: at most one record per subject (keyed by STUDYID, USUBJID) or no subject data at all,
    # as in CDISC's examples (DM, TI, TS).
    repeating = not reference and not set(spec.keys) <= {"STUDYID", "USUBJID"}
    leaf = Leaf(f"LF.{domain}", f"xpt/{domain.lower()}.xpt", f"{domain.lower()}.xpt")
    parent = ((spec.records or {}).get("supplemental") or {}).get("parent")  # SUPPAE: AE
    ds = Dataset(
        f"IG.{domain}",
        domain,
        spec.label,
        spec.klass,
        spec.structure,
        spec.keys,
        repeating,
        reference,
        tuple(refs),
        leaf,
        rows,
        parent or domain,
        specs.sdtm[parent].label if parent in specs.sdtm else None,
    )
    return ds, items, value_items, value_lists, wheres


def define_metadata(
    datasets: Mapping[str, pd.DataFrame],
    specs: Specs,
    lengths: Mapping[str, Mapping[str, int]],
    analysis: bool = False,
    sketches: Mapping[str, list[pd.DataFrame]] | None = None,
) -> Define:
    """Everything define.xml and define.html say, from the specs, the datasets and their XPT lengths; a dataset kept
    in blocks from its define_sketch, made of `sketches` (each block's, made as the block was written) when given.

    Datasets come in the order of `datasets`, variables in spec order. Raises OutputCheckError listing every
    disagreement between datasets, specs and lengths. With `analysis`, the ADaM datasets of specs/adam
    (adam/define.xml: ADaMIG, Purpose Analysis, the ADaM classes).
    """
    if analysis:
        specs = dataclasses.replace(specs, sdtm=specs.adam)
    problems = _check_inputs(datasets, specs, lengths)
    if problems:
        raise OutputCheckError(("adam/define.xml: " if analysis else "define.xml: ") + "; ".join(problems))
    study = specs.study
    ig_version = ADAMIG_VERSION if analysis else str(study.lookup("sdtm.ig_version"))
    ig = Standard(f"STD.{'ADAMIG' if analysis else 'SDTMIG'}.{ig_version}", "ADaMIG" if analysis else "SDTMIG", "IG",
                  ig_version)  # fmt: skip
    ct = Standard(f"STD.CT.SDTM.{specs.ct_release}", "CDISC/NCI", "CT", specs.ct_release, "SDTM")
    reg = _Registry(specs)
    built, items, value_items, value_lists, wheres = [], [], [], [], []
    for domain in datasets:
        spec = specs.sdtm[domain]
        # a dataset kept in blocks: described from its sketch, a block at a time, never read whole
        if sketches is not None and domain in sketches:
            frame = define_sketch(sketches[domain], spec)
        elif in_blocks(datasets, domain):
            frame = define_sketch(chunks_of(datasets, domain), spec)
        else:
            frame = datasets[domain]
        with shared_codes():  # a column's distinct values worked out once for all the variables that read it
            ds, ds_items, ds_value_items, ds_vls, ds_wheres = _dataset(
                spec, frame, lengths[domain], specs, reg, rows_of(datasets, domain)
            )
        del frame
        built.append(ds)
        items += ds_items
        value_items += ds_value_items
        value_lists += ds_vls
        wheres += ds_wheres
    codelists = reg.built_codelists()
    standards = (ig, ct) if not analysis or any(cl.code for cl in codelists) else (ig,)  # each one referenced
    return Define(
        studyid=study.studyid,
        title=str(study.data.get("title", study.studyid)),
        originator=str(study.data.get("sponsor", study.studyid)),
        standards=standards,
        documents=(Leaf(*STUDY_DOC),),
        datasets=tuple(built),
        items=tuple(items + value_items),
        value_lists=tuple(value_lists),
        where_clauses=tuple({w.oid: w for w in wheres}.values()),  # one per `by` value, shared by its variables
        codelists=codelists,
        methods=reg.built_methods(),
        comments=reg.built_comments(),
        purpose="Analysis" if analysis else "Tabulation",
    )


# --- XML ------------------------------------------------------------------------------------------------------


def _tag(name: str) -> str:
    """'ItemDef' -> '{ODM}ItemDef', 'def:leaf' -> '{def}leaf'."""
    prefix, _, local = name.rpartition(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"


def _attr(name: str) -> str:
    """'OID' stays unqualified (ODM attributes are), 'def:Context' -> '{def}Context'."""
    return _tag(name) if ":" in name else name


def _add(
    parent: ET.Element | None, tag: str, attrs: Mapping[str, object] | None = None, text: str | None = None
) -> ET.Element:
    """Element `tag` ('ItemDef', 'def:leaf') with the attributes that are not None, in the order given."""
    qualified = {_attr(k): str(v) for k, v in (attrs or {}).items() if v is not None}
    el = ET.Element(_tag(tag), qualified) if parent is None else ET.SubElement(parent, _tag(tag), qualified)
    if text is not None:
        el.text = text
    return el


def _description(parent: ET.Element, text: str, tag: str = "Description") -> None:
    _add(_add(parent, tag), "TranslatedText", {"xml:lang": "en"}, text)


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def _item_ref(parent: ET.Element, ref: ItemRef) -> None:
    attrs = {"ItemOID": ref.item, "Mandatory": _yes(ref.mandatory), "OrderNumber": ref.order}
    el = _add(parent, "ItemRef", {**attrs, "KeySequence": ref.key, "MethodOID": ref.method, "Role": ref.role})
    if ref.where:
        _add(el, "def:WhereClauseRef", {"WhereClauseOID": ref.where})


def _leaf(parent: ET.Element, leaf: Leaf) -> None:
    _add(_add(parent, "def:leaf", {"ID": leaf.id, "xlink:href": leaf.href}), "def:title", text=leaf.title)


def define_xml(meta: Define, created: str) -> ET.Element:
    """The ODM root of define.xml; `created` (ISO 8601 date and time) becomes CreationDateTime and part of FileOID."""
    try:
        datetime.fromisoformat(created)
    except ValueError:
        raise ValueError(f"define.xml: created '{created}' is not an ISO 8601 date and time") from None
    if "T" not in created:
        raise ValueError(f"define.xml: created '{created}' needs a time (ODM CreationDateTime is a dateTime)")
    std_ig, std_ct = meta.standards[0], meta.standards[-1]  # an analysis define without CT codelists: the IG alone
    kind = "ADaM" if meta.purpose == "Analysis" else "SDTM"
    odm = _add(
        None,
        "ODM",
        {
            "ODMVersion": ODM_VERSION,
            "FileOID": f"{meta.studyid}/{created}/Define-XML_{DEFINE_VERSION}",
            "FileType": "Snapshot",
            "CreationDateTime": created,
            "Originator": meta.originator,
            "def:Context": "Submission",
        },
    )
    study = _add(odm, "Study", {"OID": study_oid(meta.studyid)})
    gv = _add(study, "GlobalVariables")
    _add(gv, "StudyName", text=meta.studyid)
    _add(gv, "StudyDescription", text=meta.title)
    _add(gv, "ProtocolName", text=meta.studyid)
    mdv = _add(
        study,
        "MetaDataVersion",
        {
            "OID": metadata_version_oid(meta.studyid, std_ig.name, std_ig.version),
            "Name": f"Study {meta.studyid}, {kind} data definitions",
            "Description": f"{kind} datasets of study {meta.studyid} ({std_ig.name} {std_ig.version}"
            + (", " if std_ct is not std_ig else "")
            + (f"{std_ct.name} CT {std_ct.publishing_set} {std_ct.version})" if std_ct is not std_ig else ")"),
            "def:DefineVersion": DEFINE_VERSION,
        },
    )
    standards = _add(mdv, "def:Standards")
    for s in meta.standards:
        attrs = {"OID": s.oid, "Name": s.name, "Type": s.type, "PublishingSet": s.publishing_set}
        _add(standards, "def:Standard", {**attrs, "Version": s.version, "Status": "Final"})
    docs = _add(mdv, "def:SupplementalDoc")
    for leaf in meta.documents:
        _add(docs, "def:DocumentRef", {"leafID": leaf.id})
    for vl in meta.value_lists:
        el = _add(mdv, "def:ValueListDef", {"OID": vl.oid})
        for ref in vl.refs:
            _item_ref(el, ref)
    for wc in meta.where_clauses:
        el = _add(mdv, "def:WhereClauseDef", {"OID": wc.oid})
        comparator = "EQ" if len(wc.values) == 1 else "IN"
        rc = _add(el, "RangeCheck", {"Comparator": comparator, "SoftHard": "Soft", "def:ItemOID": wc.item})
        for value in wc.values:
            _add(rc, "CheckValue", text=value)
    for ds in meta.datasets:
        el = _add(
            mdv,
            "ItemGroupDef",
            {
                "OID": ds.oid,
                "Domain": (ds.domain or ds.name) if kind == "SDTM" else None,  # ADaM datasets have none
                "Name": ds.name,
                "Repeating": _yes(ds.repeating),
                "IsReferenceData": _yes(ds.reference),
                "SASDatasetName": ds.name,
                "def:Structure": ds.structure,
                "Purpose": meta.purpose,
                "def:StandardOID": std_ig.oid,
                "def:ArchiveLocationID": ds.leaf.id,
            },
        )
        _description(el, ds.label)
        for ref in ds.refs:
            _item_ref(el, ref)
        if ds.domain_description:
            _add(el, "Alias", {"Context": "DomainDescription", "Name": ds.domain_description})
        _add(el, "def:Class", {"Name": ds.klass})
        _leaf(el, ds.leaf)
    for item in meta.items:
        el = _add(
            mdv,
            "ItemDef",
            {
                "OID": item.oid,
                "Name": item.name,
                "DataType": item.data_type,
                "Length": item.length,
                "SignificantDigits": item.digits,
                "SASFieldName": item.sas_name or item.name,
                "def:DisplayFormat": item.display_format,
                "def:CommentOID": item.comment,
            },
        )
        _description(el, item.label)
        if item.codelist:
            _add(el, "CodeListRef", {"CodeListOID": item.codelist})
        origin = _add(el, "def:Origin", {"Type": item.origin.type, "Source": item.origin.source})
        if item.origin.text:
            _description(origin, item.origin.text)
        if item.value_list:
            _add(el, "def:ValueListRef", {"ValueListOID": item.value_list})
    for cl in meta.codelists:
        attrs = {
            "OID": cl.oid,
            "Name": cl.name,
            "DataType": cl.data_type,
            "def:StandardOID": std_ct.oid if cl.code else None,
        }
        el = _add(mdv, "CodeList", attrs)
        if cl.external:
            _add(el, "ExternalCodeList", {"Dictionary": cl.external[0], "Version": cl.external[1]})
        for order, term in enumerate(cl.terms, start=1):
            if cl.decoded:
                t = _add(el, "CodeListItem", {"CodedValue": term.value, "OrderNumber": order})
                _description(t, term.decode or term.value, "Decode")
            else:
                t = _add(el, "EnumeratedItem", {"CodedValue": term.value, "OrderNumber": order})
            if term.code:
                _add(t, "Alias", {"Context": NCI_ALIAS, "Name": term.code})
        if cl.code:
            _add(el, "Alias", {"Context": NCI_ALIAS, "Name": cl.code})
    for m in meta.methods:
        _description(_add(mdv, "MethodDef", {"OID": m.oid, "Name": m.name, "Type": "Computation"}), m.text)
    for c in meta.comments:
        _description(_add(mdv, "def:CommentDef", {"OID": c.oid}), c.text)
    for leaf in meta.documents:
        _leaf(mdv, leaf)
    return odm


def build_define(
    datasets: Mapping[str, pd.DataFrame], specs: Specs, lengths: Mapping[str, Mapping[str, int]], created: str
) -> ET.Element:
    """The define.xml tree of these datasets (see `define_metadata` and `define_xml`)."""
    return define_xml(define_metadata(datasets, specs, lengths), created)


# --- checks and writing ---------------------------------------------------------------------------------------

# referencing attribute (local name) -> defining element (local name)
OID_REFERENCES = {
    "ItemOID": "ItemDef",
    "CodeListOID": "CodeList",
    "MethodOID": "MethodDef",
    "CommentOID": "CommentDef",
    "ValueListOID": "ValueListDef",
    "WhereClauseOID": "WhereClauseDef",
    "StandardOID": "Standard",
    "leafID": "leaf",
    "ArchiveLocationID": "leaf",
}


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def study_oid(studyid: str) -> str:
    """ODM Study OID; Dataset-JSON's studyOID must be the same."""
    return f"STDY.{studyid}"


def metadata_version_oid(studyid: str, ig_name: str, ig_version: str) -> str:
    """ODM MetaDataVersion OID; Dataset-JSON's metaDataVersionOID must be the same."""
    return f"MDV.{studyid}.{ig_name}.{ig_version}"


def check_oids(root: ET.Element) -> list[str]:
    """Every OID referenced is defined exactly once, every definition is referenced, and a CodeList's DataType is
    that of the items using it; one message per problem."""
    kinds = set(OID_REFERENCES.values())
    defined: dict[str, list[str]] = {}
    referenced: dict[str, set[str]] = {kind: set() for kind in kinds}
    for el in root.iter():
        kind = _local(el.tag)
        if kind in kinds:
            defined.setdefault(kind, []).append(el.get("ID" if kind == "leaf" else "OID", ""))
        for attr, value in el.attrib.items():
            target = OID_REFERENCES.get(_local(attr))
            if target:
                referenced[target].add(value)
    problems = []
    for kind in sorted(kinds):
        oids = defined.get(kind, [])
        problems += [
            f"{kind} {oid} defined {oids.count(oid)} times" for oid in sorted(set(oids)) if oids.count(oid) > 1
        ]
        problems += [f"{kind} {oid} referenced but not defined" for oid in sorted(referenced[kind] - set(oids))]
        problems += [f"{kind} {oid} defined but never referenced" for oid in sorted(set(oids) - referenced[kind])]
    cl_types = {el.get("OID"): el.get("DataType") for el in root.iter(_tag("CodeList"))}
    for item in root.iter(_tag("ItemDef")):
        ref = item.find(_tag("CodeListRef"))
        cl = ref.get("CodeListOID") if ref is not None else None
        if cl in cl_types and cl_types[cl] != item.get("DataType"):
            problems.append(f"ItemDef {item.get('OID')} is {item.get('DataType')} but CodeList {cl} is {cl_types[cl]}")
    return problems


def define_bytes(root: ET.Element) -> bytes:
    """UTF-8 bytes of the tree: XML declaration, the xml-stylesheet instruction naming define2-1.xsl, two-space
    indentation, namespaces as in CDISC's example."""
    for prefix, uri in NAMESPACES.items():
        if prefix != "xml":
            ET.register_namespace(prefix, uri)
    ET.indent(root, space="  ")
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="{STYLESHEET.name}"?>\n'
    return head.encode("utf-8") + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"


def write_stylesheet(folder: Path) -> Path:
    """Copy CDISC's Define-XML 2.1 stylesheet (define2-1.xsl by Lex Jansen, MIT licence: its notice travels in the
    file) beside define.xml, whose xml-stylesheet instruction names it, so a browser shows define.xml as a page."""
    return Path(shutil.copyfile(STYLESHEET, Path(folder) / STYLESHEET.name))


ACRF_LEAF = Leaf("LF.acrf", "acrf.pdf", "Annotated CRF")


def link_acrf(root: ET.Element, pages: Mapping[str, tuple[int, ...]], leaf: Leaf = ACRF_LEAF) -> None:
    """Link define.xml to the annotated CRF (Define-XML 2.1, as CDISC's example): def:AnnotatedCRF after
    def:Standards, its def:leaf, and on every Collected def:Origin a def:PDFPageRef (PhysicalRef) to the pages of
    its raw field. `pages`: DOMAIN.VARIABLE -> pages; a value-level item (IT.<DOMAIN>.<VARIABLE>.<VALUE>) takes its
    variable's, or else (a SUPP-- qualifier, whose QVAL no field feeds) DOMAIN.<VALUE>'s: SUPPAE.QNAM."""
    mdv = root.find(f"{_tag('Study')}/{_tag('MetaDataVersion')}")
    acrf = ET.Element(_tag("def:AnnotatedCRF"))
    _add(acrf, "def:DocumentRef", {"leafID": leaf.id})
    mdv.insert(list(mdv).index(mdv.find(_tag("def:Standards"))) + 1, acrf)
    for item in mdv.iter(_tag("ItemDef")):
        origin = item.find(_tag("def:Origin"))
        if origin is None or origin.get("Type") != "Collected":
            continue
        parts = item.get("OID", "").removeprefix("IT.").split(".")
        keys = [".".join(parts), ".".join(parts[:2]), f"{parts[0]}.{parts[-1]}"]
        key = next((k for k in keys if k in pages), None)
        if key is None:
            raise OutputCheckError(f"define.xml: {item.get('OID')} is Collected but no page of {leaf.href} shows it")
        ref = _add(origin, "def:DocumentRef", {"leafID": leaf.id})
        _add(ref, "def:PDFPageRef", {"PageRefs": " ".join(str(p) for p in pages[key]), "Type": "PhysicalRef"})
    _leaf(mdv, leaf)


def write_define(
    datasets: Mapping[str, pd.DataFrame],
    specs: Specs,
    lengths: Mapping[str, Mapping[str, int]],
    created: str,
    path: Path,
    meta: Define | None = None,
    acrf: Mapping[str, tuple[int, ...]] | None = None,
) -> None:
    """Write define.xml; the same inputs give the same bytes. Raises OutputCheckError on any OID problem.
    `meta`, when given, is define_metadata of the same datasets (worked out once for define.xml and define.html);
    `acrf`, the pages of the annotated CRF by DOMAIN.VARIABLE (`link_acrf`)."""
    root = define_xml(meta, created) if meta is not None else build_define(datasets, specs, lengths, created)
    if acrf is not None:
        link_acrf(root, acrf)
    problems = check_oids(root)
    if problems:
        raise OutputCheckError("define.xml: OID check failed: " + "; ".join(problems))
    Path(path).write_bytes(define_bytes(root))

"""Read a spec folder's YAML into the model (flows.spec.model); a malformed file is a SpecError naming file and key.
`flows.mapping.load.load_specs` reads and checks every spec; this module only reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from flows.kernel.errors import SpecError
from flows.spec.model import Codelist, DomainSpec, RawColumn, RawContract, RawFormat, Specs, Study, Term, Variable

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ~10x faster


def yaml_error(path: Path, exc: yaml.YAMLError) -> SpecError:
    """A YAML error as one line naming the file, the line and column (1-based) and what is wrong there."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}: line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return SpecError(f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else ""))


EXPANDED_LIMIT = 1_000_000  # values a spec file may hold once its YAML aliases are expanded (an alias bomb: 10**9)


def expanded_size(data: Any, limit: int = EXPANDED_LIMIT) -> int:
    """How many values `data` holds with every alias expanded (a shared node counted each time it is used),
    counting each distinct node once: linear in the file, however far its aliases would expand. Stops past limit."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else ()
        total = 1
        for child in children:
            total = min(total + size(child), limit + 1)
        sizes[id(node)] = total
        return total

    return size(data)


def read_yaml(path: Path) -> Mapping[str, Any]:
    """A spec file's top-level mapping; a missing file or a YAML error is a SpecError naming file, line and column."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: expected a mapping at the top level")
    if expanded_size(data) > EXPANDED_LIMIT:
        raise SpecError(f"{path}: its YAML aliases expand to more than {EXPANDED_LIMIT:,} values (an alias bomb?)")
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
    data = read_yaml(path)
    lists = {}
    for name, cl in _need(data, "codelists", str(path)).items():
        where = f"{path}: codelists.{name}"
        terms = tuple(Term(t["value"], t["code"], t.get("decode", "")) for t in _need(cl, "terms", where))
        lists[name] = Codelist(name, _need(cl, "code", where), cl.get("name", name), cl["extensible"], terms)
    return str(_need(data, "release", str(path))), lists


CONTRACT_KEYS = {"file", "description", "not_tabulated", "key", "allow_empty", "parent", "columns", "row_rules", "cut"}
CONTRACT_KEYS |= {"parent_rules", "format"}


def _raw_column(data: Mapping[str, Any], where: str) -> RawColumn:
    col = _build(RawColumn, data, ("name", "type", "required", "description"), where)
    if col.decode is not None:
        if not isinstance(col.decode, Mapping) or not col.decode:
            raise SpecError(f"{where}.decode: a mapping of coded value -> value (e.g. {{1: Y, 0: N}})")
        col = dataclasses.replace(col, decode={str(k): str(v) for k, v in col.decode.items()})
    return col


def load_raw_contract(path: Path) -> RawContract:
    data = read_yaml(path)
    where = str(path)
    unknown = sorted(set(data) - CONTRACT_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown} (one of {sorted(CONTRACT_KEYS)})")
    cols = tuple(_raw_column(c, f"{where}: columns[{i}]") for i, c in enumerate(_need(data, "columns", where)))
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
        format=_build(RawFormat, data.get("format") or {}, (), f"{where}: format"),
    )


def load_domain(path: Path) -> DomainSpec:
    data = read_yaml(path)
    where = str(path)
    required = ("name", "label", "type", "length", "core", "role", "origin")
    if "value_lists" in data:
        raise SpecError(f"{where}: value_lists: say it on the variable: value_level: {{by: <variable>}}")
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
    )


def base_of(root: Path) -> Path | None:
    """The spec folder `root/layout.yaml` extends (`extends: <folder>`, relative to root), or None: a folder for
    another EDC layout of a study holds only its raw contracts, and takes study.yaml, ct/ and sdtm/ from its base."""
    layout = root / "layout.yaml"
    if not layout.exists():
        return None
    data = read_yaml(layout)
    unknown = sorted(set(data) - {"extends"})
    if unknown or not isinstance(data.get("extends"), str):
        raise SpecError(f"{layout}: holds one key, extends: the spec folder whose study, CT and datasets it takes")
    base = (root / data["extends"]).resolve()
    if not (base / "study.yaml").is_file() or (base / "layout.yaml").exists():
        raise SpecError(f"{layout}: extends: {data['extends']} is not a spec folder with its own study.yaml")
    return base


def read_specs(root: Path = SPECS_DIR) -> Specs:
    """Read every spec under root, unchecked (`flows.mapping.load.load_specs` checks them): the raw contracts of
    root/raw, the rest from root or, when root has a layout.yaml, from the folder it extends (with the dataset specs
    root/sdtm holds in place of the base's of the same name)."""
    base = base_of(root)
    shared = base or root
    study = Study(read_yaml(shared / "study.yaml"), shared / "study.yaml")
    release, codelists = load_codelists(shared / "ct" / "sdtm-ct.yaml")
    raw = {p.stem: load_raw_contract(p) for p in sorted((root / "raw").glob("*.yaml"))}
    sdtm_dir = shared / "sdtm"
    methods = dict(read_yaml(sdtm_dir / "methods.yaml")["methods"]) if (sdtm_dir / "methods.yaml").exists() else {}
    files = {p.name: p for p in sdtm_dir.glob("*.yaml")}
    if base is not None:  # a layout's own dataset specs replace the base's of the same name (QS of split forms)
        files |= {p.name: p for p in (root / "sdtm").glob("*.yaml")}
    sdtm = {}
    for name, path in sorted(files.items()):
        if name != "methods.yaml":
            spec = load_domain(path)
            sdtm[spec.domain] = spec
    conformance = load_conformance(shared / "conformance.yaml")
    adam = {spec.domain: spec for spec in (load_domain(p) for p in sorted((shared / "adam").glob("*.yaml")))}
    return Specs(study, release, codelists, raw, sdtm, methods, root, base=base, conformance=conformance, adam=adam)


FINDING_KEYS = {"rule", "datasets", "message", "explanation"}


def load_conformance(path: Path) -> dict[str, Any]:
    """conformance.yaml (optional): the validator and the findings true to the data, each with its explanation
    (`flows.spec.checks.check_conformance` checks the datasets and variables they name)."""
    if not path.exists():
        return {}
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("findings", []), list):
        raise SpecError(f"{path}: a mapping with validator and a list of findings")
    for i, finding in enumerate(data.get("findings", [])):
        missing = sorted(FINDING_KEYS - set(finding)) if isinstance(finding, Mapping) else sorted(FINDING_KEYS)
        if missing:
            raise SpecError(f"{path}: findings[{i}]: missing key(s) {missing}")
    return {**data, "path": path}

"""Write the raw sample in other EDC layouts, with the contracts that read them: SAS transport files, one per raw file
(tests/studies/S103-xpt), and one CDISC ODM 1.3.2 file holding every form (tests/studies/S103-odm)."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pyreadstat
import yaml
from lxml import etree

from flows.raw.read import read_raw
from flows.spec.model import RawContract
from flows.spec.read import load_raw_contract
from flows.tools.layout_specs import write_layout_file

ROOT = Path(__file__).resolve().parents[2]
XPT_STAMP = b"01JAN25:00:00:00"  # the created and modified dates of every XPT header: the same bytes on every run
ODM_STAMP = "2025-01-01T00:00:00"
ODM_FILE = "clinical_data.xml"
ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
STUDY_EVENT = "SE.STUDY"  # one study event holds every form: visits stay an item of their own
SAS_DAY0 = pd.Timestamp("1960-01-01")
ODM_TYPES = {"string": "text", "integer": "integer", "float": "float", "date": "date"}
ODM_TYPES |= {"partial_date": "partialDate", "datetime": "partialDatetime"}
ODM_ROLES = {"SITEID": "SiteRef", "SUBJID": "SubjectKey"}  # columns that are ODM keys, not ItemData


def contracts_of(specs_dir: Path) -> dict[str, RawContract]:
    """The raw contracts of a spec folder, parents (files without a parent) first."""
    found = [load_raw_contract(p) for p in sorted((specs_dir / "raw").glob("*.yaml"))]
    return {c.name: c for c in sorted(found, key=lambda c: (c.parent is not None, c.name))}


def _rows(raw_dir: Path, contract: RawContract) -> pd.DataFrame:
    raw = read_raw(raw_dir, contract)
    if not raw.ragged.empty:
        raise ValueError(f"{contract.file}: records with the wrong number of fields cannot be converted")
    return raw.frame[contract.column_names]


def xpt_names(names: Iterable[str]) -> dict[str, str]:
    """SAS names (upper case, at most 8 characters) for column names: as they are when short enough, else each word's
    first letter and consonants, cut at 8, numbered when taken."""
    found: dict[str, str] = {}
    for name in names:
        words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
        short = "".join(words)
        if len(short) > 8:
            short = "".join(w[0] + re.sub("[AEIOU]", "", w[1:]) for w in words)[:8]
        candidate, n = short, 1
        while candidate in found.values():
            candidate, n = f"{short[: 8 - len(str(n))]}{n}", n + 1
        found[name] = candidate
    return found


def xpt_variables(rows: pd.DataFrame, contract: RawContract) -> tuple[pd.DataFrame, dict[str, str]]:
    """The columns as SAS variables and their formats: numbers as numbers (w.d when every value has d decimals),
    dates as SAS dates (DATE9.), date-times as SAS date-times (E8601DT16. when minutes are all they hold), the rest
    (text, partial dates) as text."""
    names = xpt_names(contract.column_names)
    data, formats = {}, {}
    for col in contract.columns:
        text, var = rows[col.name], names[col.name]
        given = text.dropna()
        if col.type in ("integer", "float"):
            data[var] = pd.to_numeric(text).astype("float64")
            decimals = given.str.partition(".")[2].str.len().unique()
            if len(decimals) == 1 and decimals[0] > 0:
                formats[var] = f"12.{decimals[0]}"
        elif col.type == "date":
            data[var] = (pd.to_datetime(text, format="%Y-%m-%d") - SAS_DAY0).dt.days.astype("float64")
            formats[var] = "DATE9."
        elif col.type == "datetime":
            data[var] = (pd.to_datetime(text, format="ISO8601") - SAS_DAY0).dt.total_seconds()
            formats[var] = "E8601DT16." if given.str.len().max() <= 16 else "E8601DT19."
        else:
            if (given.str.encode("utf-8").str.len() > 200).any():
                raise ValueError(f"{contract.file}: column {col.name}: a value longer than XPORT v5's 200 bytes")
            data[var] = text.fillna("").astype(object)
    return pd.DataFrame(data), formats


def _fixed_stamps(path: Path) -> None:
    data = path.read_bytes()
    end = data.find(b"HEADER RECORD*******OBS")
    path.write_bytes(re.sub(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", XPT_STAMP, data[:end]) + data[end:])


def write_xpt_layout(raw_dir: Path, specs_dir: Path, out_dir: Path) -> dict[str, dict[str, str]]:
    """One SAS transport file (v5) per raw file, `<raw file stem>.xpt` in out_dir; the SAS names of each file's
    columns (raw file -> column -> variable). Labels are the columns' descriptions, cut to XPORT's 40 characters."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {}
    for contract in contracts_of(specs_dir).values():
        frame, formats = xpt_variables(_rows(raw_dir, contract), contract)
        names[contract.name] = xpt_names(contract.column_names)
        path = out_dir / f"{Path(contract.file).stem}.xpt"
        labels = [c.description[:40] for c in contract.columns]
        table = xpt_names([contract.name])[contract.name]
        pyreadstat.write_xport(
            frame, path, table_name=table, column_labels=labels, file_format_version=5, variable_format=formats
        )
        _fixed_stamps(path)
    return names


def _oid(prefix: str, *parts: str) -> str:
    return ".".join([prefix, *(re.sub(r"[^A-Z0-9_]+", "_", p.upper()) for p in parts)])


def _metadata(study_oid: str, contracts: Mapping[str, RawContract]) -> etree._Element:
    study = etree.Element(f"{{{ODM_NS}}}Study", OID=study_oid, nsmap={None: ODM_NS})
    glob = etree.SubElement(study, "GlobalVariables")
    for tag in ("StudyName", "StudyDescription", "ProtocolName"):
        etree.SubElement(glob, tag).text = study_oid
    mdv = etree.SubElement(study, "MetaDataVersion", OID="MDV.1", Name="Raw EDC forms")
    etree.SubElement(etree.SubElement(mdv, "Protocol"), "StudyEventRef", StudyEventOID=STUDY_EVENT, Mandatory="Yes")
    event = etree.SubElement(mdv, "StudyEventDef", OID=STUDY_EVENT, Name="Study", Repeating="No", Type="Common")
    for c in contracts.values():
        etree.SubElement(event, "FormRef", FormOID=_oid("F", c.name), Mandatory="No")
    for c in contracts.values():
        form = etree.SubElement(mdv, "FormDef", OID=_oid("F", c.name), Name=c.name, Repeating="No")
        etree.SubElement(form, "ItemGroupRef", ItemGroupOID=_oid("IG", c.name), Mandatory="Yes")
    for c in contracts.values():
        group = etree.SubElement(mdv, "ItemGroupDef", OID=_oid("IG", c.name), Name=c.name, Repeating="Yes")
        for col in c.columns:
            if col.role not in ODM_ROLES:
                required = "Yes" if col.required else "No"
                etree.SubElement(group, "ItemRef", ItemOID=_oid("IT", c.name, col.name), Mandatory=required)
    for c in contracts.values():
        for col in c.columns:
            if col.role not in ODM_ROLES:
                oid = _oid("IT", c.name, col.name)
                etree.SubElement(mdv, "ItemDef", OID=oid, Name=col.name, DataType=ODM_TYPES[col.type])
    for tag in (e for e in study.iter() if isinstance(e.tag, str) and not e.tag.startswith("{")):
        tag.tag = f"{{{ODM_NS}}}{tag.tag}"
    return study


def _subjects(raw_dir: Path, contracts: Mapping[str, RawContract]) -> dict[tuple[str, str], list[tuple]]:
    """Per (site, subject), sorted: its forms in contract order, each (contract, [(ItemOID, value), ...] per row)."""
    found: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for c in contracts.values():
        rows = _rows(raw_dir, c)
        site, subject = rows[c.role("SITEID")].tolist(), rows[c.role("SUBJID")].tolist()
        items = [(col.name, _oid("IT", c.name, col.name)) for col in c.columns if col.role not in ODM_ROLES]
        values = list(zip(*(rows[name].tolist() for name, _ in items), strict=True))
        groups: dict[tuple[str, str], list] = defaultdict(list)
        for key, row in zip(zip(site, subject, strict=True), values, strict=True):
            groups[key].append([(oid, v) for (_, oid), v in zip(items, row, strict=True) if isinstance(v, str)])
        for key, rows_of in groups.items():
            found[key].append((c, rows_of))
    return dict(sorted(found.items()))


def write_odm_layout(raw_dir: Path, specs_dir: Path, out_dir: Path, study_oid: str) -> Path:
    """One ODM 1.3.2 snapshot (out_dir/clinical_data.xml) holding every raw file as a form: SubjectData (SubjectKey:
    the subject, SiteRef: the site) / StudyEventData SE.STUDY / FormData F.<FILE> / ItemGroupData IG.<FILE> (one per
    row, ItemGroupRepeatKey 1, 2, ...) / ItemData IT.<FILE>.<COLUMN>, blank values left out; the same bytes on every
    run."""
    contracts = contracts_of(specs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ODM_FILE
    root = {"FileType": "Snapshot", "FileOID": f"ODM.{study_oid}", "CreationDateTime": ODM_STAMP, "ODMVersion": "1.3.2"}
    with etree.xmlfile(str(path), encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{ODM_NS}}}ODM", root, nsmap={None: ODM_NS}):
            study = _metadata(study_oid, contracts)
            etree.indent(study, level=1)
            xf.write("\n  ", study, "\n  ")
            with xf.element(f"{{{ODM_NS}}}ClinicalData", StudyOID=study_oid, MetaDataVersionOID="MDV.1"):
                for (site, subject), forms in _subjects(raw_dir, contracts).items():
                    xf.write("\n    ", _subject_data(site, subject, forms))
                xf.write("\n  ")
            xf.write("\n")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n")
    return path


def _subject_data(site: str, subject: str, forms: list[tuple]) -> etree._Element:
    ns = f"{{{ODM_NS}}}"
    element = etree.Element(f"{ns}SubjectData", SubjectKey=subject, nsmap={None: ODM_NS})
    etree.SubElement(element, f"{ns}SiteRef", LocationOID=site)
    event = etree.SubElement(element, f"{ns}StudyEventData", StudyEventOID=STUDY_EVENT)
    for contract, rows in forms:
        form = etree.SubElement(event, f"{ns}FormData", FormOID=_oid("F", contract.name))
        for n, items in enumerate(rows, 1):
            group = etree.SubElement(form, f"{ns}ItemGroupData", ItemGroupOID=_oid("IG", contract.name))
            group.set("ItemGroupRepeatKey", str(n))
            for oid, value in items:
                etree.SubElement(group, f"{ns}ItemData", ItemOID=oid, Value=value)
    etree.indent(element, level=2)
    return element


def layout_contract(path: Path, file: str, fmt: str, sources: Mapping[str, str]) -> str:
    """The text of the raw contract at `path` for another layout: its `file`, a `format`, and each column's `source`
    (its name in that file); comments and everything else as they are."""
    text = path.read_text(encoding="utf-8")
    if re.search(r"(?m)^format:", text):
        raise ValueError(f"{path}: has a format already")
    text, found = re.subn(r"(?m)^file: .*$", f"file: {file}\nformat: {fmt}", text)
    text, columns = re.subn(r"(?m)^(\s*- \{name: )(\w+),", lambda m: f"{m[1]}{m[2]}, source: {sources[m[2]]},", text)
    if found != 1 or columns != len(sources):
        raise ValueError(f"{path}: expected one `file:` line and each column as `- {{name: ...,` on a line of its own")
    return f"# Made by flows.tools.layouts from {path.parent.name}/{path.name}: edit that one and run it again.\n{text}"


def _write_specs(out: Path, contracts: Mapping[str, RawContract], layout: Mapping[str, tuple], extends: str) -> None:
    """out/raw/<name>.yaml for each contract (layout: name -> file, format, sources) and out/layout.yaml."""
    (out / "raw").mkdir(parents=True, exist_ok=True)
    for name, (file, fmt, sources) in layout.items():
        text = layout_contract(contracts[name].path, file, fmt, sources)
        (out / "raw" / f"{name}.yaml").write_text(text, encoding="utf-8")
    write_layout_file(out, extends)


def write_layouts(
    raw_dir: Path = ROOT / "raw", specs_dir: Path = ROOT / "specs", studies: Path | None = None, extends: str = ""
) -> None:
    """The sample in raw/ as tests/studies/S103-xpt and S103-odm: their raw/ files and their specs/ (layout.yaml and
    the raw contracts; study.yaml, ct/ and sdtm/ are specs_dir's, which layout.yaml names by `extends`, by default
    its path relative to the layout's specs/)."""
    studies = studies or ROOT / "tests" / "studies"
    contracts = contracts_of(specs_dir)
    extends = (
        extends or Path(os.path.relpath(specs_dir.resolve(), (studies / "S103-xpt" / "specs").resolve())).as_posix()
    )
    names = write_xpt_layout(raw_dir, specs_dir, studies / "S103-xpt" / "raw")
    xpt = {n: (f"{Path(c.file).stem}.xpt", "{type: xpt}", names[n]) for n, c in contracts.items()}
    _write_specs(studies / "S103-xpt" / "specs", contracts, xpt, extends)
    study_oid = str(yaml.safe_load((specs_dir / "study.yaml").read_text(encoding="utf-8"))["studyid"])
    write_odm_layout(raw_dir, specs_dir, studies / "S103-odm" / "raw", study_oid)
    odm = {
        n: (
            ODM_FILE,
            f"{{type: odm, study_event: {STUDY_EVENT}, form: {_oid('F', n)}, item_group: {_oid('IG', n)}}}",
            {col.name: ODM_ROLES.get(col.role or "", _oid("IT", n, col.name)) for col in c.columns},
        )
        for n, c in contracts.items()
    }
    _write_specs(studies / "S103-odm" / "specs", contracts, odm, extends)


if __name__ == "__main__":
    write_layouts()

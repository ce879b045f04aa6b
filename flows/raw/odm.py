"""Read one item group of a CDISC ODM 1.3 ClinicalData file (streamed with lxml's iterparse) as text columns named by
the contract, indexed by the source line of each ItemGroupData."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
from lxml import etree

from flows.kernel.errors import SpecError, StructuralError
from flows.spec.model import RawContract

NS = "{http://www.cdisc.org/ns/odm/v1.3}"
GROUP, SUBJECT, CLINICAL = f"{NS}ItemGroupData", f"{NS}SubjectData", f"{NS}ClinicalData"
Element = etree._Element


def _site(subject: Element) -> str | None:
    site = subject.find(f"{NS}SiteRef")
    return None if site is None else site.get("LocationOID")


# What a column's `source` may name besides an ItemOID: the keys of the ItemGroupData's ancestors and its own.
CONTEXT: dict[str, Callable[[Element], str | None]] = {
    "SubjectKey": lambda g: g.getparent().getparent().getparent().get("SubjectKey"),
    "SiteRef": lambda g: _site(g.getparent().getparent().getparent()),
    "StudyEventOID": lambda g: g.getparent().getparent().get("StudyEventOID"),
    "StudyEventRepeatKey": lambda g: g.getparent().getparent().get("StudyEventRepeatKey"),
    "FormRepeatKey": lambda g: g.getparent().get("FormRepeatKey"),
    "ItemGroupRepeatKey": lambda g: g.get("ItemGroupRepeatKey"),
}


def _check_root(path: Path, file: str) -> None:
    """Fail fast, before the streaming pass, on a file that is not XML or whose root is not ODM 1.3."""
    try:
        _, root = next(etree.iterparse(str(path), events=("start",), resolve_entities=False, no_network=True))
    except (etree.XMLSyntaxError, StopIteration) as exc:
        raise StructuralError(f"{file}: not an XML file ({exc or 'empty'})") from None
    if root.tag != f"{NS}ODM":
        raise StructuralError(f"{file}: not a CDISC ODM 1.3 file (root element {root.tag}, expected {NS}ODM)")


def _matches(group: Element, contract: RawContract) -> bool:
    fmt, form = contract.format, group.getparent()
    return (
        group.get("ItemGroupOID") == fmt.item_group
        and (fmt.form is None or form.get("FormOID") == fmt.form)
        and (fmt.study_event is None or form.getparent().get("StudyEventOID") == fmt.study_event)
    )


def read_odm(path: Path, contract: RawContract) -> pd.DataFrame:
    """The contract's ItemGroupData (its `format`: item_group, form, study_event when set) as text, one "str" column
    per contract column: the `Value` of the ItemData its `source` names as ItemOID, or a key of CONTEXT; null when
    absent. The index, "line", is the line of each ItemGroupData in the file. A file that is not ODM ClinicalData,
    or whose item groups lack an ItemOID of the contract or hold one it does not name, is a StructuralError."""
    where = f"ItemGroupOID {contract.format.item_group} of FormOID {contract.format.form or '(any)'}"
    if contract.format.item_group is None:
        raise SpecError(f"{contract.path}: format: an odm contract needs item_group (and form)")
    if not path.is_file():
        raise StructuralError(f"{contract.file}: missing file (expected in {path.parent})")
    _check_root(path, contract.file)
    items = [c.in_file for c in contract.columns if c.in_file not in CONTEXT]
    values: dict[str, list[str | None]] = {c.in_file: [] for c in contract.columns}
    contexts = {s: CONTEXT[s] for s in values if s in CONTEXT}
    lines: list[int] = []
    seen: set[str] = set()
    clinical = False
    parse = etree.iterparse(str(path), tag=(GROUP, SUBJECT, CLINICAL), resolve_entities=False, no_network=True)
    try:
        for _, element in parse:
            if element.tag == GROUP and _matches(element, contract):
                found = {
                    i.get("ItemOID"): None if i.get("IsNull") == "Yes" else i.get("Value", i.text) for i in element
                }
                seen.update(found)
                for item in items:
                    values[item].append(found.get(item) or None)
                for source, context in contexts.items():
                    values[source].append(context(element))
                lines.append(element.sourceline)
            clinical = clinical or element.tag == CLINICAL
            if element.tag != CLINICAL:  # what was read goes: memory stays that of one subject
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise StructuralError(f"{contract.file}: not well-formed XML ({exc})") from None
    if not clinical:
        raise StructuralError(f"{contract.file}: no ClinicalData element (an ODM file of metadata only?)")
    if not lines and not contract.allow_empty:
        raise StructuralError(f"{contract.file}: no ItemGroupData of {where} (contract {contract.path.name})")
    missing = [i for i in items if i not in seen] if lines else []
    extra = sorted(seen.difference(items) - {None})
    if missing or extra:
        parts = [f"ItemOID(s) missing {missing}" if missing else "", f"not in the contract {extra}" if extra else ""]
        raise StructuralError(
            f"{contract.file}: {where}: " + "; ".join(p for p in parts if p) + f" (contract {contract.path.name})"
        )
    columns = {c.name: pa.array(values[c.in_file], pa.large_string()) for c in contract.columns}
    frame = pa.table(columns).to_pandas()
    frame.index = pd.Index(lines, dtype="int64", name="line")
    return frame

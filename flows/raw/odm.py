"""Read one item group of a CDISC ODM 1.3 ClinicalData file (streamed with lxml's iterparse) as text columns named by
the contract, indexed by the source line of each ItemGroupData."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
from lxml import etree

from flows.kernel.errors import SpecError, StructuralError, check_both_ways
from flows.spec.model import RawContract, RawFormat

NS = "{http://www.cdisc.org/ns/odm/v1.3}"
GROUP, SUBJECT, CLINICAL = f"{NS}ItemGroupData", f"{NS}SubjectData", f"{NS}ClinicalData"
Element = etree._Element
BLOCK = 1 << 16  # rows kept as Python strings before they go into Arrow


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


def _matches(group: Element, fmt: RawFormat) -> bool:
    form = group.getparent()
    return (fmt.form is None or form.get("FormOID") == fmt.form) and (
        fmt.study_event is None or form.getparent().get("StudyEventOID") == fmt.study_event
    )


class _Rows:
    """The rows of one contract as they are read: a list of values per source, the lines, the ItemOIDs seen."""

    def __init__(self, contract: RawContract) -> None:
        if contract.format.item_group is None:
            raise SpecError(f"{contract.path}: format: an odm contract needs item_group (and form)")
        self.contract = contract
        self.items = [c.in_file for c in contract.columns if c.in_file not in CONTEXT]
        self.values: dict[str, list[str | None]] = {c.in_file: [] for c in contract.columns}
        self.contexts = {s: CONTEXT[s] for s in self.values if s in CONTEXT}
        self.lines: list[int] = []
        self.seen: set[str] = set()
        self.blocks: dict[str, list[pa.Array]] = {s: [] for s in self.values}

    def _flush(self) -> None:
        """The values read so far into Arrow: a tenth of the memory of as many Python strings."""
        for source, values in self.values.items():
            self.blocks[source].append(pa.array(values, pa.large_string()))
            values.clear()

    def add(self, group: Element, found: dict[str, str | None]) -> None:
        self.seen.update(found)
        for item in self.items:
            self.values[item].append(found.get(item) or None)
        for source, context in self.contexts.items():
            self.values[source].append(context(group))
        self.lines.append(group.sourceline)
        if len(self.lines) % BLOCK == 0:
            self._flush()

    def frame(self) -> pd.DataFrame:
        contract, fmt = self.contract, self.contract.format
        where = f"ItemGroupOID {fmt.item_group} of FormOID {fmt.form or '(any)'}"
        if not self.lines and not contract.allow_empty:
            raise StructuralError(f"{contract.file}: no ItemGroupData of {where} (contract {contract.path.name})")
        missing = [i for i in self.items if i not in self.seen] if self.lines else []
        extra = sorted(self.seen.difference(self.items) - {None})
        named = (("ItemOID(s) missing", missing), ("not in the contract", extra))
        check_both_ways(f"{contract.file}: {where}", *named, contract.path.name)
        self._flush()
        columns = {c.name: pa.chunked_array(self.blocks[c.in_file], pa.large_string()) for c in contract.columns}
        frame = pa.table(columns).to_pandas()
        frame.index = pd.Index(self.lines, dtype="int64", name="line")
        return frame


def read_odm_forms(path: Path, contracts: Sequence[RawContract]) -> dict[str, pd.DataFrame]:
    """read_odm for several contracts of one file, in one pass over it (a big file is parsed once, not per form):
    contract name -> its frame. The contracts name the same file."""
    rows = [_Rows(c) for c in contracts]
    file = contracts[0].file
    if not path.is_file():
        raise StructuralError(f"{file}: missing file (expected in {path.parent})")
    _check_root(path, file)
    by_group: dict[str, list[_Rows]] = defaultdict(list)
    for r in rows:
        by_group[r.contract.format.item_group].append(r)
    clinical = False
    parse = etree.iterparse(str(path), tag=(GROUP, SUBJECT, CLINICAL), resolve_entities=False, no_network=True)
    try:
        for _, element in parse:
            wanted = [r for r in by_group.get(element.get("ItemGroupOID"), ()) if _matches(element, r.contract.format)]
            if wanted and element.tag == GROUP:
                found = {
                    i.get("ItemOID"): None if i.get("IsNull") == "Yes" else i.get("Value", i.text) for i in element
                }
                for r in wanted:
                    r.add(element, found)
            clinical = clinical or element.tag == CLINICAL
            if element.tag != CLINICAL:  # what was read goes: memory stays that of one subject
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise StructuralError(f"{file}: not well-formed XML ({exc})") from None
    if not clinical:
        raise StructuralError(f"{file}: no ClinicalData element (an ODM file of metadata only?)")
    return {r.contract.name: r.frame() for r in rows}


def read_odm(path: Path, contract: RawContract) -> pd.DataFrame:
    """The contract's ItemGroupData (its `format`: item_group, form, study_event when set) as text, one "str" column
    per contract column: the `Value` of the ItemData its `source` names as ItemOID, or a key of CONTEXT; null when
    absent. The index, "line", is the line of each ItemGroupData in the file. A file that is not ODM ClinicalData,
    or whose item groups lack an ItemOID of the contract or hold one it does not name, is a StructuralError."""
    return read_odm_forms(path, [contract])[contract.name]

"""define.html: the metadata of define.xml as one self-contained page for people (inline style, no script, no files).

It renders the same `Define` that define.xml is built from, so the two cannot disagree; every text is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from flows.spec.model import Specs
from flows.transfer.define import DEFINE_VERSION, Define, Item, ItemRef, define_metadata

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eef; } tr.codelist th { background: #f4f4f4; }
td { white-space: pre-line; } td.code, span.code { font-family: ui-monospace, monospace; white-space: nowrap; }
nav a { margin-right: 1em; }
""".strip()

_INLINE_TERMS = 8  # a codelist this short is listed in the variable's row as well


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _link(oid: str, text: str | None = None) -> str:
    return f'<a href="#{_e(oid)}">{_e(text if text is not None else oid)}</a>'


def _table(cls: str, headers: list[str], rows: list[str], ident: str | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    attr = f' id="{_e(ident)}"' if ident else ""
    body = "\n".join(rows)
    return f'<table class="{cls}"{attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def _tr(cells: list[str], ident: str | None = None) -> str:
    attr = f' id="{_e(ident)}"' if ident else ""
    return f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _type(item: Item) -> str:
    return _e(item.data_type if item.digits is None else f"{item.data_type} ({item.digits} decimals)")


def _origin(item: Item) -> str:
    return _e(item.origin.type if not item.origin.source else f"{item.origin.type} ({item.origin.source})")


def _terms(meta: Define, item: Item) -> str:
    parts = []
    if item.codelist:
        cl = next(c for c in meta.codelists if c.oid == item.codelist)
        parts.append(_link(cl.oid, cl.name))
        if len(cl.terms) <= _INLINE_TERMS:
            parts.append(", ".join(f'<span class="code">{_e(t.value)}</span>' for t in cl.terms))
    if item.value_list:
        parts.append("value list " + _link(item.value_list))
    return "<br>".join(parts)


def _how(meta: Define, item: Item, ref: ItemRef) -> str:
    """Method of a derived value, raw field of a collected one, comment on an assigned or protocol one."""
    parts = []
    if ref.method:
        method = next(m for m in meta.methods if m.oid == ref.method)
        parts.append(f"{_link(method.oid)}: {_e(method.text)}")
    if item.origin.text:
        parts.append(_e(item.origin.text))
    if item.comment:
        comment = next(c for c in meta.comments if c.oid == item.comment)
        parts.append(f"{_link(comment.oid)}: {_e(comment.text)}")
    return "<br>".join(parts)


def _study(meta: Define) -> str:
    rows = [
        ("Study name", _e(meta.studyid)),
        ("Protocol", _e(meta.studyid)),
        ("Description", _e(meta.title)),
        ("Originator", _e(meta.originator)),
        ("Define-XML version", _e(DEFINE_VERSION)),
    ]
    for s in meta.standards:
        label = "Implementation guide" if s.type == "IG" else "Controlled terminology"
        rows.append((label, _e(" ".join(filter(None, (s.name, s.publishing_set, s.version))))))
    for leaf in meta.documents:
        rows.append(("Supplemental document", f'<a href="{_e(leaf.href)}">{_e(leaf.title)}</a>'))
    body = "\n".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="study">\n{body}\n</table>'


def _overview(meta: Define) -> str:
    rows = [
        _tr(
            [
                _link(ds.oid, ds.name),
                _e(ds.label),
                _e(ds.klass),
                _e(ds.structure),
                _e(", ".join(ds.keys)),
                _e(ds.records),
                f'<a href="{_e(ds.leaf.href)}">{_e(ds.leaf.title)}</a>',
            ]
        )
        for ds in meta.datasets
    ]
    headers = ["Dataset", "Description", "Class", "Structure", "Keys", "Records", "Location"]
    return _table("overview", headers, rows)


def _datasets(meta: Define) -> list[str]:
    headers = ["Variable", "Label", "Key", "Type", "Length (XPT)", "Mandatory", "Controlled terms", "Origin"]
    headers.append("Method, source or comment")
    items = {i.oid: i for i in meta.items}
    out = []
    for ds in meta.datasets:
        rows = []
        for ref in ds.refs:
            item = items[ref.item]
            cells = [
                f'<span class="code">{_e(item.name)}</span>',
                _e(item.label),
                _e(ref.key),
                _type(item),
                _e(item.xpt_length),
                "Yes" if ref.mandatory else "No",
                _terms(meta, item),
                _origin(item),
                _how(meta, item, ref),
            ]
            rows.append(_tr(cells, item.oid))
        title = f"<h2>{_e(ds.name)}: {_e(ds.label)}</h2>"
        where = f'<p>{_e(ds.klass)}; {_e(ds.structure)}; file <a href="{_e(ds.leaf.href)}">{_e(ds.leaf.title)}</a></p>'
        out.append(f'<section id="{_e(ds.oid)}">\n{title}\n{where}\n{_table("dataset", headers, rows)}\n</section>')
    return out


def _value_lists(meta: Define) -> list[str]:
    headers = ["Where", "Label", "Type", "Length", "Mandatory", "Controlled terms", "Origin", "Method or comment"]
    items = {i.oid: i for i in meta.items}
    wheres = {w.oid: w for w in meta.where_clauses}
    out = []
    for vl in meta.value_lists:
        rows = []
        for ref in vl.refs:
            item, where = items[ref.item], wheres[ref.where]
            condition = f"{items[where.item].name} {'=' if len(where.values) == 1 else 'in'} {', '.join(where.values)}"
            cells = [
                f'<span class="code">{_e(condition)}</span>',
                _e(item.label),
                _type(item),
                _e(item.length),
                "Yes" if ref.mandatory else "No",
                _terms(meta, item),
                _origin(item),
                _how(meta, item, ref),
            ]
            rows.append(_tr(cells, item.oid))
        title = f"<h2>Value-level metadata: {_e(vl.oid)}</h2>"
        out.append(f'<section id="{_e(vl.oid)}">\n{title}\n{_table("value-list", headers, rows)}\n</section>')
    return out


def _codelists(meta: Define) -> str:
    rows = []
    for cl in meta.codelists:
        source = f"NCI {cl.code}" if cl.code else "sponsor (study.yaml)"
        if cl.external:
            source = f"external: {cl.external[0]}, version {cl.external[1]}"
        head = f"{_e(cl.name)} ({_e(cl.oid)}; {_e(source)}; used by {_e(', '.join(cl.used_by))})"
        rows.append(f'<tr class="codelist" id="{_e(cl.oid)}"><th colspan="3">{head}</th></tr>')
        rows += [_tr([f'<span class="code">{_e(t.value)}</span>', _e(t.code), _e(t.decode)]) for t in cl.terms]
    return _table("codelists", ["Term", "NCI code", "Decode"], rows)


def _methods(meta: Define) -> str:
    rows = [
        _tr([f'<span class="code">{_e(m.oid)}</span>', _e(m.name), _e(m.text), _e(", ".join(m.used_by))], m.oid)
        for m in meta.methods
    ]
    return _table("methods", ["Method", "Name", "Description (Computation)", "Used by"], rows)


def _comments(meta: Define) -> str:
    rows = [
        _tr([f'<span class="code">{_e(c.oid)}</span>', _e(c.text), _e(", ".join(c.used_by))], c.oid)
        for c in meta.comments
    ]
    return _table("comments", ["Comment", "Description", "Used by"], rows)


def define_html(meta: Define) -> str:
    """The whole page: study, datasets, one table per dataset, value lists, codelists, methods, comments."""
    nav = " ".join(_link(ds.oid, ds.name) for ds in meta.datasets)
    nav += ' <a href="#codelists">Codelists</a> <a href="#methods">Methods</a> <a href="#comments">Comments</a>'
    kind = "ADaM" if meta.purpose == "Analysis" else "SDTM"
    title = f"{meta.studyid}: {kind} data definitions (Define-XML {DEFINE_VERSION})"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        _study(meta),
        f"<nav>{nav}</nav>",
        "<h2>Datasets</h2>",
        _overview(meta),
        *_datasets(meta),
        *_value_lists(meta),
        f'<section id="codelists">\n<h2>Codelists</h2>\n{_codelists(meta)}\n</section>',
        f'<section id="methods">\n<h2>Methods</h2>\n{_methods(meta)}\n</section>',
        f'<section id="comments">\n<h2>Comments</h2>\n{_comments(meta)}\n</section>',
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_define_html(
    datasets: Mapping[str, pd.DataFrame],
    specs: Specs,
    lengths: Mapping[str, Mapping[str, int]],
    path: Path,
    meta: Define | None = None,
) -> None:
    """Write define.html; the same inputs give the same bytes (`meta`: define_metadata of them, when known)."""
    meta = meta if meta is not None else define_metadata(datasets, specs, lengths)
    Path(path).write_bytes(define_html(meta).encode("utf-8"))

"""Compare two transfers by domain keys: rows added, removed and changed, and variable metadata changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SHOWN = 50  # changed rows listed per domain in changes.md; changes.json has them all


def _read(transfer: Path) -> dict[str, tuple[pa.Table, dict[str, dict[str, str]], list[str]]]:
    """domain -> (data, variable metadata, keys) from a transfer's Parquet files (SDTM, and ADaM in adam/)."""
    out = {}
    for path in sorted([*(transfer / "parquet").glob("*.parquet"), *(transfer / "adam" / "parquet").glob("*.parquet")]):
        table = pq.read_table(path)
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        variables = {
            f.name: {"label": (f.metadata or {}).get(b"label", b"").decode(), "type": str(f.type)} for f in table.schema
        }
        keys = [k for k in meta.get("keys", "").split(",") if k]
        out[meta.get("domain", path.stem.upper())] = (table, variables, keys)
    return out


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _same(old: pa.Table, new: pa.Table, keys: list[str]) -> bool:
    """Equal data and metadata whose keys tell the rows apart: diff_domain would find nothing, without a merge."""
    keys = [k for k in keys if k in new.column_names]
    if not keys or not old.equals(new, check_metadata=True):
        return False
    return new.select(keys).group_by(keys).aggregate([]).num_rows == new.num_rows


def diff_domain(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> dict[str, Any]:
    """Rows added, removed and changed between two versions of one dataset, matched on keys."""
    keys = [k for k in keys if k in old and k in new]
    if old.duplicated(keys).any() or new.duplicated(keys).any():
        seq = [c for c in new if c.endswith("SEQ") and c in old]
        keys = keys + seq
    shared = [c for c in new if c in old and c not in keys]
    if old.empty or new.empty:  # an empty dataset's columns may carry no type to merge on
        old, new = old.astype(dict.fromkeys(old.columns, object)), new.astype(dict.fromkeys(new.columns, object))
    merged = old.merge(new, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
    added = merged[merged["_merge"] == "right_only"][keys]
    removed = merged[merged["_merge"] == "left_only"][keys]
    both = merged[merged["_merge"] == "both"]
    changes = []
    differs = pd.DataFrame(
        {
            c: ~(
                (both[f"{c}_old"] == both[f"{c}_new"]).fillna(False)
                | (both[f"{c}_old"].isna() & both[f"{c}_new"].isna())
            )
            for c in shared
        },
        index=both.index,
    )
    for idx in differs.index[differs.any(axis=1)] if len(shared) else []:
        row = both.loc[idx]
        changes.append(
            {
                "key": {k: _plain(row[k]) for k in keys},
                "changes": {
                    c: [_plain(row[f"{c}_old"]), _plain(row[f"{c}_new"])] for c in shared if differs.at[idx, c]
                },
            }
        )
    as_keys = lambda f: [{k: _plain(v) for k, v in r.items()} for r in f.to_dict("records")]  # noqa: E731
    return {"added": as_keys(added), "removed": as_keys(removed), "changed": changes}


def diff_transfers(old: Path, new: Path) -> dict[str, Any]:
    """The changes from transfer `old` to transfer `new`, per domain."""
    a, b = _read(old), _read(new)
    domains = {}
    for domain in sorted(set(a) | set(b)):
        if domain not in a or domain not in b:
            domains[domain] = {"dataset": "added" if domain in b else "removed"}
            continue
        (old_table, old_vars, _), (new_table, new_vars, keys) = a[domain], b[domain]
        if _same(old_table, new_table, keys):  # the usual case: a dataset unchanged since the last transfer
            entry: dict[str, Any] = {"added": [], "removed": [], "changed": []}
        else:
            # Arrow-backed columns keep an integer an integer where the outer merge leaves a row missing on one side
            entry = diff_domain(old_table.to_pandas(types_mapper=pd.ArrowDtype),
                                new_table.to_pandas(types_mapper=pd.ArrowDtype), keys)  # fmt: skip
        entry["variables"] = {
            "added": sorted(set(new_vars) - set(old_vars)),
            "removed": sorted(set(old_vars) - set(new_vars)),
            "changed": {
                v: {"old": old_vars[v], "new": new_vars[v]}
                for v in new_vars
                if v in old_vars and old_vars[v] != new_vars[v]
            },
        }
        domains[domain] = entry
    return {"previous": old.name, "domains": domains}


def render_markdown(changes: dict[str, Any]) -> str:
    """changes.md: a short readable account of a diff."""
    lines = [f"# Changes since transfer {changes['previous']}", ""]
    lines += ["| domain | rows added | rows removed | rows changed | variables added, removed or changed |"]
    lines += ["|---|---|---|---|---|"]
    for domain, d in changes["domains"].items():
        if "dataset" in d:
            lines.append(f"| {domain} | dataset {d['dataset']} | | | |")
            continue
        v = d["variables"]
        nvar = len(v["added"]) + len(v["removed"]) + len(v["changed"])
        lines.append(f"| {domain} | {len(d['added'])} | {len(d['removed'])} | {len(d['changed'])} | {nvar} |")
    for domain, d in changes["domains"].items():
        if "dataset" in d or not (d["added"] or d["removed"] or d["changed"] or any(d["variables"].values())):
            continue
        lines += ["", f"## {domain}", ""]
        fmt = lambda key: ", ".join(f"{k}={v}" for k, v in key.items() if k != "STUDYID")  # noqa: E731
        lines += [f"- added: {fmt(k)}" for k in d["added"][:SHOWN]]
        lines += [f"- removed: {fmt(k)}" for k in d["removed"][:SHOWN]]
        for c in d["changed"][:SHOWN]:
            what = "; ".join(f"{var}: {old!r} -> {new!r}" for var, (old, new) in c["changes"].items())
            lines.append(f"- changed {fmt(c['key'])}: {what}")
        hidden = max(0, len(d["added"]) - SHOWN) + max(0, len(d["removed"]) - SHOWN) + max(0, len(d["changed"]) - SHOWN)
        if hidden:
            lines.append(f"- ... {hidden} more in changes.json")
        for var in d["variables"]["added"]:
            lines.append(f"- variable added: {var}")
        for var in d["variables"]["removed"]:
            lines.append(f"- variable removed: {var}")
        for var, m in d["variables"]["changed"].items():
            lines.append(f"- variable {var} metadata: {m['old']} -> {m['new']}")
    return "\n".join(lines) + "\n"


def first_transfer() -> dict[str, Any]:
    return {"previous": None, "domains": {}, "note": "first transfer of the study: nothing to compare"}


def write_changes(changes: dict[str, Any], folder: Path) -> None:
    (folder / "changes.json").write_text(json.dumps(changes, indent=1, default=str) + "\n", encoding="utf-8")
    text = render_markdown(changes) if changes.get("previous") else f"# Changes\n\n{changes['note']}\n"
    (folder / "changes.md").write_text(text, encoding="utf-8")


def differs(changes: dict[str, Any]) -> bool:
    """Whether a diff holds any change: a dataset, row or variable added, removed or changed."""
    return any(
        "dataset" in d or d["added"] or d["removed"] or d["changed"] or any(d["variables"].values())
        for d in changes["domains"].values()
    )

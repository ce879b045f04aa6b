"""Trial design datasets generated from specs/study.yaml: TI (criteria) and TS (trial summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from flows.keys import sort_by_keys
from flows.specs import DomainSpec, Specs


def render_rule(rule: Mapping[str, Any] | None) -> str | None:
    """A criterion's rule as one readable line for TIRL ('check=class_in; instrument=MGFA; ...')."""
    if not rule:
        return None

    def text(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{k} {text(v)}" for k, v in value.items())
        if isinstance(value, list):
            return " | ".join(text(v) for v in value)
        return str(value)

    return "; ".join(f"{k}={text(v)}" for k, v in rule.items())


def derive_ti(specs: Specs, spec: DomainSpec) -> pd.DataFrame:
    """TI: one record per criterion of the study, so every IETESTCD resolves."""
    crit = specs.study.criteria
    ti = pd.DataFrame(
        {
            "IETESTCD": [c["code"] for c in crit],
            "IETEST": [c["test"] for c in crit],
            "IECAT": [c["category"] for c in crit],
            "TIRL": pd.Series([render_rule(c.get("rule")) for c in crit], dtype="str"),
        }
    )
    ti.insert(0, "STUDYID", specs.study.studyid)
    ti.insert(1, "DOMAIN", spec.domain)
    return sort_by_keys(ti, spec)


def _ts_values(entry: Mapping[str, Any], specs: Specs, data_facts: Mapping[str, Any]) -> list[str]:
    if "value" in entry:
        values = entry["value"]
    elif entry["from"].startswith("data."):
        values = data_facts[entry["from"].removeprefix("data.")]
    else:
        values = specs.study.lookup(entry["from"])
    values = values if isinstance(values, list) else [values]
    if entry.get("format") == "iso_years":
        values = [f"P{v}Y" for v in values]
    return list(dict.fromkeys(str(v) for v in values))


def derive_ts(specs: Specs, spec: DomainSpec, data_facts: Mapping[str, Any]) -> pd.DataFrame:
    """TS: the study's trial_summary parameters; data_facts supplies values measured on the data (ACTSUB...)."""
    parm = specs.codelists["TSPARMCD"]
    names = {t.code: t.value for t in specs.codelists["TSPARM"].terms}
    rows = []
    for entry in specs.study.data["trial_summary"]:
        if entry.get("from", "").startswith("data.") and entry["from"].removeprefix("data.") not in data_facts:
            continue
        for seq, value in enumerate(_ts_values(entry, specs, data_facts), start=1):
            code = parm.code_of(entry["parmcd"])
            cl = specs.codelists.get(entry.get("codelist", ""))
            rows.append(
                {
                    "TSSEQ": seq,
                    "TSPARMCD": entry["parmcd"],
                    "TSPARM": names[code],
                    "TSVAL": value,
                    "TSVALCD": cl.code_of(value) if cl else None,
                    "TSVCDREF": "CDISC CT" if cl else entry.get("ref"),
                    "TSVCDVER": specs.ct_release if cl else None,
                }
            )
    ts = pd.DataFrame(rows).astype({"TSSEQ": "Int64", "TSVALCD": "str", "TSVCDREF": "str", "TSVCDVER": "str"})
    ts.insert(0, "STUDYID", specs.study.studyid)
    ts.insert(1, "DOMAIN", spec.domain)
    return sort_by_keys(ts, spec)

"""TS from study.yaml's `trial_summary`: per parameter a `value`, or `from:` a study.yaml path, or `from:
data.<fact>`, a value measured on the transfer: `enrolled_subjects` (ACTSUB: DM subjects with ARMCD), `cutoff`
(DCUTDTC: the cut, else the data-as-of date) or `cutoff_description` (DCUTDESC); a list gives one record per value
(TSSEQ 1..n). TSVALCD is the NCI code of the value in CT `codelist`, or the code `code_from` (a study.yaml path,
a list parallel to the values) of the terminology `ref` (TSVCDREF; `version_from` its TSVCDVER); `null_flavor`
(ISO 21090: UNK, NAV, NA, ...) stands for a value not known, in TSVALNF with TSVAL null; `format: iso_years` a
duration, `comment` goes to define.xml."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import RecordSource
from flows.spec.model import Specs

DataFact = Callable[[Context], Any]
RECORD_SOURCE_FIELDS = ("TSSEQ", "TSPARMCD", "TSPARM", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER")


# What TS states about this transfer's data (study.yaml trial_summary `from: data.<fact>`), from SDTM datasets and
# the run's facts only; DATA_FACT_METHODS says how, in define.xml.
def _cutoff_description(ctx: Context) -> str | None:
    if ctx.facts.get("cutoff"):
        return f"Data cut of the transfer: the data known on or before {ctx.facts['cutoff']}"
    if ctx.facts.get("data_as_of"):
        return f"No data cut: the data as of {ctx.facts['data_as_of']}, the latest date in the valid raw data"
    return None


DATA_FACTS: dict[str, DataFact] = {
    "enrolled_subjects": lambda ctx: int(ctx.datasets["DM"]["ARMCD"].notna().sum()),
    "cutoff": lambda ctx: ctx.facts.get("cutoff") or ctx.facts.get("data_as_of"),
    "cutoff_description": _cutoff_description,
}

DATA_FACT_METHODS: dict[str, str] = {
    "enrolled_subjects": (
        "Number of subjects in DM with ARMCD populated: every subject assigned to an arm, treated or not, as the CT "
        "definition of ACTSUB (C98703) counts them: actual number of subjects enrolled; screen failures have no arm"
    ),
    "cutoff": (
        "The data cut date of the export, or without a cut the date the data are as of: the latest date in the "
        "valid raw data (manifest.json data_as_of)"
    ),
    "cutoff_description": (
        "Says whether DCUTDTC is the data cut of the export (--cutoff) or, without a cut, the date the data are as "
        "of (the latest date in the valid raw data)"
    ),
}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _records(entry: Mapping[str, Any], values: list, specs: Specs) -> list[dict[str, Any]]:
    """One parameter's records: one per distinct value, with its code and terminology."""
    if entry.get("format") == "iso_years":
        values = [f"P{v}Y" for v in values]
    cl = specs.codelists.get(entry.get("codelist", ""))
    codes = _as_list(specs.study.lookup(entry["code_from"])) if "code_from" in entry else [None] * len(values)
    version = str(specs.study.lookup(entry["version_from"])) if "version_from" in entry else None
    pairs = dict(zip((str(v) for v in values), codes, strict=True))  # one record per distinct value, in order
    return [
        {
            "TSVAL": value,
            "TSVALNF": None,
            "TSVALCD": cl.code_of(value) if cl else (str(code) if code is not None else None),
            "TSVCDREF": "CDISC CT" if cl else entry.get("ref"),
            "TSVCDVER": specs.ct_release if cl else version,
        }
        for value, code in pairs.items()
    ]


def trial_summary(ctx: Context) -> pd.DataFrame:
    """TS records from study.yaml's trial_summary: TSSEQ, TSPARMCD, TSPARM, TSVAL, TSVALNF, TSVALCD, TSVCDREF,
    TSVCDVER. `from: data.<fact>` takes a value measured on this transfer's data (a fact with no value is left out);
    `null_flavor` gives one record with TSVAL null and TSVALNF the null flavor."""
    specs = ctx.specs
    parm = specs.codelists["TSPARMCD"]
    names = {t.code: t.value for t in specs.codelists["TSPARM"].terms}
    rows = []
    for entry in specs.study.data["trial_summary"]:
        if "null_flavor" in entry:
            records = [{**dict.fromkeys(RECORD_SOURCE_FIELDS[3:]), "TSVALNF": entry["null_flavor"]}]  # TSVAL null
        elif "value" in entry:
            records = _records(entry, _as_list(entry["value"]), specs)
        elif entry["from"].startswith("data."):
            value = DATA_FACTS[entry["from"].removeprefix("data.")](ctx)
            records = [] if value is None else _records(entry, [value], specs)
        else:
            records = _records(entry, _as_list(specs.study.lookup(entry["from"])), specs)
        name = names[parm.code_of(entry["parmcd"])]
        rows += [{"TSSEQ": seq, "TSPARMCD": entry["parmcd"], "TSPARM": name, **r} for seq, r in enumerate(records, 1)]
    return pd.DataFrame(rows, columns=list(RECORD_SOURCE_FIELDS)).astype(
        {"TSSEQ": "Int64", **{c: "str" for c in RECORD_SOURCE_FIELDS[1:]}}
    )


def check_data_facts(specs: Specs) -> None:
    """A TS parameter of study.yaml taken `from: data.X` names a data fact the derivations know."""
    for i, ts in enumerate(specs.study.data["trial_summary"]):
        fact = str(ts.get("from", ""))
        if fact.startswith("data.") and fact.removeprefix("data.") not in DATA_FACTS:
            where = f"{specs.study.path}: trial_summary[{i}]"
            raise SpecError(f"{where}.from: unknown data fact '{fact}' (one of {sorted(DATA_FACTS)})")


RECORD_SOURCE = RecordSource(
    name="trial_summary",
    doc=__doc__,
    example="records: {derivation: trial_summary}",
    run=trial_summary,
    fields=RECORD_SOURCE_FIELDS,
    reads=("DM.*",),
    check=check_data_facts,
)

"""TS from study.yaml's `trial_summary`: per parameter a `value`, or `from:` a study.yaml path, or `from:
data.<fact>`, a value measured on the transfer: `enrolled_subjects` (ACTSUB: DM subjects with ARMCD) or `cutoff`
(DCUTDTC: the cut, else the data-as-of date); `codelist` gives TSVALCD, `format: iso_years` a duration, `comment`
goes to define.xml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from flows.kernel.errors import SpecError
from flows.mapping.context import Context
from flows.mapping.vocabulary import RecordSource
from flows.spec.model import Specs

DataFact = Callable[[Context], Any]
# What TS states about this transfer's data (study.yaml trial_summary `from: data.<fact>`), from SDTM datasets and
# the run's facts only; DATA_FACT_METHODS says how, in define.xml.
DATA_FACTS: dict[str, DataFact] = {
    "enrolled_subjects": lambda ctx: int(ctx.datasets["DM"]["ARMCD"].notna().sum()),
    "cutoff": lambda ctx: ctx.facts.get("cutoff") or ctx.facts.get("data_as_of"),
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
}


def trial_summary(ctx: Context) -> pd.DataFrame:
    """TS records from study.yaml's trial_summary: TSSEQ, TSPARMCD, TSPARM, TSVAL, TSVALCD, TSVCDREF, TSVCDVER.
    `from: data.<fact>` takes a value measured on this transfer's data (a fact with no value is left out)."""
    specs = ctx.specs
    parm = specs.codelists["TSPARMCD"]
    names = {t.code: t.value for t in specs.codelists["TSPARM"].terms}
    rows = []
    for entry in specs.study.data["trial_summary"]:
        if "value" in entry:
            values = entry["value"]
        elif entry["from"].startswith("data."):
            values = DATA_FACTS[entry["from"].removeprefix("data.")](ctx)
            if values is None:
                continue
        else:
            values = specs.study.lookup(entry["from"])
        values = values if isinstance(values, list) else [values]
        if entry.get("format") == "iso_years":
            values = [f"P{v}Y" for v in values]
        cl = specs.codelists.get(entry.get("codelist", ""))
        for seq, value in enumerate(dict.fromkeys(str(v) for v in values), start=1):
            rows.append(
                {
                    "TSSEQ": seq,
                    "TSPARMCD": entry["parmcd"],
                    "TSPARM": names[parm.code_of(entry["parmcd"])],
                    "TSVAL": value,
                    "TSVALCD": cl.code_of(value) if cl else None,
                    "TSVCDREF": "CDISC CT" if cl else entry.get("ref"),
                    "TSVCDVER": specs.ct_release if cl else None,
                }
            )
    return pd.DataFrame(rows).astype(
        {
            "TSSEQ": "Int64",
            "TSPARMCD": "str",
            "TSPARM": "str",
            "TSVAL": "str",
            "TSVALCD": "str",
            "TSVCDREF": "str",
            "TSVCDVER": "str",
        }
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
    fields=("TSSEQ", "TSPARMCD", "TSPARM", "TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER"),
    reads=("DM.*",),
    check=check_data_facts,
)

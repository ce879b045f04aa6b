"""Build the CDISC CORE cache files that the engine's repository snapshot lacks, from ../shared/reference.

CORE reads its library metadata from pickles in its cache folder, written by `core.py update-cache` from the CDISC
Library API (which needs an API key). The engine's repository commits them, but four are 4 MiB or more and absent
from the stored snapshot here: `standards_details.pkl`, `standards_models.pkl`, `variables_metadata.pkl` and the CT
package `sdtmct-2025-03-28.pkl`. This module writes them, for SDTMIG 3.4 and SDTM CT 2025-03-28 only, in the shape
CORE's CachePopulator gives them, from:

- the SDTMIG v3.4 CSVs of the CDISC Library Browser (`sdtmig/sdtmig-3.4-variables-all.csv`, `sdtmig-3.4-datasets.csv`)
- the NCI EVS SDTM CT 2025-03-28 file (`ct/sdtm-ct-2025-03-28.tsv`)

The SDTM v2.0 model is not among them: its classes are approximated from the IG (the union, per class, of the
variables of the IG datasets of that class, with the domain prefix as `--`; identifiers and timing variables in
"General Observations"). A model variable that no SDTMIG 3.4 dataset uses is therefore missing from it.

Standard library only: it runs with CORE's Python. `python build_cache.py REFERENCE_DIR CACHE_DIR`.
"""

from __future__ import annotations

import csv
import pickle
import sys
from pathlib import Path

IG, IG_VERSION, MODEL_VERSION, CT_PACKAGE = "sdtmig", "3-4", "2-0", "sdtmct-2025-03-28"
IG_HREF, MODEL_HREF = f"/mdr/{IG}/{IG_VERSION}", f"/mdr/sdtm/{MODEL_VERSION}"
GENERAL = "General Observations"
OBSERVATION_CLASSES = ("Interventions", "Events", "Findings", "Findings About")
# Identifiers and timing variables of the model that carry no domain prefix.
UNPREFIXED = {
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "POOLID",
    "SPDEVID",
    "VISITNUM",
    "VISIT",
    "VISITDY",
    "TAETORD",
    "EPOCH",
    "MIDS",
    "RELMIDS",
    "MIDSDTC",
}


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _variable(row: dict, href: str) -> dict:
    codes = [c.strip() for c in row["CDISC CT Codelist Code(s)"].split(";") if c.strip()]
    links = {
        "self": {"href": f"{href}/variables/{row['Variable Name']}", "type": "SDTM Dataset Variable"},
        "parentDataset": {"href": href, "type": "SDTM Dataset"},
    }
    if codes:
        links["codelist"] = [{"href": f"/mdr/root/ct/sdtmct/codelists/{c}", "type": "Root Value Domain"} for c in codes]
    variable = {
        "_links": links,
        "ordinal": row["Variable Order"],
        "name": row["Variable Name"],
        "label": row["Variable Label"],
        "description": row["CDISC Notes"],
        "simpleDatatype": row["Type"],
        "role": row["Role"],
        "core": row["Core"],
    }
    if row["Described Value Domain(s)"]:
        variable["describedValueDomain"] = row["Described Value Domain(s)"]
    if row["Value List"]:
        variable["valueList"] = [v.strip() for v in row["Value List"].split(";")]
    return variable


def standard_details(reference: Path) -> tuple[dict, dict]:
    """The SDTMIG 3.4 standard as CDISC Library's /mdr/sdtmig/3-4, and variables metadata by dataset."""
    variables = _read_csv(reference / "sdtmig" / "sdtmig-3.4-variables-all.csv")
    datasets = _read_csv(reference / "sdtmig" / "sdtmig-3.4-datasets.csv")
    classes: dict[str, dict] = {}
    by_dataset: dict[str, dict] = {}
    for ordinal, ds in enumerate(datasets, 1):
        cls = classes.setdefault(
            ds["Class"],
            {
                "_links": {"self": {"href": f"{IG_HREF}/classes/{ds['Class'].replace(' ', '')}", "type": "Class"}},
                "name": ds["Class"],
                "label": ds["Class"],
                "ordinal": str(len(classes) + 1),
                "datasets": [],
            },
        )
        href = f"{IG_HREF}/datasets/{ds['Dataset Name']}"
        dataset = {
            "_links": {"self": {"href": href, "type": "SDTM Dataset"}},
            "name": ds["Dataset Name"],
            "label": ds["Dataset Label"],
            "datasetStructure": ds["Structure"],
            "ordinal": str(ordinal),
            "datasetVariables": [_variable(v, href) for v in variables if v["Dataset Name"] == ds["Dataset Name"]],
        }
        cls["datasets"].append(dataset)
        by_dataset[ds["Dataset Name"]] = {v["name"]: v for v in dataset["datasetVariables"]}
    details = {
        "_links": {
            "model": {
                "href": MODEL_HREF,
                "title": "Study Data Tabulation Model Version 2.0",
                "type": "Foundational Model",
            },
            "self": {"href": IG_HREF, "type": "Implementation Guide"},
        },
        "name": "SDTMIG v3.4",
        "label": "Study Data Tabulation Model Implementation Guide: Human Clinical Trials Version 3.4 (Final)",
        "version": "3.4",
        "effectiveDate": "2021-11-29",
        "registrationStatus": "Final",
        "classes": list(classes.values()),
        "dataset_names": set(by_dataset),
    }
    return details, by_dataset


def _wildcard(name: str, domain: str) -> str:
    return name if name in UNPREFIXED or not name.startswith(domain) else "--" + name[len(domain) :]


def _merge(order: list[str], names: list[str]) -> None:
    """Insert names into order, each new one after its predecessor in names (a merge of variable orders)."""
    previous = None
    for name in names:
        if name not in order:
            order.insert(order.index(previous) + 1 if previous else 0, name)
        previous = name


def model_details(details: dict) -> dict:
    """SDTM v2.0 approximated from the IG: class variables of the observation classes and General Observations."""
    general: dict[str, list[str]] = {"Identifier": [], "Timing": []}
    per_class: dict[str, list[str]] = {c: [] for c in OBSERVATION_CLASSES}
    meta: dict[str, dict] = {}
    for cls in details["classes"]:
        for ds in cls["datasets"]:
            if cls["name"] not in OBSERVATION_CLASSES:
                continue
            groups: dict[str, list[str]] = {"Identifier": [], "Timing": [], "class": []}
            for v in ds["datasetVariables"]:
                name = _wildcard(v["name"], ds["name"])
                meta.setdefault(name, {**v, "name": name})
                groups[v["role"] if v["role"] in ("Identifier", "Timing") else "class"].append(name)
            _merge(general["Identifier"], groups["Identifier"])
            _merge(general["Timing"], groups["Timing"])
            _merge(per_class[cls["name"]], groups["class"])
    findings = set(per_class["Findings"])
    per_class["Findings About"] = [n for n in per_class["Findings About"] if n not in findings]

    def class_variables(names: list[str]) -> list[dict]:
        out = []
        for i, name in enumerate(names, 1):
            v = {k: meta[name][k] for k in ("name", "label", "description", "simpleDatatype", "role")}
            out.append(
                {
                    **v,
                    "ordinal": str(i),
                    "_links": {k: meta[name]["_links"][k] for k in ("codelist",) if k in meta[name]["_links"]},
                }
            )
        return out

    classes = [
        {
            "name": GENERAL,
            "label": GENERAL,
            "ordinal": "1",
            "classVariables": class_variables(general["Identifier"] + general["Timing"]),
        }
    ]
    model_datasets = []
    for cls in details["classes"]:
        entry = {"name": cls["name"], "label": cls["name"], "ordinal": str(len(classes) + 1)}
        if cls["name"] in OBSERVATION_CLASSES:
            entry["classVariables"] = class_variables(per_class[cls["name"]])
        else:
            entry["datasets"] = cls["datasets"]
            model_datasets.extend(cls["datasets"])
        classes.append(entry)
    classes.append(
        {
            "name": "Associated Persons",
            "label": "Associated Persons",
            "ordinal": str(len(classes) + 1),
            "classVariables": [
                {"name": n, "label": n, "role": "Identifier", "ordinal": str(i)}
                for i, n in enumerate(("STUDYID", "DOMAIN", "APID", "SREL", "RSUBJID", "RDEVID", "POOLID"), 1)
            ],
        }
    )
    return {
        "_links": {"self": {"href": MODEL_HREF, "type": "Foundational Model"}},
        "name": "SDTM v2.0",
        "label": "Study Data Tabulation Model Version 2.0",
        "version": MODEL_VERSION,
        "standard_type": "sdtm",
        "classes": classes,
        "datasets": model_datasets,
        "dataset_names": {d["name"] for d in model_datasets},
    }


def ct_package(reference: Path) -> dict:
    """SDTM CT 2025-03-28 in the shape of CDISCLibraryService.get_codelist_terms_map."""
    codelists: dict[str, dict] = {}
    terms: list[dict] = []
    with (reference / "ct" / f"{CT_PACKAGE.replace('sdtmct', 'sdtm-ct')}.tsv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            synonyms = [s.strip() for s in row["CDISC Synonym(s)"].split(";") if s.strip()]
            item = {
                "conceptId": row["Code"],
                "definition": row["CDISC Definition"],
                "preferredTerm": row["NCI Preferred Term"],
                "submissionValue": row["CDISC Submission Value"],
                "synonyms": synonyms,
            }
            if row["Codelist Code"]:
                terms.append({**item, "_codelist": row["Codelist Code"]})
            else:
                codelists[row["Code"]] = {
                    **item,
                    "name": row["Codelist Name"],
                    "extensible": row["Codelist Extensible (Yes/No)"] == "Yes",
                    "terms": [],
                }
    for term in terms:
        codelists[term.pop("_codelist")]["terms"].append(term)
    return {"package": CT_PACKAGE, "codelists": list(codelists.values())}


def build(reference: Path, cache: Path) -> list[str]:
    """Write the missing files into cache; return the names written (existing files are kept)."""
    details, by_dataset = standard_details(reference)
    files = {
        "standards_details.pkl": lambda: {f"standards/{IG}/{IG_VERSION}": details},
        "standards_models.pkl": lambda: {f"models/sdtm/{MODEL_VERSION}": model_details(details)},
        "variables_metadata.pkl": lambda: {f"library_variables_metadata/{IG}/{IG_VERSION}": by_dataset},
        f"{CT_PACKAGE}.pkl": lambda: ct_package(reference),
    }
    written = []
    for name, make in files.items():
        if not (cache / name).exists():
            with (cache / name).open("wb") as f:
                pickle.dump(make(), f)
            written.append(name)
    return written


if __name__ == "__main__":
    print(" ".join(build(Path(sys.argv[1]), Path(sys.argv[2]))) or "nothing to build")

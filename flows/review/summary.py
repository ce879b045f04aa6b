"""summary.html for a transfer: counts per domain, arm, failed criterion and reject rule, and a dose-escalation SVG.

Everything is a function of the datasets, the rejects and the specs (no clock), so equal inputs give equal bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flows.kernel.chunks import counts_of, rows_where
from flows.review import safety
from flows.review.efficacy import analysed_totals, change_by_visit
from flows.review.eligibility import Eligibility, eligibility_section
from flows.review.escalation import escalation_svg
from flows.review.teae import teae_by_level
from flows.spec.checks import AT_ROLES, CHECKLIST_ROLES, RULE_ROLES
from flows.spec.model import Specs, Study

ELIGIBILITY_ROLES = {*CHECKLIST_ROLES, *AT_ROLES.values(), *(r for roles in RULE_ROLES.values() for r in roles)}
LISTED = 100  # rows of the DLT listing shown; the table by level counts every one
END_OF_STUDY = safety.END_OF_STUDY  # the DSCAT term of a subject's end-of-study record in DS


# ----------------------------------------------------------------------------------------------------------------
# Tables (plain DataFrames; the HTML is rendered from them)


def domain_counts(datasets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Records and distinct USUBJID per dataset, in the order given (subjects null for trial-level datasets)."""
    rows = []
    for domain in datasets:
        records, subjects = counts_of(datasets, domain)
        rows.append({"domain": domain, "records": records, "subjects": pd.NA if subjects is None else subjects})
    return pd.DataFrame(rows, columns=["domain", "records", "subjects"]).astype({"subjects": "Int64"})


def arm_counts(dm: pd.DataFrame, study: Study, ds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Subjects per planned arm (screened, assigned, treated by actual arm, not treated and, of them, not yet
    treated: no end-of-study record in `ds`), then null-arm reasons.

    Arms come in the study's escalation order; an ARMCD present in DM but not in the study follows them, and every
    subject without a planned arm is counted once under its ARMNRS, so the rows add up to DM.
    """
    not_treated = study.data["arm_null_reasons"]["not_treated"]
    names = {a["armcd"]: a["arm"] for a in study.arms}
    armcd, actual, nrs = dm["ARMCD"], dm["ACTARMCD"], dm["ARMNRS"]
    ended = ds.loc[ds["DSCAT"] == END_OF_STUDY, "USUBJID"] if ds is not None and len(ds) else pd.Series([], dtype="str")
    pending = (nrs == not_treated).fillna(False).astype(bool) & ~safety.isin_text(dm["USUBJID"], ended)
    extra = sorted(set(armcd.dropna()) - set(names))
    rows = []
    for code in [*names, *extra]:
        planned = armcd == code
        rows.append(
            {
                "ARMCD": code,
                "ARM": names.get(code, ""),
                "screened": int(planned.sum()),
                "assigned": int(planned.sum()),
                "treated": int((actual == code).sum()),
                "not_treated": int((planned & (nrs == not_treated)).sum()),
                "not_yet": int((planned & pending).sum()),
            }
        )
    no_arm = armcd.isna()
    reasons = nrs[no_arm].fillna("(ARMNRS missing)")
    for reason, n in sorted(reasons.value_counts().items()):
        counts = {"screened": int(n), "assigned": 0, "treated": 0, "not_treated": 0, "not_yet": 0}
        rows.append({"ARMCD": "", "ARM": reason, **counts})
    rows.append(
        {
            "ARMCD": "Total",
            "ARM": "",
            "screened": len(dm),
            "assigned": int(armcd.notna().sum()),
            "treated": int(actual.notna().sum()),
            "not_treated": int((armcd.notna() & (nrs == not_treated)).sum()),
            "not_yet": int((armcd.notna() & pending).sum()),
        }
    )
    return pd.DataFrame(rows, columns=["ARMCD", "ARM", "screened", "assigned", "treated", "not_treated", "not_yet"])


def criterion_counts(ie: pd.DataFrame, dm: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Per failed criterion in IE: IETESTCD, IETEST, IECAT, distinct subjects and, of them, screen failures.

    Criteria come in the study's order (unknown codes after, sorted).
    """
    columns = ["IETESTCD", "IETEST", "IECAT", "subjects", "screen_failures"]
    if ie.empty:
        return pd.DataFrame(columns=columns)
    failed = dm.loc[dm["ARMNRS"] == study.data["arm_null_reasons"]["screen_failure"], "USUBJID"]
    per = ie.drop_duplicates(["IETESTCD", "USUBJID"]).assign(sf=lambda f: safety.isin_text(f["USUBJID"], failed))
    out = per.groupby("IETESTCD", sort=True).agg(
        IETEST=("IETEST", "first"),
        IECAT=("IECAT", "first"),
        subjects=("USUBJID", "size"),
        screen_failures=("sf", "sum"),
    )
    order = {c["code"]: i for i, c in enumerate(study.criteria)}
    rank = [order.get(code, len(order)) for code in out.index]
    out = out.assign(_rank=rank).sort_values(["_rank", "IETESTCD"], kind="stable").reset_index()
    return out.astype({"subjects": "int64", "screen_failures": "int64"})[columns]


def reject_counts(rejects: pd.DataFrame) -> pd.DataFrame:
    """Per rule: reject records, distinct raw rows (file + line) and the files involved."""
    columns = ["rule", "records", "rows", "files"]
    if rejects.empty:
        return pd.DataFrame(columns=columns)
    grouped = rejects.groupby("rule", sort=True)
    out = pd.DataFrame(
        {
            "records": grouped.size(),
            "rows": rejects.drop_duplicates(["rule", "file", "line"]).groupby("rule").size(),
            "files": grouped["file"].agg(lambda s: ", ".join(sorted(set(s.astype(str))))),
        }
    )
    return out.reset_index()[columns]


def rejected_rows(rejects: pd.DataFrame, specs: Specs, counts: Mapping[str, int] | None = None) -> dict[str, int]:
    """Raw rows rejected at validation per raw contract: the run's own counts when given (exact when several forms
    share one file, as in ODM), else the distinct lines of the rejects per contract's file."""
    if counts is not None:
        return {name: int(counts.get(name, 0)) for name in specs.raw}
    lines = rejects.drop_duplicates(["file", "line"])["file"].astype("str").value_counts()
    return {name: int(lines.get(contract.file, 0)) for name, contract in specs.raw.items()}


def inputs_of(domains: Sequence[str], specs: Specs) -> list[str]:
    """The raw contracts the datasets take their records from (a SUPP-- dataset: its parent's), in order, once."""
    names: list[str] = []
    for domain in domains:
        spec = specs.sdtm.get(domain)
        if spec is None:
            continue
        parent = ((spec.records or {}).get("supplemental") or {}).get("parent")
        sources = spec.raw_sources or (specs.sdtm[parent].raw_sources if parent in specs.sdtm else ())
        names += [n for n in sources if n not in names]
    return names


def rejected_note(counted: str, inputs: Sequence[str], rejected: Mapping[str, int], specs: Specs) -> str:
    """'<counted>; 3 rows of adverse_events.csv and 0 rows of enrollment.csv rejected at validation, not counted
    (see rejects.csv).': the rows of each raw contract in `inputs` that `rejected` counts."""
    if not inputs:
        return f"{counted}."
    parts = [f"{rejected.get(name, 0)} {'row' if rejected.get(name, 0) == 1 else 'rows'} of {specs.raw[name].file}"
             for name in inputs]  # fmt: skip
    forms = [specs.raw[name].file for name in inputs]
    if len(set(forms)) < len(forms):  # several forms in one file (ODM): name the forms
        parts = [f"{part} ({name})" for part, name in zip(parts, inputs, strict=True)]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{counted}; {joined} rejected at validation, not counted (see rejects.csv)."


# ----------------------------------------------------------------------------------------------------------------
# HTML

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 72em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
dl.study { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.study dt { font-weight: 600; }
dl.study dd { margin: 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; background: #fafafa; }
p.note { color: #555; font-size: 0.9em; }
svg.escalation { max-width: 100%; height: auto; border: 1px solid #ddd; }
"""


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return escape(str(value))


def html_table(
    frame: pd.DataFrame, headers: Mapping[str, str], table_id: str, numeric: Sequence[str] = (), total: bool = False
) -> str:
    """An escaped HTML table of frame's columns named in headers; the last row styled as a total when asked."""
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if c in numeric else f"<th>{escape(h)}</th>" for c, h in headers.items()
    )
    body = []
    for i, row in enumerate(frame[list(headers)].itertuples(index=False)):
        cls = ' class="total"' if total and i == len(frame) - 1 else ""
        cells = "".join(
            f'<td class="n">{_cell(v)}</td>' if c in numeric else f"<td>{_cell(v)}</td>"
            for c, v in zip(headers, row, strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<table id="{escape(table_id)}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


def _section(title: str, *parts: str) -> str:
    return f"<h2>{escape(title)}</h2>\n" + "\n".join(parts)


def _note(text: str, kind: str = "") -> str:
    return f'<p class="note{" " + kind if kind else ""}">{escape(text)}</p>'


def _by_level_table(frame: pd.DataFrame, table_id: str, first: str) -> str:
    columns = [c for c in frame.columns if c != "row"]
    return html_table(frame, {"row": first, **{c: c for c in columns}}, table_id, numeric=columns)


def safety_html(
    datasets: Mapping[str, pd.DataFrame],
    supp: pd.DataFrame,
    specs: Specs,
    as_of: str | None = None,
    rejected: Mapping[str, int] | None = None,
    status: safety.DltStatus | None = None,
) -> str:
    """The safety review by dose level (DM.ACTARMCD): demographics, disposition, exposure, AEs and DLTs, each table
    with the rows of its input counted and the raw rows rejected at validation (`rejected`, per raw contract).

    `as_of` is the date the data are as of (the cut, else the data-as-of date): a DLT window open then, or a DLT
    that hangs on an end date not yet known, is provisional, and the rule's decision pending where they could
    change it."""
    study = specs.study
    rejected = rejected or {}
    dm, ae = datasets["DM"], datasets["AE"]
    ex = datasets.get("EX", pd.DataFrame(columns=["USUBJID", "EXDOSE"]))
    ds = datasets.get("DS")
    facts = study.data["safety"]
    grading = facts["grading"]
    vs = rows_where(datasets, "VS", safety.weight_rows)  # the few rows read of a large dataset, a block at a time
    weight = safety.baseline_weight(vs)
    n_treated = int(dm["ACTARMCD"].notna().sum())
    demo_note = "Treated subjects by the dose level received (DM.ACTARMCD). Age is DM.AGE at informed consent."
    if weight is None:
        demo_note += " Weight is left out: no SDTM dataset of this transfer holds it (no VS baseline WEIGHT)."
    dm_note = rejected_note(f"{n_treated} treated subjects counted", inputs_of(["DM"], specs), rejected, specs)
    disp_note = rejected_note(f"{len(dm)} DM subjects counted", inputs_of(["DM"], specs), rejected, specs)
    ex_note = rejected_note(f"{len(ex)} EX records counted", inputs_of(["DM", "EX"], specs), rejected, specs)
    treated_ids = dm.loc[dm["ACTARMCD"].notna(), "USUBJID"]
    of_treated = int(safety.isin_text(ae["USUBJID"], treated_ids).sum()) if len(ae) else 0
    counted = f"{of_treated} AE records (of treated subjects) counted"
    if len(ae) > of_treated:
        counted += f"; {len(ae) - of_treated} AE records of subjects not treated, not counted"
    ae_note = rejected_note(counted, inputs_of(["AE", "DM"], specs), rejected, specs)
    status = status or safety.dlt_status(dm, ae, supp, study, as_of, ds)
    dlt = safety.dlt_table(dm, ae, supp, study, as_of, ds, status)
    listing = safety.dlt_listing(dm, ae, supp, study, as_of, ds, status)
    date = safety.as_of_of(dm, as_of).strftime("%Y-%m-%d")
    settled = listing["status"] == "DLT"  # beyond LISTED rows, the provisional ones first (in listing order)
    shown = pd.concat([listing[~settled], listing[settled]]).head(LISTED).sort_index()
    listing_note = (
        f"{len(listing) - LISTED} more rows not listed; the table above counts them." if len(listing) > LISTED else ""
    )
    dlt_counted = (
        f"{of_treated} AE records (of treated subjects) read for DLTs, {int(dlt['dlt'].sum())} subjects with a DLT"
    )
    dlt_note = rejected_note(dlt_counted, inputs_of(["AE", "SUPPAE", "DM"], specs), rejected, specs)
    rule = facts["escalation"]
    return _section(
        "Safety review by dose level",
        _note(
            f"AEs coded with {facts['dictionary']['name']} {facts['dictionary']['version']}; graded with "
            f"{grading['default']['scale']} ({grading['special']['scale']} for "
            + ", ".join(facts["special_interest"])
            + "). AETOXGR is the grade; subjects are counted once per row, at their worst grade. "
            f"Source of these definitions: {facts.get('source', 'study.yaml')}."
        ),
        "<h3>Demographics</h3>",
        _by_level_table(safety.demographics(dm, study, vs), "safety-demographics", ""),
        _note(demo_note),
        _note(dm_note, "rejected-note"),
        "<h3>Disposition</h3>",
        _by_level_table(safety.disposition(dm, study), "safety-disposition", ""),
        _note("Follow-up runs from the first infusion (RFXSTDTC) to the end of participation (RFPENDTC)."),
        _note(disp_note, "rejected-note"),
        "<h3>Exposure</h3>",
        _by_level_table(safety.exposure(dm, ex, study), "safety-exposure", ""),
        _note("Dose received is EX.EXDOSE per infusion. Total cells are not in EX: left out."),
        _note(ex_note, "rejected-note"),
        "<h3>Adverse events</h3>",
        _by_level_table(safety.ae_overview(dm, ae, study), "safety-ae", "Subjects with"),
        _note(ae_note, "rejected-note"),
        "<h3>Dose-limiting toxicities and the escalation rule</h3>",
        html_table(
            dlt,
            {
                "level": "Dose level",
                "treated": "Treated",
                "evaluable": "DLT-evaluable",
                "in_window": "Not yet evaluable",
                "not_evaluable": "Not evaluable",
                "dlt": "Subjects with a DLT",
                "provisional": "of which provisional",
                "decision": "Rule decides",
                "why": "Why",
            },
            "safety-dlt",
            numeric=("treated", "evaluable", "in_window", "not_evaluable", "dlt", "provisional"),
        ),
        _note(dlt_note, "rejected-note"),
        _note(f"DLT (SUPPAE QNAM {safety.DLT_QNAM}): {facts['dlt']['text']}"),
        _note(
            f"Escalation rule ({rule['design']}): {rule['text']} Evaluable: a DLT, or followed through the last "
            "day of the DLT window. Not yet evaluable: no DLT so far, and the DLT window open at the data date "
            f"({date}) or not yet followed through without an end-of-study record. Not evaluable: left the study "
            "before the window ended, without a DLT. At the highest level, ESCALATE means the level is tolerated."
        ),
        _note(
            f"Provisional, as of {date}: a DLT whose DLT window is still open (it stays a DLT; more may follow), a "
            "DLT only because its end date is not yet known (the rule excepts the event if it resolves in time), "
            "and a subject not yet evaluable. The rule's decision is PENDING unless it is the same in the best "
            "case (no provisional DLT stands, every open window closes without a DLT) and in the worst case (each "
            "stands, each brings one)."
        ),
        "<h4>DLTs and subjects not yet evaluable</h4>",
        html_table(
            shown,
            {
                "label": "Subject",
                "level": "Dose level",
                "AEDECOD": "Event (AEDECOD)",
                "AETOXGR": "Grade",
                "onset": "Onset",
                "status": "Status",
                "why": "Why",
            },
            "safety-dlt-listing",
            numeric=("AETOXGR",),
        )
        if len(listing)
        else _note("No DLT, and no subject waiting to be evaluable."),
        _note(listing_note) if listing_note else "",
    )


def summary_html(
    datasets: Mapping[str, pd.DataFrame],
    rejects: pd.DataFrame,
    specs: Specs,
    cutoff: str | None,
    eligibility: Eligibility | None = None,
    as_of: str | None = None,
    rejected: Mapping[str, int] | None = None,
    analysis: Mapping[str, pd.DataFrame] | None = None,
) -> str:
    """The whole summary page as one self-contained HTML string (with `analysis`, the ADaM datasets: the efficacy
    section from ADQS).

    `as_of`: the date the data are as of (default: the cut); `rejected`: raw rows rejected per raw contract (the
    validation's counts; default: counted from `rejects` by file). Each section says how many rows of its input
    were rejected and not counted."""
    study = specs.study
    as_of = as_of or cutoff
    rejected = rejected_rows(rejects, specs, rejected)
    empty = pd.DataFrame(columns=["USUBJID"])
    dm = datasets["DM"]
    ex = datasets.get("EX", pd.DataFrame(columns=["USUBJID", "EXDOSE", "EXSTDTC"]))
    ie = datasets.get("IE", empty)

    header = (
        '<dl class="study">'
        f"<dt>STUDYID</dt><dd>{escape(study.studyid)}</dd>"
        f"<dt>Title</dt><dd>{escape(str(study.data.get('title', '')))}</dd>"
        f"<dt>Registry</dt><dd>{escape(str(study.data.get('registry_id', '')))}</dd>"
        f"<dt>Data cut</dt><dd>{escape(cutoff) if cutoff else 'none'}</dd>"
        f"<dt>CDISC CT</dt><dd>{escape(specs.ct_release)}</dd>"
        "</dl>"
    )

    domains = _section(
        "Records and subjects per domain",
        html_table(
            domain_counts(datasets).assign(
                rejected=lambda f: [
                    sum(rejected.get(n, 0) for n in inputs_of([d], specs)) if inputs_of([d], specs) else pd.NA
                    for d in f["domain"]
                ]
            ),
            {
                "domain": "Domain",
                "records": "Records",
                "subjects": "Subjects",
                "rejected": "Raw rows rejected, not counted",
            },
            "domains",
            numeric=("records", "subjects", "rejected"),
        ),
        _note(
            "Raw rows rejected: the rows of the raw files a dataset takes its records from (a SUPP-- dataset: its "
            "parent's) that failed validation, so are in no dataset (see rejects.csv). Blank: built from the specs."
        ),
    )

    ds = datasets.get("DS")
    arms = arm_counts(dm, study, ds)
    mismatch = int((dm["ACTARMCD"].notna() & (dm["ACTARMCD"] != dm["ARMCD"])).sum())
    pending = "Not yet treated at the cut" if cutoff else "Not yet treated"
    arm_headers = {
        "ARMCD": "ARMCD",
        "ARM": "ARM",
        "screened": "Screened",
        "assigned": "Assigned",
        "treated": "Treated",
        "not_treated": "Not treated",
        **({"not_yet": pending} if ds is not None else {}),
    }
    arm_notes = [
        _note(
            "Screened and Assigned count DM.ARMCD; Treated counts DM.ACTARMCD (the arm of the dose received); "
            "Not treated counts DM.ARMNRS = " + study.data["arm_null_reasons"]["not_treated"] + ". Subjects without a "
            "planned arm are listed under their DM.ARMNRS."
        )
    ]
    if ds is not None:
        arm_notes.append(
            _note(
                f"{pending}: of those not treated, the subjects without an end-of-study record in DS "
                f"(DSCAT = {END_OF_STUDY}); the others left the study untreated."
            )
        )
    arm_notes.append(
        _note(
            rejected_note(f"{len(dm)} DM subjects counted", inputs_of(["DM"], specs), rejected, specs), "rejected-note"
        )
    )
    if mismatch:
        arm_notes.append(_note(f"{mismatch} subject(s) treated at a dose level other than the planned one."))
    arm_section = _section(
        "Subjects per arm",
        html_table(
            arms,
            arm_headers,
            "arms",
            numeric=("screened", "assigned", "treated", "not_treated", "not_yet"),
            total=True,
        ),
        *arm_notes,
    )

    criteria = criterion_counts(ie, dm, study)
    sf_code = study.data["arm_null_reasons"]["screen_failure"]
    sf_ids = set(dm.loc[dm["ARMNRS"] == sf_code, "USUBJID"])
    without_ie = len(sf_ids - set(ie["USUBJID"])) if len(ie) else len(sf_ids)
    crit_parts = [
        html_table(
            criteria,
            {
                "IETESTCD": "IETESTCD",
                "IETEST": "IETEST",
                "IECAT": "IECAT",
                "subjects": "Subjects",
                "screen_failures": "of which screen failures",
            },
            "criteria",
            numeric=("subjects", "screen_failures"),
        )
        if len(criteria)
        else _note("No IE records: no criterion reported as failed.")
    ]
    crit_parts.append(_note(f"{len(sf_ids)} screen failure(s) in DM; {without_ie} without any IE record."))
    counted = f"{len(ie)} IE records and {len(dm)} DM subjects counted"
    crit_parts.append(_note(rejected_note(counted, inputs_of(["IE", "DM"], specs), rejected, specs), "rejected-note"))
    crit_section = _section("Screen failures by failed criterion (IE)", *crit_parts)

    by_rule = reject_counts(rejects)
    if len(by_rule):
        total_rows = len(rejects.drop_duplicates(["file", "line"]))
        totals = pd.DataFrame([{"rule": "Total", "records": len(rejects), "rows": total_rows, "files": ""}])
        reject_table = html_table(
            pd.concat([by_rule, totals], ignore_index=True),
            {"rule": "Rule", "records": "Reject records", "rows": "Raw rows (file + line)", "files": "Files"},
            "rejects",
            numeric=("records", "rows"),
            total=True,
        )
        reject_parts = [reject_table, _note("A raw row can fail several rules; the total counts it once.")]
    else:
        reject_parts = [_note("No raw rows rejected.")]
    reject_section = _section("Rejected raw rows by rule", *reject_parts)

    events, safety_section = None, ""
    if "AE" in datasets and "safety" in study.data:
        supp = datasets.get("SUPPAE", pd.DataFrame(columns=["USUBJID", "QNAM", "QVAL", "IDVAR", "IDVARVAL"]))
        status = safety.dlt_status(dm, datasets["AE"], supp, study, as_of, datasets.get("DS"))
        events = safety.markers(datasets["AE"], supp, study, dm, as_of, datasets.get("DS"), status)
        safety_section = safety_html(datasets, supp, specs, as_of, rejected, status)
    plot_section = _section(
        "Dose escalation",
        escalation_svg(dm, ex, specs, cutoff, events),
        _note(
            "One row per subject, ordered by first infusion then consent. Lines run from informed consent (RFICDTC) "
            "to end of participation (RFPENDTC) in the colour of the planned arm (ARMCD); markers are infusions (EX) "
            "by the dose level their dose matches; black crosses are deaths (DTHDTC). Partial dates are placed on "
            "the first day of the month (or year)."
        ),
        _note(
            rejected_note(
                f"{len(dm)} DM subjects, {len(ex)} EX records and {len(events) if events is not None else 0} events "
                "drawn",
                inputs_of(["DM", "EX", *(["AE"] if events is not None else [])], specs),
                rejected,
                specs,
            ),
            "rejected-note",
        ),
    )

    adqs = rows_where(analysis or {}, "ADQS", lambda f: analysed_totals(f, study))
    efficacy_section = efficacy_html(adqs, study)
    teae_section = teae_html((analysis or {}).get("ADAE"), (analysis or {}).get("ADSL"), study)
    checked = [c.name for c in specs.raw.values() if any(c.role(r) for r in ELIGIBILITY_ROLES)]
    eligibility_note = rejected_note("Checked on the valid rows", checked, rejected, specs)

    title = f"{study.studyid}: SDTM transfer summary"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{header}\n"
        + "\n".join(
            p
            for p in [
                domains,
                arm_section,
                crit_section,
                reject_section,
                safety_section,
                teae_section,
                efficacy_section,
                plot_section,
            ]
            if p
        )
        + eligibility_section(eligibility, eligibility_note)
        + "\n</body>\n</html>\n"
    )


def teae_html(adae: pd.DataFrame | None, adsl: pd.DataFrame | None, study: Study) -> str:
    """Treatment-emergent adverse events by dose level, from ADAE and ADSL."""
    if adae is None or adsl is None:
        return ""
    table = teae_by_level(adae, adsl, study)
    columns = [c for c in table.columns if c != "row"]
    return _section(
        "Treatment-emergent adverse events by dose level (ADAE)",
        html_table(table, {"row": "Subjects", **{c: c for c in columns}}, "teae", numeric=columns),
        _note(
            "Subjects of the safety population (ADSL.SAFFL = Y, by ADSL.ACTARMCD) with at least one treatment-emergent "
            "event (ADAE.TRTEMFL = Y: onset on or after the first infusion; partial onset dates imputed, ASTDTF) of "
            "each kind, each subject counted once; percentages of the column's safety population."
        ),
    )


def efficacy_html(adqs: pd.DataFrame | None, study: Study) -> str:
    """The efficacy section: change from baseline of the instrument totals by dose level and visit (ADQS)."""
    if adqs is None:
        return ""
    table = change_by_visit(adqs, study)
    headers = {"PARAM": "Parameter", "TRTA": "Dose level (TRTA)", "AVISIT": "Analysis visit", "n": "n",
               "mean": "Mean", "median": "Median", "range": "Min to max"}  # fmt: skip
    return _section(
        "Change from baseline by dose level and visit (ADQS)",
        html_table(table, headers, "efficacy", numeric=("n", "mean", "median", "range")) if len(table) else "",
        _note(
            "ADQS records with ANL01FL = Y (the last record of each analysis visit, by the windows of the visit "
            "schedule) and a change from baseline (CHG = AVAL - BASE after the infusion day; BASE: the last value "
            "on or before the first infusion, ABLFL = Y)."
        ),
    )


def write_summary(
    datasets: Mapping[str, pd.DataFrame],
    rejects: pd.DataFrame,
    specs: Specs,
    cutoff: str | None,
    path: Path,
    eligibility: Eligibility | None = None,
    as_of: str | None = None,
    rejected: Mapping[str, int] | None = None,
    analysis: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Write summary.html (self-contained: inline style and SVG) to path."""
    html = summary_html(datasets, rejects, specs, cutoff, eligibility, as_of, rejected, analysis)
    path.write_bytes(html.encode("utf-8"))

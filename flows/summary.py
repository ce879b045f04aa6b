"""summary.html for a transfer: counts per domain, arm, failed criterion and reject rule, and a dose-escalation plot.

Everything is a function of the datasets, the rejects and the specs (no clock), so equal inputs give equal bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flows import safety
from flows.mapping.derivations import arm_of_dose
from flows.specs import Specs, Study
from flows.summary_eligibility import Eligibility, eligibility_section

# Fixed drawing parameters: the PNG must be byte-identical for identical inputs.
FIGSIZE = (11.0, 8.0)
DPI = 100
LABELLED_ROWS = 60  # above this many subjects in a panel, y tick labels would overlap: draw none
PANEL_LEFT, PANEL_WIDTH = 0.085, 0.895  # figure fractions; the left margin fits SITEID-SUBJID tick labels
MARKERS = ("o", "s", "^", "D", "v", "p", "h", "*", "<", ">")
SCREEN_FAILURE = "SCREEN FAILURE"  # the CT term (ARMNULRS C49628) that SDTMIG gives screen failures
END_OF_STUDY = "DISPOSITION EVENT"  # the DSCAT term (C74590) of a subject's end-of-study record in DS
OTHER = "_other"  # infusions whose dose matches no study arm
NO_DATE = np.datetime64("NaT", "D")
# Safety markers on a subject's line: special-interest events (CRS, ICANS, ... in the study's order), then DLTs.
EVENT_STYLES = (("P", (0.90, 0.38, 0.0, 1.0)), ("*", (0.37, 0.24, 0.60, 1.0)), ("h", (0.0, 0.55, 0.55, 1.0)))
DLT_STYLE = ("o", (0.85, 0.0, 0.0, 1.0))
EVENT_OFFSET = 0.3  # rows below the subject's line, so an event next to the infusion leaves the infusion visible


# ----------------------------------------------------------------------------------------------------------------
# Tables (plain DataFrames; the HTML is rendered from them)


def domain_counts(datasets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Records and distinct USUBJID per dataset, in the order given (subjects null for trial-level datasets)."""
    rows = []
    for domain, frame in datasets.items():
        subjects = frame["USUBJID"].nunique() if "USUBJID" in frame else pd.NA
        rows.append({"domain": domain, "records": len(frame), "subjects": subjects})
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
    ended = set(ds.loc[ds["DSCAT"] == END_OF_STUDY, "USUBJID"]) if ds is not None and len(ds) else set()
    pending = (nrs == not_treated).fillna(False).astype(bool) & ~dm["USUBJID"].isin(ended)
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
    failed = set(dm.loc[dm["ARMNRS"] == study.data["arm_null_reasons"]["screen_failure"], "USUBJID"])
    per = ie.drop_duplicates(["IETESTCD", "USUBJID"]).assign(sf=lambda f: f["USUBJID"].isin(failed))
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


# ----------------------------------------------------------------------------------------------------------------
# Dose-escalation picture


def plot_days(values: pd.Series) -> np.ndarray:
    """ISO 8601 dates or date-times as datetime64[D]; partial dates take the first day (month); NaT when absent."""
    head = values.astype("str").str.slice(0, 10).where(values.notna())
    filled = head.where(head.str.len() != 4, head + "-01-01")
    filled = filled.where(filled.str.len() != 7, filled + "-01")
    parsed = pd.to_datetime(filled, format="%Y-%m-%d", errors="coerce")
    return parsed.to_numpy(dtype="datetime64[D]")


def infusion_arm(dose: pd.Series, study: Study, actual: pd.Series | None = None) -> pd.Series:
    """ARMCD whose dose matches each administered dose within the study's tolerance; OTHER when none does.
    A study whose arms are not told apart by dose (no dose_tolerance) shows each dose under the subject's ACTARMCD."""
    tolerance = study.data.get("treatment", {}).get("dose_tolerance")
    if tolerance is None or any("dose" not in a for a in study.arms):
        return (actual if actual is not None else pd.Series(pd.NA, index=dose.index, dtype="str")).fillna(OTHER)
    return arm_of_dose(dose.astype("Float64"), study.arms, float(tolerance)).fillna(OTHER)


def arm_styles(study: Study) -> dict[str, tuple[tuple[float, float, float, float], str, str]]:
    """Colour, marker and legend label per ARMCD, in escalation order (dark to light), plus OTHER."""
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    n = len(study.arms)
    styles = {}
    for i, arm in enumerate(study.arms):
        colour = cmap(0.05 + 0.75 * i / max(n - 1, 1))
        styles[arm["armcd"]] = (colour, MARKERS[i % len(MARKERS)], arm["arm"])
    styles[OTHER] = ((0.45, 0.45, 0.45, 1.0), "x", "dose matching no arm")
    return styles


def _order(first: np.ndarray, consent: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row order: by first infusion (untreated last), then consent, then USUBJID."""
    big = np.iinfo(np.int64).max
    f = np.where(np.isnat(first), big, first.astype("int64"))
    c = np.where(np.isnat(consent), big, consent.astype("int64"))
    return np.lexsort((ids, c, f))


def _panel(ax, rows: pd.DataFrame, ex: pd.DataFrame, styles: Mapping, treated_panel: bool) -> None:
    """Draw one panel: participation lines, consent ticks, infusions by dose level and deaths; all vectorised."""
    from matplotlib.dates import date2num

    n = len(rows)
    y = np.arange(n, dtype=float)
    consent = rows["consent"].to_numpy()
    end = np.where(np.isnat(rows["stop"].to_numpy()), consent, rows["stop"].to_numpy())
    has = ~np.isnat(consent)
    x0, x1 = date2num(consent[has]), date2num(end[has])
    # One NaN-separated polyline per colour: a single path each, fast even for 100,000 subjects.
    if treated_panel:
        palette = [style[0] for style in styles.values()] + [(0.55, 0.55, 0.55, 1.0)]
        group = pd.Categorical(rows["ARMCD"], categories=list(styles)).codes[has]  # -1 (none) picks the grey
    else:
        palette, group = [(0.6, 0.6, 0.6, 1.0)], np.zeros(int(has.sum()), dtype=int)
    width = 1.6 if n <= LABELLED_ROWS else 0.6
    for g in np.unique(group):
        hit = group == g
        gap = np.full(int(hit.sum()), np.nan)
        xs = np.column_stack([x0[hit], x1[hit], gap]).ravel()
        ys = np.column_stack([y[has][hit], y[has][hit], gap]).ravel()
        ax.plot(xs, ys, color=palette[g], alpha=0.6, linewidth=width, solid_capstyle="butt", zorder=2)
    size = 36 if n <= LABELLED_ROWS else 6
    if treated_panel:
        ax.scatter(x0, y[has], marker="|", s=size * 1.5, c="0.25", linewidths=1.0, zorder=3)
    else:
        ax.scatter(x0, y[has], marker="o", s=size, facecolors="none", edgecolors="0.2", linewidths=1.0, zorder=3)
    if not ex.empty:
        row_of = pd.Series(y, index=rows["USUBJID"].to_numpy())
        inf = ex.assign(row=ex["USUBJID"].map(row_of), day=plot_days(ex["EXSTDTC"]))
        inf = inf[inf["row"].notna() & ~np.isnat(inf["day"].to_numpy())]
        for code, style in styles.items():
            hit = inf[inf["arm"] == code]
            if len(hit):
                ax.scatter(
                    date2num(hit["day"].to_numpy()),
                    hit["row"].to_numpy(dtype=float),
                    marker=style[1],
                    s=size * 1.6,
                    color=style[0],
                    edgecolors="black",
                    linewidths=0.5,
                    zorder=4,
                )
    dead = ~np.isnat(rows["death"].to_numpy())
    if dead.any():
        ax.scatter(date2num(rows["death"].to_numpy()[dead]), y[dead], marker="X", s=size * 2.2, c="black", zorder=5)
    ax.set_ylim(n - 0.5 if n else 0.5, -0.5)
    if 0 < n <= LABELLED_ROWS:
        ax.set_yticks(y, rows["label"].tolist(), fontsize=7 if n > 30 else 8)
    else:
        ax.set_yticks([])
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)


def _event_markers(ax, rows: pd.DataFrame, events: pd.DataFrame, styles: Mapping, size: float) -> None:
    """Safety events at their start date on their subject's line: one marker style per kind, DLTs as red rings."""
    from matplotlib.dates import date2num

    row_of = pd.Series(np.arange(len(rows), dtype=float), index=rows["USUBJID"].to_numpy())
    at = events.assign(row=events["USUBJID"].map(row_of), day=plot_days(events["AESTDTC"]))
    at = at[at["row"].notna() & ~np.isnat(at["day"].to_numpy())]
    for kind, (marker, colour) in styles.items():
        hit = at[at["kind"] == kind]
        if not len(hit):
            continue
        x, y = date2num(hit["day"].to_numpy()), hit["row"].to_numpy(dtype=float) + EVENT_OFFSET
        if kind == "DLT":
            ax.scatter(x, y, marker=marker, s=size * 3.0, facecolors="none", edgecolors=[colour], linewidths=1.3,
                       zorder=6)  # fmt: skip
        else:
            ax.scatter(x, y, marker=marker, s=size * 1.2, color=colour, edgecolors="black", linewidths=0.4, zorder=5)


def event_styles(study: Study) -> dict[str, tuple[str, tuple[float, float, float, float]]]:
    """Marker and colour per safety-event kind: the study's special-interest labels in order, then DLT."""
    labels = list(study.data.get("safety", {}).get("special_interest", {}))
    styles = {label: EVENT_STYLES[i % len(EVENT_STYLES)] for i, label in enumerate(labels)}
    return {**styles, "DLT": DLT_STYLE}


def escalation_png(
    dm: pd.DataFrame,
    ex: pd.DataFrame,
    specs: Specs,
    cutoff: str | None = None,
    events: pd.DataFrame | None = None,
) -> bytes:
    """PNG of the dose escalation: one row per subject on a date axis, infusions marked by dose level.

    Top panel: subjects assigned to a dose level, ordered by first infusion then consent, a line from consent to
    RFPENDTC, each infusion (EX) coloured and shaped by the arm its dose matches, deaths as black crosses, and
    with `events` (safety.markers) special-interest AEs (CRS, ICANS) and DLTs at their start date.
    Bottom panel: screen failures (DM.ARMNRS), marked at consent. An optional data cut is a dashed vertical line.
    """
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    study = specs.study
    styles = arm_styles(study)
    ids = dm["USUBJID"].astype("str").to_numpy()
    subjects = pd.DataFrame(
        {
            "USUBJID": ids,
            "label": (dm["SITEID"].astype("str") + "-" + dm["SUBJID"].astype("str")).to_numpy(),
            "ARMCD": dm["ARMCD"].to_numpy(),
            "consent": plot_days(dm["RFICDTC"]),
            "first": plot_days(dm["RFXSTDTC"]),
            "stop": plot_days(dm["RFPENDTC"]),
            "death": plot_days(dm["DTHDTC"]),
            "failed": (dm["ARMNRS"] == SCREEN_FAILURE).to_numpy(bool, na_value=False),
        }
    )
    subjects = subjects.iloc[_order(subjects["first"].to_numpy(), subjects["consent"].to_numpy(), ids)]
    on_study, screen_failed = subjects[~subjects["failed"]], subjects[subjects["failed"]]
    actual = ex["USUBJID"].map(dm.set_index("USUBJID")["ACTARMCD"])
    doses = (
        ex[["USUBJID", "EXSTDTC"]].assign(arm=infusion_arm(ex["EXDOSE"], study, actual).to_numpy()) if len(ex) else ex
    )

    # Fixed axes positions (no layout engine: faster, and nothing depends on text extents). Panel heights follow
    # the subject counts, within bounds so neither panel vanishes.
    share = min(max(len(screen_failed) / max(len(subjects), 1), 0.18), 0.4)
    low, high, gap = 0.165, 0.925, 0.06
    bottom_h = (high - low - gap) * share
    # matplotlib defaults, not the machine's matplotlibrc: the picture depends on the inputs only.
    with matplotlib.style.context("default"), matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 9}):
        fig = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(fig)
        bottom = fig.add_axes((PANEL_LEFT, low, PANEL_WIDTH, bottom_h))
        top = fig.add_axes((PANEL_LEFT, low + bottom_h + gap, PANEL_WIDTH, high - low - bottom_h - gap), sharex=bottom)
        top.tick_params(labelbottom=False)
        _panel(top, on_study, doses, styles, treated_panel=True)
        _panel(bottom, screen_failed, doses.iloc[0:0], styles, treated_panel=False)
        kinds = event_styles(study)
        if events is not None and len(events):
            _event_markers(top, on_study, events, kinds, 36 if len(on_study) <= LABELLED_ROWS else 6)
        untreated = int(np.isnat(on_study["first"].to_numpy()).sum())
        title = f"Assigned to a dose level (n={len(on_study)}), by first infusion"
        if untreated:
            title += f"; {untreated} not treated (last, without infusion marker)"
        top.set_title(title, loc="left", fontsize=10)
        bottom.set_title(f"Screen failures (n={len(screen_failed)}), marked at consent", loc="left", fontsize=10)
        for ax, rows in ((top, on_study), (bottom, screen_failed)):
            if rows.empty:
                ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", va="center", color="0.4")
        fig.suptitle(f"{study.studyid}: dose escalation", fontsize=12, x=0.01, y=0.985, ha="left", va="top")
        columns = [subjects[c].to_numpy() for c in ("consent", "stop", "death")]
        dates = np.concatenate([*columns, plot_days(ex["EXSTDTC"])])
        if events is not None and len(events):
            dates = np.concatenate([dates, plot_days(events["AESTDTC"])])
        dates = dates[~np.isnat(dates)]
        cut = plot_days(pd.Series([cutoff], dtype="str"))[0] if cutoff else NO_DATE
        if not np.isnat(cut):
            dates = np.append(dates, cut)
            for ax in (top, bottom):
                ax.axvline(date2num(cut), color="0.2", linestyle="--", linewidth=1.0, zorder=2)
        if len(dates):
            lo, hi = date2num(dates.min()), date2num(dates.max())
            pad = max((hi - lo) * 0.02, 3.0)
            bottom.set_xlim(lo - pad, hi + pad)
        locator = AutoDateLocator()
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        handles = [
            Line2D([], [], linestyle="", marker=m, markersize=7, color=c, markeredgecolor="black", label=label)
            for code, (c, m, label) in styles.items()
            if code != OTHER or (len(doses) and (doses["arm"] == OTHER).any())
        ]
        handles += [
            Line2D(
                [],
                [],
                color="0.5",
                linewidth=1.6,
                label="consent (|) to end of participation (RFPENDTC), colour of planned arm",
            ),
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markerfacecolor="none",
                color="0.2",
                label="screen failure, at consent",
            ),
            Line2D([], [], linestyle="", marker="X", markersize=8, color="black", label="death (DTHDTC)"),
        ]
        present = set(events["kind"]) if events is not None else set()
        for kind, (marker, colour) in kinds.items():
            if kind in present:
                dlt = kind == "DLT"
                handles.append(
                    Line2D([], [], linestyle="", marker=marker, markersize=9 if dlt else 8,
                           markerfacecolor="none" if dlt else colour, markeredgecolor=colour if dlt else "black",
                           label="dose-limiting toxicity (SUPPAE DLTFL), at onset" if dlt else f"{kind} (AE), at onset")
                )  # fmt: skip
        if not np.isnat(cut):
            handles.append(Line2D([], [], color="0.2", linestyle="--", label=f"data cut {cutoff}"))
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


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
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
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


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _by_level_table(frame: pd.DataFrame, table_id: str, first: str) -> str:
    columns = [c for c in frame.columns if c != "row"]
    return html_table(frame, {"row": first, **{c: c for c in columns}}, table_id, numeric=columns)


def safety_html(datasets: Mapping[str, pd.DataFrame], supp: pd.DataFrame, study: Study) -> str:
    """The safety review by dose level (DM.ACTARMCD): demographics, disposition, exposure, AEs and DLTs."""
    dm, ae = datasets["DM"], datasets["AE"]
    ex = datasets.get("EX", pd.DataFrame(columns=["USUBJID", "EXDOSE"]))
    facts = study.data["safety"]
    grading = facts["grading"]
    weight = safety.baseline_weight(datasets.get("VS"))
    demo_note = "Treated subjects by the dose level received (DM.ACTARMCD). Age is DM.AGE at informed consent."
    if weight is None:
        demo_note += " Weight is left out: no SDTM dataset of this transfer holds it (no VS baseline WEIGHT)."
    dlt = safety.dlt_table(dm, ae, supp, study)
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
        _by_level_table(safety.demographics(dm, study, datasets.get("VS")), "safety-demographics", ""),
        _note(demo_note),
        "<h3>Disposition</h3>",
        _by_level_table(safety.disposition(dm, study), "safety-disposition", ""),
        _note("Follow-up runs from the first infusion (RFXSTDTC) to the end of participation (RFPENDTC)."),
        "<h3>Exposure</h3>",
        _by_level_table(safety.exposure(dm, ex, study), "safety-exposure", ""),
        _note("Dose received is EX.EXDOSE per infusion. Total cells are not in EX: left out."),
        "<h3>Adverse events</h3>",
        _by_level_table(safety.ae_overview(dm, ae, study), "safety-ae", "Subjects with"),
        "<h3>Dose-limiting toxicities and the escalation rule</h3>",
        html_table(
            dlt,
            {
                "level": "Dose level",
                "treated": "Treated",
                "evaluable": "DLT-evaluable",
                "in_window": "Still in the DLT window",
                "dlt": "Subjects with a DLT",
                "decision": "Rule decides",
            },
            "safety-dlt",
            numeric=("treated", "evaluable", "in_window", "dlt"),
        ),
        _note(f"DLT (SUPPAE QNAM {safety.DLT_QNAM}): {facts['dlt']['text']}"),
        _note(
            f"Escalation rule ({rule['design']}): {rule['text']} Evaluable: a DLT, or followed through the last "
            "day of the DLT window. At the highest level, ESCALATE means the level is tolerated."
        ),
    )


def summary_html(
    datasets: Mapping[str, pd.DataFrame],
    rejects: pd.DataFrame,
    specs: Specs,
    cutoff: str | None,
    eligibility: Eligibility | None = None,
) -> str:
    """The whole summary page as one self-contained HTML string."""
    study = specs.study
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
            domain_counts(datasets),
            {"domain": "Domain", "records": "Records", "subjects": "Subjects"},
            "domains",
            numeric=("records", "subjects"),
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
        events = safety.markers(datasets["AE"], supp, study)
        safety_section = safety_html(datasets, supp, study)
    png = base64.b64encode(escalation_png(dm, ex, specs, cutoff, events)).decode("ascii")
    plot_section = _section(
        "Dose escalation",
        f'<img alt="{escape(study.studyid)} dose escalation: subjects by date, infusions by dose level" '
        f'src="data:image/png;base64,{png}">',
        _note(
            "One row per subject, ordered by first infusion then consent. Lines run from informed consent (RFICDTC) "
            "to end of participation (RFPENDTC) in the colour of the planned arm (ARMCD); markers are infusions (EX) "
            "by the dose level their dose matches; black crosses are deaths (DTHDTC). Partial dates are placed on "
            "the first day of the month (or year)."
        ),
    )

    title = f"{study.studyid}: SDTM transfer summary"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{header}\n"
        + "\n".join(p for p in [domains, arm_section, crit_section, reject_section, safety_section, plot_section] if p)
        + eligibility_section(eligibility)
        + "\n</body>\n</html>\n"
    )


def write_summary(
    datasets: Mapping[str, pd.DataFrame],
    rejects: pd.DataFrame,
    specs: Specs,
    cutoff: str | None,
    path: Path,
    eligibility: Eligibility | None = None,
) -> None:
    """Write summary.html (self-contained: inline style, PNG as a data URI) to path."""
    path.write_bytes(summary_html(datasets, rejects, specs, cutoff, eligibility).encode("utf-8"))

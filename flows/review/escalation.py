"""The dose-escalation picture of summary.html: an inline SVG, one row per subject on a date axis.

Written as text with fixed number formats (no plotting library, no clock), so equal inputs give equal bytes. Above
LABELLED_ROWS subjects a panel draws BANDS rows, each a band of consecutive subjects, and each marker once per band
and pixel: the SVG stays a few hundred kB whatever the number of subjects.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import numpy as np
import pandas as pd

from flows.kernel.dates import impute_first
from flows.mapping.derivations.arm_by_dose import arm_of_dose
from flows.review.safety import PROVISIONAL_DLT
from flows.spec.model import Specs, Study

LABELLED_ROWS = 60  # above this many subjects in a panel, a row per subject would be under 5 px: draw bands
BANDS = 100  # rows of a banded panel
SCREEN_FAILURE = "SCREEN FAILURE"  # the CT term (ARMNULRS C49628) that SDTMIG gives screen failures
OTHER = "_other"  # infusions whose dose matches no study arm
NO_DATE = np.datetime64("NaT", "D")
MARKERS = ("o", "s", "^", "D", "v", "p", "h", "*", "<", ">")  # per arm, in escalation order
# Safety markers on a subject's line: special-interest events (CRS, ICANS, ... in the study's order), then DLTs.
EVENT_STYLES = (("P", "#e66100"), ("*", "#5e3c99"), ("h", "#008c8c"))
DLT_COLOUR = "#d90000"
# DLT rings: symbol id, extra paint and legend; a provisional DLT (summary's DLT listing says why) is dashed.
DLT_KINDS = {
    "DLT": ("dlt", "", "dose-limiting toxicity (SUPPAE DLTFL), at onset"),
    PROVISIONAL_DLT: ("dlt-provisional", ' stroke-dasharray="2.5 1.5"', "provisional DLT (the DLT listing says why)"),
}
EVENT_OFFSET = 0.3  # rows below the subject's line, so an event next to the infusion leaves the infusion visible
# matplotlib's 'plasma' colour map at nine stops (linear between them): arms from dark to light.
PLASMA = np.array(
    [
        (0.0504, 0.0298, 0.5280),
        (0.2999, 0.0096, 0.6316),
        (0.4949, 0.0120, 0.6579),
        (0.6651, 0.1386, 0.5856),
        (0.7982, 0.2802, 0.4695),
        (0.9018, 0.4251, 0.3597),
        (0.9734, 0.5858, 0.2515),
        (0.9930, 0.7717, 0.1548),
        (0.9400, 0.9752, 0.1313),
    ]
)
FAILURE_PAINT = 'fill="#fff" stroke="#333" stroke-width="1"'
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_TICKS = 10
# Geometry in px: the plot area spans LEFT..RIGHT; rows are ROW_PX high (SMALL_ROW_PX above 30, BAND_PX banded).
WIDTH, LEFT, RIGHT = 1100, 95, 1080
ROW_PX, SMALL_ROW_PX, BAND_PX = 17.0, 13.0, 3.0


# ----------------------------------------------------------------------------------------------------------------
# Data: dates, arms, styles, order


def plot_days(values: pd.Series) -> np.ndarray:
    """ISO 8601 dates or date-times as datetime64[D]; partial dates take the first day (month); NaT when absent."""
    return impute_first(values).to_numpy(dtype="datetime64[D]")


def infusion_arm(dose: pd.Series, study: Study, actual: pd.Series | None = None) -> pd.Series:
    """ARMCD whose dose matches each administered dose within the study's tolerance; OTHER when none does.
    A study whose arms are not told apart by dose (no dose_tolerance) shows each dose under the subject's ACTARMCD."""
    tolerance = study.data.get("treatment", {}).get("dose_tolerance")
    if tolerance is None or any("dose" not in a for a in study.arms):
        return (actual if actual is not None else pd.Series(pd.NA, index=dose.index, dtype="str")).fillna(OTHER)
    return arm_of_dose(dose.astype("Float64"), study.arms, float(tolerance)).fillna(OTHER)


def plasma(fraction: float) -> str:
    """Hex colour of the 'plasma' map at fraction (0 dark purple .. 1 yellow)."""
    stops = np.linspace(0.0, 1.0, len(PLASMA))
    rgb = [np.interp(fraction, stops, PLASMA[:, i]) for i in range(3)]
    return "#" + "".join(f"{round(float(v) * 255):02x}" for v in rgb)


def arm_styles(study: Study) -> dict[str, tuple[str, str, str]]:
    """Colour, marker and legend label per ARMCD, in escalation order (dark to light), plus OTHER."""
    n = len(study.arms)
    styles = {
        arm["armcd"]: (plasma(0.05 + 0.75 * i / max(n - 1, 1)), MARKERS[i % len(MARKERS)], arm["arm"])
        for i, arm in enumerate(study.arms)
    }
    styles[OTHER] = ("#737373", "x", "dose matching no arm")
    return styles


def event_styles(study: Study) -> dict[str, tuple[str, str]]:
    """Marker and colour per safety-event kind: the study's special-interest labels in order, then DLT."""
    labels = list(study.data.get("safety", {}).get("special_interest", {}))
    styles = {label: EVENT_STYLES[i % len(EVENT_STYLES)] for i, label in enumerate(labels)}
    return {**styles, "DLT": ("o", DLT_COLOUR), PROVISIONAL_DLT: ("o", DLT_COLOUR)}


def _order(first: np.ndarray, consent: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row order: by first infusion (untreated last), then consent, then USUBJID."""
    big = np.iinfo(np.int64).max
    f = np.where(np.isnat(first), big, first.astype("int64"))
    c = np.where(np.isnat(consent), big, consent.astype("int64"))
    return np.lexsort((ids, c, f))


def date_ticks(lo: np.datetime64, hi: np.datetime64) -> list[tuple[np.datetime64, str]]:
    """At most MAX_TICKS round dates in [lo, hi] (days, weeks, months or years) with concise labels: a day number,
    a month name at a month's start, the year at a year's start; the first tick with its month and year."""
    days = np.arange(lo, hi + 1, dtype="datetime64[D]")
    if not len(days):
        return []
    month_start = days.astype("datetime64[M]").astype("datetime64[D]")
    day_of_month = (days - month_start).astype(int) + 1
    month = days.astype("datetime64[M]").astype(int) % 12
    year = days.astype("datetime64[Y]").astype(int) + 1970
    first = day_of_month == 1
    candidates = [day_of_month >= 1, day_of_month % 2 == 1, np.isin(day_of_month, (1, 8, 15, 22))]
    candidates += [np.isin(day_of_month, (1, 15))]
    candidates += [first & (month % step == 0) for step in (1, 2, 3, 6)]
    candidates += [first & (month == 0) & (year % step == 0) for step in (1, 2, 5, 10, 20, 50, 100)]
    for chosen in candidates:
        if 0 < chosen.sum() <= MAX_TICKS:
            break
    else:
        chosen = np.zeros(len(days), dtype=bool)
    ticks = []
    for i in np.flatnonzero(chosen):
        if day_of_month[i] != 1:
            label = str(day_of_month[i])
        elif month[i] != 0:
            label = MONTHS[month[i]]
        else:
            label = str(year[i])
        if not ticks and label != str(year[i]):  # the first tick says where the axis starts: month and year
            label = f"{MONTHS[month[i]]} {day_of_month[i]}, {year[i]}" if day_of_month[i] != 1 else f"{label} {year[i]}"
        ticks.append((days[i], label))
    return ticks


# ----------------------------------------------------------------------------------------------------------------
# SVG pieces


def _num(value: float) -> str:
    """A coordinate with one decimal, without a trailing .0 (shorter text, same bytes for same inputs)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _polygon(points: np.ndarray) -> str:
    return "M" + "L".join(f"{_num(x)} {_num(y)}" for x, y in points) + "Z"


def _regular(corners: int, r: float, turn: float = 0.0) -> np.ndarray:
    """Corners of a regular polygon of radius r, the first at the top turned clockwise by `turn` of a circle."""
    angles = 2 * np.pi * (turn - 0.25) + 2 * np.pi * np.arange(corners) / corners
    return np.column_stack([r * np.cos(angles), r * np.sin(angles)])


def _star(r: float) -> np.ndarray:
    outer, inner = _regular(5, r), _regular(5, r * 0.45, 0.1)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _cross(r: float, width: float, turn: float) -> np.ndarray:
    """A filled plus (turn 0) or X (turn 0.125) of arm half-length r and half-width w."""
    w = width
    pts = np.array([(w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)])
    pts = np.vstack([pts, (-w, -r)])
    a = 2 * np.pi * turn
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T


def shape(marker: str, r: float) -> str:
    """SVG path data of a marker centred on 0,0 with radius about r (matplotlib's marker letters)."""
    if marker == "o":
        return f"M{_num(-r)} 0a{_num(r)} {_num(r)} 0 1 0 {_num(2 * r)} 0a{_num(r)} {_num(r)} 0 1 0 {_num(-2 * r)} 0Z"
    if marker == "|":
        return f"M0 {_num(-r)}V{_num(r)}"
    if marker == "_":
        return f"M{_num(-r)} 0H{_num(r)}"
    if marker == "x":
        return f"M{_num(-r)} {_num(-r)}L{_num(r)} {_num(r)}M{_num(-r)} {_num(r)}L{_num(r)} {_num(-r)}"
    polygons = {
        "s": lambda: _regular(4, r * 1.15, 0.125),
        "^": lambda: _regular(3, r * 1.2),
        "v": lambda: _regular(3, r * 1.2, 0.5),
        "<": lambda: _regular(3, r * 1.2, 0.75),
        ">": lambda: _regular(3, r * 1.2, 0.25),
        "D": lambda: _regular(4, r * 1.15),
        "p": lambda: _regular(5, r * 1.1),
        "h": lambda: _regular(6, r * 1.1),
        "*": lambda: _star(r * 1.35),
        "P": lambda: _cross(r * 1.1, r * 0.4, 0.0),
        "X": lambda: _cross(r * 1.2, r * 0.35, 0.125),
    }
    return _polygon(polygons[marker]())


class Canvas:
    """The SVG being written: symbol definitions used so far and the drawing, as lines of text."""

    def __init__(self) -> None:
        self.defs: dict[str, str] = {}
        self.body: list[str] = []

    def symbol(self, key: str, marker: str, r: float, paint: str) -> str:
        """Id of a marker definition (defined once), to place with <use>."""
        ident = f"{key}-{_num(r)}".replace(".", "_")
        if ident not in self.defs:
            self.defs[ident] = f'<path id="{ident}" d="{shape(marker, r)}" {paint}/>'
        return ident

    def markers(self, ident: str, x: np.ndarray, y: np.ndarray, cls: str, data: str = "", grid: float = 0.1) -> None:
        """One <use> per distinct (x, y) on a grid of `grid` px, in a group of class cls (tests count them)."""
        if not len(x):
            return
        snapped = np.column_stack([np.round(np.asarray(x, dtype=float) / grid) * grid, np.asarray(y, dtype=float)])
        points = np.unique(np.round(snapped, 1), axis=0)
        uses = "".join(f'<use href="#{ident}" x="{_num(px)}" y="{_num(py)}"/>' for px, py in points)
        self.body.append(f'<g class="{cls}"{data}>{uses}</g>')

    def text(self, x: float, y: float, content: str, size: float, extra: str = "") -> None:
        self.body.append(f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}"{extra}>{escape(content)}</text>')


class Panel:
    """One panel: its rows (a subject each, or bands of subjects) between y0 and y1, and the date scale."""

    def __init__(self, rows: pd.DataFrame, y0: float, scale) -> None:
        self.n = len(rows)
        self.banded = self.n > LABELLED_ROWS
        self.count = BANDS if self.banded else self.n
        self.pitch = BAND_PX if self.banded else (ROW_PX if self.n <= 30 else SMALL_ROW_PX)
        self.y0 = y0
        self.y1 = y0 + max(self.count * self.pitch, 2 * ROW_PX) + 6
        self.radius = 2.0 if self.banded else 5.0
        self.grid = 2.0 if self.banded else 0.1  # px: a banded panel draws a marker once per 2 px of its band
        self.scale = scale
        self.row_of = pd.Series(self.row_y(np.arange(self.n)), index=rows["USUBJID"].to_numpy())

    def row_y(self, position: np.ndarray) -> np.ndarray:
        """Centre y of the row (or band) of the subjects at these positions in the panel's order."""
        row = position * self.count // max(self.n, 1) if self.banded else position
        return self.y0 + 3 + (np.asarray(row, dtype=float) + 0.5) * self.pitch

    def at(self, subjects: pd.Series, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and y of dated points on their subject's row; points of subjects not in the panel or undated dropped."""
        y = subjects.map(self.row_of).to_numpy(dtype=float, na_value=np.nan)
        keep = ~np.isnan(y) & ~np.isnat(days)
        return self.scale(days[keep]), y[keep]


def _lines(canvas: Canvas, panel: Panel, rows: pd.DataFrame, palette: Mapping[str, str], width: float) -> None:
    """Consent-to-end lines, one path per colour; a banded panel draws one line per band and colour."""
    consent = rows["consent"].to_numpy()
    end = np.where(np.isnat(rows["stop"].to_numpy()), consent, rows["stop"].to_numpy())
    has = ~np.isnat(consent)
    frame = pd.DataFrame(
        {
            "colour": rows["colour"].to_numpy()[has],
            "y": panel.row_of.to_numpy()[has],
            "x0": panel.scale(consent[has]),
            "x1": panel.scale(end[has]),
        }
    )
    spans = frame.groupby(["colour", "y"], sort=True).agg(x0=("x0", "min"), x1=("x1", "max")).reset_index()
    for colour in sorted(set(spans["colour"])):
        part = spans[spans["colour"] == colour]
        d = "".join(
            f"M{_num(a)} {_num(y)}H{_num(b)}" for a, b, y in zip(part["x0"], part["x1"], part["y"], strict=True)
        )
        canvas.body.append(
            f'<path class="participation" d="{d}" stroke="{palette[colour]}" stroke-opacity="0.6" '
            f'stroke-width="{_num(width)}" fill="none"/>'
        )


def _axes(canvas: Canvas, panel: Panel, ticks: list, cut_x: float | None, title: str, labels: pd.Series) -> None:
    """Frame, vertical grid at the ticks, the data cut, the panel title and (not banded) the subject labels."""
    canvas.text(LEFT, panel.y0 - 6, title, 12.5)
    for x in panel.scale(np.array([day for day, _ in ticks], dtype="datetime64[D]")) if ticks else []:
        canvas.body.append(
            f'<path d="M{_num(x)} {_num(panel.y0)}V{_num(panel.y1)}" stroke="#e6e6e6" stroke-width="0.8"/>'
        )
    canvas.body.append(
        f'<rect x="{LEFT}" y="{_num(panel.y0)}" width="{RIGHT - LEFT}" height="{_num(panel.y1 - panel.y0)}" '
        'fill="none" stroke="#000" stroke-width="0.8"/>'
    )
    if cut_x is not None:
        canvas.body.append(
            f'<path class="data-cut" d="M{_num(cut_x)} {_num(panel.y0)}V{_num(panel.y1)}" stroke="#333" '
            'stroke-dasharray="5 3"/>'
        )
    if panel.n == 0:
        canvas.text((LEFT + RIGHT) / 2, (panel.y0 + panel.y1) / 2 + 4, "none", 12, ' text-anchor="middle" fill="#666"')
    elif not panel.banded:
        size = 11 if panel.n <= 30 else 9.5
        ys = panel.row_of.to_numpy() + size * 0.35
        texts = "".join(
            f'<text x="{LEFT - 5}" y="{_num(y)}">{escape(str(label))}</text>'
            for y, label in zip(ys, labels, strict=True)
        )
        canvas.body.append(f'<g class="subjects" font-size="{_num(size)}" text-anchor="end">{texts}</g>')


def _arm_paint(colour: str, marker: str) -> str:
    if marker == "x":  # an open marker: OTHER
        return f'fill="none" stroke="{colour}" stroke-width="1.5"'
    return f'fill="{colour}" stroke="#000" stroke-width="0.5"'


def _describe(
    study: Study,
    on_study: pd.DataFrame,
    screen_failed: pd.DataFrame,
    infusions: Mapping[str, int],
    events: pd.DataFrame | None,
    cutoff: str | None,
) -> str:
    """The picture in words, for <desc>: panels, infusions per dose level, deaths, events, the data cut."""
    names = {a["armcd"]: a["arm"] for a in study.arms} | {OTHER: "dose matching no arm"}
    treated = int((~np.isnat(on_study["first"].to_numpy())).sum())
    deaths = int((~np.isnat(on_study["death"].to_numpy())).sum() + (~np.isnat(screen_failed["death"].to_numpy())).sum())
    parts = [
        f"{len(on_study)} subjects assigned to a dose level ({treated} treated), one row each from informed consent "
        f"to end of participation; {len(screen_failed)} screen failures marked at consent.",
        "Infusions: " + "; ".join(f"{names[code]}: {n}" for code, n in infusions.items() if n or code != OTHER) + ".",
        f"Deaths: {deaths}.",
    ]
    if events is not None and len(events):
        kinds = events["kind"].value_counts()
        parts.append(
            "Events at onset: " + "; ".join(f"{k}: {kinds[k]}" for k in event_styles(study) if k in kinds) + "."
        )
    if cutoff:
        parts.append(f"Data cut: {cutoff}.")
    return " ".join(parts)


def escalation_svg(
    dm: pd.DataFrame,
    ex: pd.DataFrame,
    specs: Specs,
    cutoff: str | None = None,
    events: pd.DataFrame | None = None,
) -> str:
    """SVG of the dose escalation: one row per subject on a date axis, infusions marked by dose level.

    Top panel: subjects assigned to a dose level, ordered by first infusion then consent, a line from consent to
    RFPENDTC, each infusion (EX) coloured and shaped by the arm its dose matches, deaths as black crosses, and
    with `events` (safety.markers) special-interest AEs (CRS, ICANS) and DLTs at their start date.
    Bottom panel: screen failures (DM.ARMNRS), marked at consent. An optional data cut is a dashed vertical line.
    """
    study = specs.study
    styles, kinds = arm_styles(study), event_styles(study)
    ids = dm["USUBJID"].astype("str").to_numpy()
    subjects = pd.DataFrame(
        {
            "USUBJID": ids,
            "label": (dm["SITEID"].astype("str") + "-" + dm["SUBJID"].astype("str")).to_numpy(),
            "colour": dm["ARMCD"].astype("str").where(dm["ARMCD"].isin(list(styles)), "_none").to_numpy(),
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
    arm = infusion_arm(ex["EXDOSE"], study, actual) if len(ex) else pd.Series([], dtype="str")
    infusions = pd.DataFrame({"USUBJID": ex["USUBJID"].astype("str").to_numpy(), "arm": arm.to_numpy()})
    infusion_days = plot_days(ex["EXSTDTC"])
    event_days = plot_days(events["AESTDTC"]) if events is not None and len(events) else np.array([], "datetime64[D]")

    # The date range: every date drawn, and the cut; padded by 2% (at least 3 days) on each side.
    cut = plot_days(pd.Series([cutoff], dtype="str"))[0] if cutoff else NO_DATE
    dates = np.concatenate([*(subjects[c].to_numpy() for c in ("consent", "stop", "death")), infusion_days])
    dates = np.concatenate([dates, event_days, [cut]])
    dates = dates[~np.isnat(dates)]
    if len(dates):
        lo, hi = dates.min(), dates.max()
        pad = max(int((hi - lo).astype(int) * 0.02), 3)
        lo, hi = lo - pad, hi + pad
    else:
        lo = hi = NO_DATE
    span = float(max((hi - lo).astype(int), 1)) if len(dates) else 1.0

    def scale(days: np.ndarray) -> np.ndarray:
        if not len(dates):
            return np.full(len(days), (LEFT + RIGHT) / 2)
        return LEFT + (days - lo).astype(int) * (RIGHT - LEFT) / span

    ticks = date_ticks(lo, hi) if len(dates) else []
    cut_x = float(scale(np.array([cut]))[0]) if not np.isnat(cut) else None

    canvas = Canvas()
    top = Panel(on_study, 58.0, scale)
    bottom = Panel(screen_failed, top.y1 + 42, scale)
    untreated = int(np.isnat(on_study["first"].to_numpy()).sum())
    title = f"Assigned to a dose level (n={len(on_study)}), by first infusion"
    if untreated:
        title += f"; {untreated} not treated (last, without infusion marker)"
    for panel, rows, heading in (
        (top, on_study, title),
        (bottom, screen_failed, f"Screen failures (n={len(screen_failed)}), marked at consent"),
    ):
        if panel.banded:
            heading += f"; each row a band of about {round(panel.n / BANDS)} subjects"
        _axes(canvas, panel, ticks, cut_x, heading, rows["label"])

    # Top panel: lines in the planned arm's colour, consent ticks, infusions, deaths, events.
    palette = {code: colour for code, (colour, _, _) in styles.items()} | {"_none": "#8c8c8c"}
    _lines(canvas, top, on_study, palette, 1.0 if top.banded else 1.8)
    if not top.banded:  # a band's line starts at its first consent already; its ticks would be a grey smear
        consent_x, consent_y = top.at(on_study["USUBJID"], on_study["consent"].to_numpy())
        tick = canvas.symbol("consent", "|", top.radius * 1.2, 'stroke="#404040" stroke-width="1"')
        canvas.markers(tick, consent_x, consent_y, "consent")
    counts = {}
    for i, (code, (colour, marker, _)) in enumerate(styles.items()):
        hit = (infusions["arm"] == code).to_numpy()
        x, y = top.at(infusions.loc[hit, "USUBJID"], infusion_days[hit])
        counts[code] = len(x)
        ident = canvas.symbol(f"arm{i}", marker, top.radius, _arm_paint(colour, marker))
        canvas.markers(ident, x, y, "infusions", f' data-arm="{escape(code)}"', top.grid)
    if events is not None and len(events):
        for i, (kind, (marker, colour)) in enumerate(kinds.items()):
            hit = (events["kind"] == kind).to_numpy()
            x, y = top.at(events.loc[hit, "USUBJID"], event_days[hit])
            y = y + EVENT_OFFSET * top.pitch
            if kind in DLT_KINDS:
                ring = f'fill="none" stroke="{colour}" stroke-width="{1.0 if top.banded else 1.4}"'
                ring += DLT_KINDS[kind][1]
                ident = canvas.symbol(DLT_KINDS[kind][0], "o", top.radius * (1.3 if top.banded else 1.6), ring)
            else:
                paint = f'fill="{colour}" stroke="#000" stroke-width="0.4"'
                ident = canvas.symbol(f"event{i}", marker, top.radius * 1.1, paint)
            canvas.markers(ident, x, y, "events", f' data-kind="{escape(kind)}"', top.grid)

    # Bottom panel: grey lines, open circles at consent.
    _lines(canvas, bottom, screen_failed.assign(colour="_grey"), {"_grey": "#999"}, 1.0 if bottom.banded else 1.8)
    x, y = bottom.at(screen_failed["USUBJID"], screen_failed["consent"].to_numpy())
    ring = canvas.symbol("failure", "o", bottom.radius * 0.9, FAILURE_PAINT)
    canvas.markers(ring, x, y, "screen-failures", grid=bottom.grid)
    for panel, rows in ((top, on_study), (bottom, screen_failed)):
        x, y = panel.at(rows["USUBJID"], rows["death"].to_numpy())
        death = canvas.symbol("death", "X", panel.radius * 1.2, 'fill="#000"')
        canvas.markers(death, x, y, "deaths", grid=panel.grid)

    # Date axis under the bottom panel.
    axis_y = bottom.y1
    for day, label in ticks:
        x = float(scale(np.array([day]))[0])
        canvas.body.append(f'<path d="M{_num(x)} {_num(axis_y)}v4" stroke="#000" stroke-width="0.8"/>')
        canvas.text(x, axis_y + 17, label, 11, ' text-anchor="middle" class="tick"')

    # Legend: two columns of marker and label.
    entries = [
        (canvas.symbol(f"arm{i}", marker, 5.0, _arm_paint(colour, marker)), label)
        for i, (code, (colour, marker, label)) in enumerate(styles.items())
        if code != OTHER or counts.get(OTHER)
    ]
    line = canvas.symbol("key-line", "_", 8.0, 'stroke="#808080" stroke-width="1.8"')
    ticks_key = "consent" if top.banded else "consent (|)"  # a banded panel draws no consent ticks
    entries.append((line, f"{ticks_key} to end of participation (RFPENDTC), colour of planned arm"))
    entries.append((canvas.symbol("failure", "o", 4.5, FAILURE_PAINT), "screen failure, at consent"))
    entries.append((canvas.symbol("death", "X", 6.0, 'fill="#000"'), "death (DTHDTC)"))
    present = set(events["kind"]) if events is not None and len(events) else set()
    for i, (kind, (marker, colour)) in enumerate(kinds.items()):
        if kind in DLT_KINDS and kind in present:
            ring = f'fill="none" stroke="{colour}" stroke-width="1.4"' + DLT_KINDS[kind][1]
            ident = canvas.symbol(DLT_KINDS[kind][0], "o", 8.0, ring)
            entries.append((ident, DLT_KINDS[kind][2]))
        elif kind in present:
            ident = canvas.symbol(f"event{i}", marker, 5.5, f'fill="{colour}" stroke="#000" stroke-width="0.4"')
            entries.append((ident, f"{kind} (AE), at onset"))
    if cut_x is not None:
        cut_key = canvas.symbol("key-cut", "_", 8.0, 'stroke="#333" stroke-dasharray="5 3"')
        entries.append((cut_key, f"data cut {cutoff}"))
    legend_y = axis_y + 42
    per_column = (len(entries) + 1) // 2
    canvas.body.append('<g class="legend" font-size="11">')
    for i, (ident, label) in enumerate(entries):
        x = 190 + 460 * (i // per_column)
        y = legend_y + 18 * (i % per_column)
        canvas.body.append(f'<use href="#{ident}" x="{x}" y="{_num(y)}"/>')
        canvas.text(x + 16, y + 4, label, 11)
    canvas.body.append("</g>")
    height = legend_y + 18 * per_column + 4

    description = _describe(study, on_study, screen_failed, counts, events, cutoff)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="escalation" width="{WIDTH}" height="{_num(height)}" '
        f'viewBox="0 0 {WIDTH} {_num(height)}" role="img" aria-labelledby="escalation-title escalation-desc" '
        'font-family="DejaVu Sans, Verdana, sans-serif">\n'
        f'<title id="escalation-title">{escape(study.studyid)} dose escalation: subjects by date, infusions by dose '
        "level</title>\n"
        f'<desc id="escalation-desc">{escape(description)}</desc>\n'
    )
    defs = "<defs>\n" + "\n".join(canvas.defs[k] for k in sorted(canvas.defs)) + "\n</defs>\n"
    heading = f'<text x="10" y="22" font-size="16">{escape(study.studyid)}: dose escalation</text>\n'
    return head + defs + heading + "\n".join(canvas.body) + "\n</svg>"

"""Tests of flows/review/escalation.py: the SVG read back as XML (rows, markers per arm and kind, axis), determinism,
size."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from flows.mapping.load import load_specs
from flows.review import escalation, safety
from flows.spec.model import Specs
from tests.test_summary import make_ae, make_dm, make_ex, make_suppae

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def specs() -> Specs:
    return load_specs()


@pytest.fixture(scope="module")
def dm(specs) -> pd.DataFrame:
    return make_dm(specs)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def points(root: ET.Element, cls: str, **data: str) -> list[tuple[float, float]]:
    """(x, y) of every <use> in the groups of class cls whose data-* attributes match."""
    hits = [g for g in groups(root, cls) if all(g.get(f"data-{k}") == v for k, v in data.items())]
    return [(float(u.get("x")), float(u.get("y"))) for g in hits for u in g.iter(f"{SVG}use")]


def subject_rows(root: ET.Element) -> list[list[tuple[str, float]]]:
    """Per panel, the subject labels top to bottom with their y."""
    return [[(t.text, float(t.get("y"))) for t in g.iter(f"{SVG}text")] for g in groups(root, "subjects")]


def test_svg_is_well_formed_and_accessible(specs, dm):
    root = parse(escalation.escalation_svg(dm, make_ex(dm, specs), specs, "2026-01-31"))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert root.get("aria-labelledby") == "escalation-title escalation-desc"
    title, desc = root.find(f"{SVG}title").text, root.find(f"{SVG}desc").text
    assert title.startswith(specs.study.studyid) and "dose escalation" in title
    assert "5 subjects assigned to a dose level (4 treated)" in desc and "2 screen failures" in desc
    assert "Deaths: 1." in desc and "Data cut: 2026-01-31." in desc
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    hrefs = {u.get("href")[1:] for u in root.iter(f"{SVG}use")}
    assert hrefs <= set(ids)  # every marker placed is defined


def test_rows_follow_first_infusion_then_consent(specs, dm):
    """Top panel by first infusion (0003, not treated, last); screen failures below by consent."""
    root = parse(escalation.escalation_svg(dm, make_ex(dm, specs), specs))
    top, bottom = subject_rows(root)
    assert [label for label, _ in top] == ["01-0001", "01-0004", "01-0005", "01-0006", "01-0003"]
    assert [label for label, _ in bottom] == ["01-0002", "01-0007"]
    assert all(a[1] < b[1] for a, b in itertools.pairwise(top))  # top to bottom


def test_infusion_markers_per_arm_match_ex(specs, dm):
    """One marker per infusion, by the arm its dose matches: 0006 (planned level 2) was dosed at level 1."""
    ex = make_ex(dm, specs)
    root = parse(escalation.escalation_svg(dm, ex, specs))
    a1, a2 = (a["armcd"] for a in specs.study.arms[:2])
    assert len(points(root, "infusions", arm=a1)) == 3  # 0001, 0004, 0006
    assert len(points(root, "infusions", arm=a2)) == 1  # 0005
    assert sum(len(points(root, "infusions", arm=a["armcd"])) for a in specs.study.arms) == len(ex)
    assert points(root, "infusions", arm=escalation.OTHER) == []
    assert "dose matching no arm" not in ET.tostring(root, encoding="unicode")


def test_named_subject_row_holds_its_infusion_and_death(specs, dm):
    """0004: infused 2025-07-01 at level 1, died 2025-09 (placed on 2025-09-01), both on its own row, death later."""
    root = parse(escalation.escalation_svg(dm, make_ex(dm, specs), specs))
    labels = dict(subject_rows(root)[0])
    row = {y: label for label, y in labels.items()}
    (death,) = points(root, "deaths")
    infusions = points(root, "infusions", arm=specs.study.arms[0]["armcd"])
    same_row = [p for p in infusions if abs(p[1] - death[1]) < 0.01]
    assert len(same_row) == 1 and same_row[0][0] < death[0]
    nearest = min(row, key=lambda y: abs(y - death[1]))  # the label's baseline sits a little below the row centre
    assert row[nearest] == "01-0004"


def test_dose_matching_no_arm_is_drawn_and_named(specs, dm):
    ex = make_ex(dm, specs).assign(EXDOSE=lambda f: f["EXDOSE"].where(f.index != 0, 123456.0))
    svg = escalation.escalation_svg(dm, ex, specs)
    assert len(points(parse(svg), "infusions", arm=escalation.OTHER)) == 1
    assert "dose matching no arm" in svg


def test_safety_markers_per_kind(specs, dm):
    """Every special-interest event and DLT is a marker of its kind; the picture changes, deterministically."""
    ae, supp = make_ae(dm, specs), make_suppae(specs)
    events = safety.markers(ae, supp, specs.study)
    ex = make_ex(dm, specs)
    plain = escalation.escalation_svg(dm, ex, specs)
    marked = escalation.escalation_svg(dm, ex, specs, events=events)
    assert marked != plain
    assert marked == escalation.escalation_svg(dm, ex, specs, events=events.iloc[::-1])
    root = parse(marked)
    shown = events[events["USUBJID"].isin(dm["USUBJID"])]  # 0099 is not in DM: not drawn
    for kind, n in shown["kind"].value_counts().items():
        assert len(points(root, "events", kind=kind)) == n, kind
    assert len(points(root, "events", kind="DLT")) == 2  # 0001 seq 2, 0004 seq 1
    assert "dose-limiting toxicity" in marked and "dose-limiting toxicity" not in plain


def test_a_provisional_dlt_is_a_dashed_ring_of_its_own_kind(specs, dm):
    ae, supp = make_ae(dm, specs), make_suppae(specs)
    events = safety.markers(ae, supp, specs.study)
    first = events.index[events["kind"] == "DLT"][0]  # 0001 seq 2
    events.loc[first, "kind"] = safety.PROVISIONAL_DLT
    svg = escalation.escalation_svg(dm, make_ex(dm, specs), specs, events=events)
    root = parse(svg)
    assert len(points(root, "events", kind="DLT")) == 1 and len(points(root, "events", kind="DLT (provisional)")) == 1
    rings = [p for p in root.iter(f"{SVG}path") if (p.get("id") or "").startswith("dlt-")]
    assert {p.get("id").startswith("dlt-provisional") for p in rings} == {True, False}
    assert {p.get("stroke-dasharray") for p in rings if p.get("id").startswith("dlt-provisional")} == {"2.5 1.5"}
    assert {p.get("stroke-dasharray") for p in rings if not p.get("id").startswith("dlt-provisional")} == {None}
    assert "provisional DLT (the DLT listing says why)" in svg and "DLT (provisional): 1" in svg  # legend, desc


def test_data_cut_is_a_line_in_each_panel(specs, dm):
    ex = make_ex(dm, specs)
    cut = parse(escalation.escalation_svg(dm, ex, specs, "2026-01-31"))
    assert len([p for p in cut.iter(f"{SVG}path") if p.get("class") == "data-cut"]) == 2
    assert "data cut 2026-01-31" in ET.tostring(cut, encoding="unicode")
    none = parse(escalation.escalation_svg(dm, ex, specs))
    assert not [p for p in none.iter(f"{SVG}path") if p.get("class") == "data-cut"]


def test_row_order_and_hash_seed_do_not_change_the_svg(specs, dm):
    ex = make_ex(dm, specs)
    assert escalation.escalation_svg(dm, ex, specs) == escalation.escalation_svg(
        dm.sample(frac=1, random_state=3), ex.iloc[::-1], specs
    )


def test_only_screen_failures_and_no_dates(specs, dm):
    failures = dm[dm["ARMNRS"].notna() & dm["ARMCD"].isna()].assign(RFICDTC=None, RFPENDTC=None)
    root = parse(escalation.escalation_svg(failures, make_ex(dm, specs).iloc[0:0], specs))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "none" in texts  # the empty top panel says so
    assert not [t for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]  # no dates, no axis ticks
    assert points(root, "screen-failures") == []  # no consent date to place them at


@pytest.mark.parametrize(
    ("dtc", "expected"),
    [
        ("2025-06-10T09:30", "2025-06-10"),  # date-time: date part
        ("2025-06-10", "2025-06-10"),  # complete date
        ("2025-09", "2025-09-01"),  # day missing: first of the month
        ("2025", "2025-01-01"),  # month missing: January 1
        (None, "NaT"),  # absent
        ("2025-13-40", "NaT"),  # invalid
    ],
)
def test_plot_days(dtc, expected):
    got = escalation.plot_days(pd.Series([dtc], dtype="str"))
    assert str(got[0]) == expected


@pytest.mark.parametrize(
    ("lo", "hi", "labels"),
    [
        ("2025-06-03", "2025-06-09", ["Jun 3, 2025", "4", "5", "6", "7", "8", "9"]),  # a week: every day
        ("2025-06-20", "2025-07-25", ["Jun 22, 2025", "Jul", "8", "15", "22"]),  # five weeks: weekly, month on the 1st
        ("2025-05-20", "2026-03-10", ["Jun 2025", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "2026", "Feb", "Mar"]),
        ("2025-05-20", "2027-11-10", ["Jul 2025", "Oct", "2026", "Apr", "Jul", "Oct", "2027", "Apr", "Jul", "Oct"]),
        ("1990-03-01", "2026-01-01", ["1995", "2000", "2005", "2010", "2015", "2020", "2025"]),
    ],
)
def test_date_ticks(lo, hi, labels):
    ticks = escalation.date_ticks(np.datetime64(lo, "D"), np.datetime64(hi, "D"))
    assert [label for _, label in ticks] == labels
    assert len(ticks) <= escalation.MAX_TICKS


def test_many_subjects_are_drawn_in_bands_and_stay_small(specs):
    """100,000 subjects: no per-subject rows or labels, at most one marker per band and 2 px: a small SVG."""
    n = 100_000
    rng = np.random.default_rng(7)
    arms = [a["armcd"] for a in specs.study.arms]
    consent = np.datetime64("2025-05-01") + rng.integers(0, 600, n).astype("timedelta64[D]")
    failed = rng.random(n) < 0.25
    armcd = np.where(failed, None, np.array(arms, dtype=object)[rng.integers(0, len(arms), n)])
    first = consent + 30

    def iso(days: np.ndarray, where: np.ndarray) -> pd.Series:
        return pd.Series(np.where(where, days.astype(str), None), dtype="str")

    ids = pd.Series(np.char.zfill(np.arange(n).astype(str), 6))
    dm = pd.DataFrame(
        {
            "USUBJID": "S-01-" + ids,
            "SUBJID": ids,
            "SITEID": "01",
            "RFICDTC": iso(consent, np.ones(n, bool)),
            "RFXSTDTC": iso(first, ~failed),
            "RFPENDTC": iso(first + 300, np.ones(n, bool)),
            "DTHDTC": iso(first + 90, rng.random(n) < 0.02),
            "ARMCD": armcd,
            "ACTARMCD": armcd,
            "ARMNRS": np.where(failed, specs.study.data["arm_null_reasons"]["screen_failure"], None),
        }
    )
    dose = {a["armcd"]: a["dose"] for a in specs.study.arms}
    treated = dm[~failed]
    ex = pd.DataFrame({"USUBJID": treated["USUBJID"], "EXSTDTC": treated["RFXSTDTC"]})
    ex["EXDOSE"] = treated["ARMCD"].map(dose)
    svg = escalation.escalation_svg(dm, ex, specs)
    root = parse(svg)
    assert len(svg) < 400_000
    assert subject_rows(root) == []  # no labels
    assert "each row a band of about 750 subjects" in svg
    rows = {y for arm in arms for _, y in points(root, "infusions", arm=arm)}
    assert len(rows) <= escalation.BANDS
    deaths = points(root, "deaths")
    assert len(deaths) < dm["DTHDTC"].notna().sum() / 2  # deaths of a band within 2 px are one marker
    assert all(x % 2 == 0 for x, _ in deaths)

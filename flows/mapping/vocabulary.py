"""The mapping algorithms: each a short, pure, vectorised function of Series (no spec, no study, no I/O).

The engine binds them to a spec's arguments (flows/mapping/registry.py); specs/README.md shows one example of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.dates import study_day
from flows.kernel.distinct import SMALL, arrow_data, constant_text, distinct_rows, per_value


def assign(values: pd.Series) -> pd.Series:
    """A raw column (or study-list field) as it is: text stays text, numbers stay numbers."""
    return values.copy()


def recode(values: pd.Series, table: Mapping[str, str]) -> pd.Series:
    """Raw values recoded to submission values through `table` (raw -> submitted); nulls stay null.

    A value the table lacks is an error: the spec checker makes sure the raw contract cannot deliver one.
    """
    text = values.astype("str")
    unknown = sorted(set(text.dropna().unique()) - set(table))
    if unknown:
        raise ValueError(f"values without a recode: {unknown[:5]}")
    return text.map(dict(table)).astype("str")


def hardcode(value: Any, index: pd.Index) -> pd.Series:
    """The same value (or null) on every record."""
    if value is None:
        return pd.Series(pd.NA, index=index, dtype="str")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Series(value, index=index, dtype="Float64" if isinstance(value, float) else "Int64")
    return pd.Series(constant_text(str(value), len(index)), index=index, copy=False)


def iso8601(date: pd.Series, time: pd.Series | None = None) -> pd.Series:
    """ISO 8601 --DTC from a date (full or partial, kept as it is) and an optional time of day (hh:mm[:ss]).

    The time is appended only to a complete date: a partial date cannot carry a time.
    """
    out = date.astype("str")
    if time is not None:
        joinable = out.str.len().eq(10).fillna(False) & time.notna()
        out = out.where(~joinable, out + "T" + time.astype("str"))
    return out


def lookup(values: pd.Series, table: Mapping[Any, Any]) -> pd.Series:
    """Each value replaced by its entry in `table` (a look-up in study.yaml); null where the table has none."""
    table = dict(table)
    text = all(isinstance(v, str) for v in table.values())
    mapped = per_value(lambda s: s.map(table).astype("str") if text else s.map(table))(values)
    return mapped.astype("str") if text else mapped


def lookup_per_subject(subject: pd.Series, source: pd.Series, values: pd.Series) -> pd.Series:
    """Each record's subject's value (text) in another dataset (`source`: its subjects, one row each); null for a
    subject the dataset lacks. Looked up once per distinct subject."""
    table = pd.Series(values.array, index=pd.Index(source.array))
    return per_value(lambda s: s.map(table).astype("str"))(subject).astype("str")


def copy_of(values: pd.Series) -> pd.Series:
    """Another variable of the same record, unchanged."""
    return values.copy()


def flag_present(values: pd.Series) -> pd.Series:
    """'Y' where the value is populated, null elsewhere (e.g. DTHFL from DTHDTC)."""
    return pd.Series(np.where(values.notna(), "Y", None), index=values.index, dtype="str")


def per_subject(
    target: pd.Series, source: pd.Series, values: pd.Series, how: str, order: pd.Series | None = None
) -> pd.Series:
    """For each target subject, one summary of `values` over the source records of the same subject.

    how: min, max, first or last (first/last by `order`, ties in record order); null for subjects without records.
    """
    frame = pd.DataFrame({"s": source.to_numpy(), "v": values.to_numpy()})
    if how == "join":  # the distinct values, sorted, as one text
        frame = frame.dropna(subset=["v"]).drop_duplicates()
        summary = frame.sort_values("v").groupby("s")["v"].agg(", ".join)
        return target.map(summary).astype("str")
    if how in ("first", "last"):
        frame["o"] = order.to_numpy() if order is not None else np.arange(len(frame))
        frame = frame.sort_values(["s", "o"], kind="stable", na_position="last")
        summary = frame.groupby("s", sort=False)["v"].agg(how)
    else:
        summary = frame.dropna(subset=["v"]).groupby("s")["v"].agg(how)
    out = target.map(summary)
    return out.astype(values.dtype)


def epoch_of_day(day: pd.Series, schedule: Sequence[Mapping[str, Any]]) -> pd.Series:
    """EPOCH of each study day from the planned visits: the epoch of the last visit whose window opens on or
    before the day; the first visit's epoch when the day is unknown (no reference date) or before every window."""
    starts = np.array([v["window"][0] for v in schedule], dtype=float)
    epochs = np.array([v["epoch"] for v in schedule], dtype=object)
    order = np.argsort(starts, kind="stable")
    starts, epochs = starts[order], epochs[order]
    d = day.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    pos = np.searchsorted(starts, d, side="right") - 1
    first = schedule[0]["epoch"]
    picked = np.where(np.isnan(d) | (pos < 0), first, epochs[np.clip(pos, 0, None)])
    return pd.Series(picked, index=day.index, dtype="str")


def _text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow data of a text Series (None for any other kind)."""
    return arrow_data(values) if isinstance(values.array, pd.arrays.ArrowStringArray) else None


def first_non_null(parts: Sequence[pd.Series]) -> pd.Series:
    """The first populated value over several candidate Series, in order."""
    texts = [_text(p) for p in parts]
    if all(t is not None and t.type == texts[0].type for t in texts):  # text: Arrow's coalesce, no Python per row
        return pd.Series(pc.coalesce(*texts).to_pandas().array, index=parts[0].index, name=parts[0].name)
    out = parts[0]
    for part in parts[1:]:
        out = out.where(out.notna(), part)
    return out


def null_unless(values: pd.Series, mask: pd.Series) -> pd.Series:
    """The values where mask holds, null elsewhere (Series.where, in Arrow for text)."""
    text = _text(values)
    if text is None:
        return values.where(mask)
    keep = pa.array(mask.to_numpy(dtype=bool))
    kept = pc.if_else(keep, text.combine_chunks() if text.num_chunks != 1 else text.chunk(0), pa.nulls(1, text.type)[0])
    return pd.Series(pa.chunked_array([kept]).to_pandas().array, index=values.index, name=values.name)


def study_day_of(dtc: pd.Series, reference: pd.Series) -> pd.Series:
    """SDTM --DY against a reference date (see flows.kernel.dates.study_day): no day 0, null when a date is partial.
    Worked out once per distinct pair of dates (on the records when there are few)."""
    frame = pd.DataFrame({"d": dtc.astype("str").array, "r": reference.astype("str").array}, index=dtc.index)
    if len(frame) <= SMALL:
        return study_day(frame["d"], frame["r"]).astype("Int64")
    pairs = distinct_rows(frame, ["d", "r"])
    return pairs.expand(study_day(pairs.rows["d"], pairs.rows["r"]).reset_index(drop=True), dtc.index).astype("Int64")


def to_number(values: pd.Series) -> pd.Series:
    """Numeric value of a text result (--STRESN from --STRESC); null where the text is not a number."""
    return per_value(lambda s: pd.to_numeric(s, errors="coerce").astype("Float64"))(values)


def fill_template(text: str, parts: Mapping[str, pd.Series], index: pd.Index) -> pd.Series:
    """Text from a template whose {name} placeholders take each record's value of a part; null if a part is."""
    import string

    out = pd.Series("", index=index, dtype="str")
    for literal, field, _, _ in string.Formatter().parse(text):
        out = out + literal
        if field is not None:
            out = out + parts[field].astype("str")
    return out


def epoch_of_element(subject: pd.Series, dtc: pd.Series, elements: pd.DataFrame) -> pd.Series:
    """EPOCH of the subject's element (SE: USUBJID, SESTDTC, EPOCH) that started last on or before each date.

    A date without a time is compared with the element's start date; null before the first element. Worked out
    once per distinct subject and date (on the records when there are few)."""
    frame = pd.DataFrame({"USUBJID": subject.array, "d": dtc.astype("str").array}, index=subject.index)
    pairs = distinct_rows(frame, ["USUBJID", "d"]) if len(frame) > SMALL else None
    u = (pairs.rows if pairs is not None else frame).reset_index(drop=True).reset_index(names="pos")
    cand = u.merge(elements.dropna(subset=["SESTDTC"]), on="USUBJID", how="inner")
    dated = cand["d"].notna()
    short = cand["d"].str.len() == 10
    start = cand["SESTDTC"].where(~short, cand["SESTDTC"].str.slice(0, 10))
    cand = cand[dated & (start <= cand["d"]).fillna(False)]
    last = cand.assign(opens=start).sort_values(["pos", "opens"], kind="stable").drop_duplicates("pos", keep="last")
    per_pair = pd.Series(pd.NA, index=u.index, dtype="str")
    per_pair.loc[last["pos"].to_numpy()] = last["EPOCH"].to_numpy()
    return (pairs.expand(per_pair, subject.index) if pairs is not None else per_pair.set_axis(subject.index)).astype(
        "str"
    )

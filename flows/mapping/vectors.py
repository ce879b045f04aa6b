"""Vectorised helpers several mapping algorithms and derivations share: pure functions of Series (no spec, no
study, no I/O). An algorithm's own function sits in its module (flows/mapping/algorithms/<name>.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.dates import study_day
from flows.kernel.distinct import SMALL, arrow_data, constant_text, distinct_rows, per_value


def hardcode(value: Any, index: pd.Index) -> pd.Series:
    """The same value (or null) on every record."""
    if value is None:
        return pd.Series(pd.NA, index=index, dtype="str")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Series(value, index=index, dtype="Float64" if isinstance(value, float) else "Int64")
    return pd.Series(constant_text(str(value), len(index)), index=index, copy=False)


def lookup_per_subject(subject: pd.Series, source: pd.Series, values: pd.Series) -> pd.Series:
    """Each record's subject's value (text) in another dataset (`source`: its subjects, one row each); null for a
    subject the dataset lacks. Looked up once per distinct subject."""
    table = pd.Series(values.array, index=pd.Index(source.array))
    return per_value(lambda s: s.map(table).astype("str"))(subject).astype("str")


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


def isin_text(values: pd.Series | pd.Index, among: pd.Series | pd.Index) -> np.ndarray:
    """values.isin(among) for text, in Arrow: pandas' isin of Arrow text makes a Python object of every value of
    `among` first (seconds at 10^5 subjects)."""
    text = pa.array(np.asarray(values.astype("str"), dtype=object), type=pa.large_string(), from_pandas=True)
    pool = pa.array(np.asarray(among.astype("str"), dtype=object), type=pa.large_string(), from_pandas=True)
    return pc.is_in(text, value_set=pool).to_numpy(zero_copy_only=False).astype(bool)


def values_per_subject(subject: pd.Series, source: pd.Series, values: pd.Series) -> pd.Series:
    """Each record's subject's value in another dataset of one record per subject (ADSL), its type kept (a number
    stays a number); null for a subject the dataset lacks."""
    kind = values.dtype
    if pd.api.types.is_integer_dtype(kind) or pd.api.types.is_bool_dtype(kind):
        kind = "Int64"
    elif pd.api.types.is_float_dtype(kind):
        kind = "Float64"
    table = pd.Series(values.astype(kind).array, index=pd.Index(source.array))
    return pd.Series(subject.map(table).array, index=subject.index).astype(kind)


def group_codes(columns: Sequence[pd.Series]) -> np.ndarray:
    """One integer per record, equal where every column is equal (null a value of its own)."""
    frame = pd.DataFrame({i: c.to_numpy() for i, c in enumerate(columns)})
    return frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()

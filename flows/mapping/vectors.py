"""Vectorised helpers several mapping algorithms and derivations share: pure functions of Series (no spec, no
study, no I/O). An algorithm's own function sits in its module (flows/mapping/algorithms/<name>.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.kernel.dates import day_of, parse_date, study_day
from flows.kernel.distinct import SMALL, arrow_data, combined_codes, constant_text, distinct_values, per_value


def hardcode(value: Any, index: pd.Index) -> pd.Series:
    """The same value (or null) on every record."""
    if value is None:
        return pd.Series(pd.NA, index=index, dtype="str")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Series(value, index=index, dtype="Float64" if isinstance(value, float) else "Int64")
    return pd.Series(constant_text(str(value), len(index)), index=index, copy=False)


def lookup_per_subject(subject: pd.Series, source: pd.Series, values: pd.Series) -> pd.Series:
    """Each record's subject's value (text) in another dataset (`source`: its subjects, one row each); null for a
    subject the dataset lacks. Looked up in Arrow (see positions_in)."""
    taken = values.astype("str").array.take(positions_in(subject, source), allow_fill=True)
    return pd.Series(taken, index=subject.index)


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
        at = positions_in(target, summary.index)
        return pd.Series(summary.astype("str").array.take(at, allow_fill=True), index=target.index)
    if how in ("first", "last"):
        frame["o"] = order.to_numpy() if order is not None else np.arange(len(frame))
        frame = frame.sort_values(["s", "o"], kind="stable", na_position="last")
        summary = frame.groupby("s", sort=False)["v"].agg(how)
    else:
        summary = frame.dropna(subset=["v"]).groupby("s")["v"].agg(how)
    at = positions_in(target, summary.index)  # typed before the take: a text summary is taken in Arrow
    return pd.Series(summary.astype(values.dtype).array.take(at, allow_fill=True), index=target.index)


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
    Each date parsed once per distinct value (on the records when there are few), the days counted in numpy."""
    frame = pd.DataFrame({"d": dtc.astype("str").array, "r": reference.astype("str").array}, index=dtc.index)
    if len(frame) <= SMALL:
        return study_day(frame["d"], frame["r"]).astype("Int64")
    (date, no_date), (ref, no_ref) = _day_numbers(frame["d"]), _day_numbers(frame["r"])
    return pd.Series(pd.arrays.IntegerArray(day_of(date - ref), no_date | no_ref), index=dtc.index)


def _day_numbers(dtc: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 of the complete dates of ISO 8601 values (parse_date, once per distinct value), and
    where there is none."""
    parsed = per_value(parse_date)(dtc).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    missing = np.isnat(parsed)
    return np.where(missing, 0, parsed.astype(np.int64)), missing


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
    taken = values.astype(kind).array.take(positions_in(subject, source), allow_fill=True)
    return pd.Series(taken, index=subject.index).astype(kind)


def group_codes(columns: Sequence[pd.Series]) -> np.ndarray:
    """One integer per record, equal where every column is equal (null a value of its own): from each column's
    codes (a text column's worked out once in a shared_codes block), no Python object per value."""
    frame = pd.DataFrame({i: c.array for i, c in enumerate(columns)}, copy=False)
    return combined_codes(frame, list(frame.columns))[0]


def positions_in(values: pd.Series, among: pd.Series | pd.Index) -> np.ndarray:
    """For each value, the position of the equal value in `among` (unique values, as Series.map's look-up table
    has), -1 where there is none or the value is null. Text is looked up in Arrow: pandas would hash a Python object
    per record; once per distinct value when there are many records (a subject's records share its answer)."""
    if (distinct := distinct_values(values)) is not None:
        return _positions(distinct.rows.iloc[:, 0], among)[distinct.codes]
    return _positions(values, among)


def _positions(values: pd.Series, among: pd.Series | pd.Index) -> np.ndarray:
    pool = among if isinstance(among, pd.Series) else pd.Series(among.array, copy=False)
    text = _text(values)
    if text is not None and (table := _text(pool)) is None and pool.dtype == object:
        try:
            table = pa.chunked_array([pa.array(pool.to_numpy(), type=text.type, from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table = None
    if text is None or table is None:
        return pd.Index(pool.array).get_indexer(values.array)
    if table.type != text.type:
        table = table.cast(text.type)
    found = pc.index_in(text, value_set=table.combine_chunks(), skip_nulls=True)
    return pc.fill_null(found, -1).to_numpy().astype(np.intp, copy=False)


def ranks(values: pd.Series, nulls: str = "last") -> np.ndarray:
    """An integer per record that sorts as the values do, equal for equal values; null before (`nulls: first`) or
    after every value."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    if nulls == "last":
        codes[codes < 0] = len(uniques)
    return codes


def extreme_rows(
    groups: np.ndarray, keys: Sequence[np.ndarray], mode: str, keep: np.ndarray | None = None
) -> np.ndarray:
    """Positions of the first (`mode: first`) or last record of each group in the order of `keys` (ties in record
    order), among the records where `keep` holds: one stable sort of integer codes, no frame."""
    at = np.flatnonzero(keep) if keep is not None else np.arange(len(groups))
    if not len(at):  # no record kept (a subject's every record after a cut): no group
        return at
    group = groups[at]
    at = at[np.lexsort((*(k[at] for k in reversed(keys)), group))]
    group = groups[at]
    edge = group[1:] != group[:-1]
    return at[np.concatenate(([True], edge)) if mode == "first" else np.concatenate((edge, [True]))]

"""Canonical frames back to the user's form (``to_user_frame``): the library, column names, shape
and time / id dtypes recorded in the frame spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from itnet_ts.data._spec import NS_PER_DAY, FrameSpec, dtype_from_str, time_unit_of
from itnet_ts.errors import ITNetInputError

__all__ = ["polars_time_out", "to_user_frame"]


def _ns_series(pred_time: pl.Series) -> pl.Series:
    if pred_time.dtype.is_float():
        return pred_time.round(0).cast(pl.Int64)
    return pred_time.cast(pl.Int64)


def polars_time_out(pred_time: pl.Series, spec: FrameSpec, name: str) -> pl.Series:
    if spec.time_kind == "datetime":
        ns = _ns_series(pred_time)
        if spec.time_dtype == "Date":
            if bool((ns % NS_PER_DAY == 0).all()):
                return pl.from_epoch(ns // NS_PER_DAY, time_unit="d").alias(name)
            return pl.from_epoch(ns, time_unit="ns").dt.cast_time_unit("us").alias(name)
        out = pl.from_epoch(ns, time_unit="ns")
        if spec.time_zone:
            out = out.dt.replace_time_zone("UTC").dt.convert_time_zone(spec.time_zone)
        unit = time_unit_of(spec)
        if unit in ("ms", "us"):
            out = out.dt.cast_time_unit(unit)
        return out.alias(name)
    return _numeric_time_out(pred_time, spec).alias(name)


def _numeric_time_out(pred_time: pl.Series, spec: FrameSpec) -> pl.Series:
    t = pred_time.cast(pl.Float64)
    target = dtype_from_str(spec.time_dtype)
    if target is not None and target.is_integer():
        finite = t.drop_nulls()
        if finite.len() == 0 or bool((finite.is_finite() & (finite == finite.round(0))).all()):
            cast = t.cast(target, strict=False)
            if cast.null_count() == t.null_count():
                return cast
    return t


def _pandas_time_out(pred_time: pl.Series, spec: FrameSpec) -> Any:
    if spec.time_kind == "datetime":
        ns = _ns_series(pred_time).to_numpy().astype("datetime64[ns]")
        out = pd.Series(ns)
        if spec.time_dtype == "Date":
            ints = ns.view(np.int64)
            if bool((ints % NS_PER_DAY == 0).all()):
                return out.dt.date.astype(object)
            return out.dt.as_unit("us")
        if spec.time_zone:
            out = out.dt.tz_localize("UTC").dt.tz_convert(spec.time_zone)
        return out.dt.as_unit(time_unit_of(spec))
    return _numeric_time_out(pred_time, spec).to_pandas()


def _restore_ids(ids: pl.Series, id_dtype: str) -> pl.Series:
    target = dtype_from_str(id_dtype)
    if target is None or ids.dtype == target:
        return ids
    try:
        return ids.cast(target)
    except Exception:  # e.g. ids that were never of that type; keep what we have
        return ids


def to_user_frame(
    pred: pl.DataFrame,
    spec: FrameSpec,
    value_cols: Sequence[str] = ("y_hat",),
    *,
    extra_time_cols: Sequence[str] = (),
) -> pd.DataFrame | pl.DataFrame:
    """Give a canonical-style prediction frame back in the user's library and dtypes.

    ``pred`` is a polars frame with ``unique_id``, ``time`` (``Int64`` ns UTC for datetime
    time, ``Float64`` for numeric), ``variable`` and the ``value_cols``. The result has the
    columns ``[id_col,] time_col, [variable_col or "variable",] *value_cols``: no id column
    when the user frame had none, no variable column for the long shape (one channel).

    Time comes back in the user's dtype: datetimes with the user's unit and time zone
    (sub-unit precision truncated); dates as dates when every time is midnight, else
    datetimes in microseconds; numeric time as ``Float64``, or the user's integer dtype
    when the user's times were integers and every output time is integral. The id column
    gets the user's dtype back.

    ``extra_time_cols`` names further ``pred`` columns holding canonical times (e.g. a
    ``cutoff`` column of cross-validation); they are converted like ``time`` and placed
    right after the time column, under their own names.
    """
    if isinstance(pred, pl.LazyFrame):
        pred = pred.collect()
    if not isinstance(pred, pl.DataFrame):
        raise ITNetInputError(f"pred must be a polars DataFrame, got {type(pred).__name__}.")
    value_cols = [value_cols] if isinstance(value_cols, str) else list(value_cols)
    extra = [extra_time_cols] if isinstance(extra_time_cols, str) else list(extra_time_cols)
    needed = ["unique_id", "time", *extra, *value_cols]
    if spec.shape != "long":
        needed.insert(2, "variable")
    missing = [c for c in needed if c not in pred.columns]
    if missing:
        raise ITNetInputError(
            f"prediction frame lacks columns {missing} (has {pred.columns}); it needs {needed}."
        )
    variable_name = spec.variable_col or "variable"
    names = [spec.id_col, spec.time_col, *extra]
    names += [variable_name] if spec.shape != "long" else []
    names += value_cols
    names = [c for c in names if c is not None]
    clashes = sorted({c for c in names if names.count(c) > 1})
    if clashes:
        raise ITNetInputError(
            f"output columns would repeat {clashes}; rename the value columns so that they "
            "differ from the id / time / variable column names."
        )

    if spec.library == "polars":
        cols: dict[str, pl.Series] = {}
        if spec.id_col is not None:
            cols[spec.id_col] = _restore_ids(pred["unique_id"], spec.id_dtype).alias(spec.id_col)
        cols[spec.time_col] = polars_time_out(pred["time"], spec, spec.time_col)
        for c in extra:
            cols[c] = polars_time_out(pred[c], spec, c)
        if spec.shape != "long":
            cols[variable_name] = pred["variable"].cast(pl.String).alias(variable_name)
        for c in value_cols:
            cols[c] = pred[c]
        return pl.DataFrame(list(cols.values()))

    pcols: dict[str, Any] = {}
    if spec.id_col is not None:
        pcols[spec.id_col] = _restore_ids(pred["unique_id"], spec.id_dtype).to_pandas()
    pcols[spec.time_col] = _pandas_time_out(pred["time"], spec)
    for c in extra:
        pcols[c] = _pandas_time_out(pred[c], spec)
    if spec.shape != "long":
        pcols[variable_name] = pred["variable"].cast(pl.String).to_pandas()
    for c in value_cols:
        pcols[c] = pred[c].to_pandas()
    return pd.DataFrame(
        {k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v) for k, v in pcols.items()}
    )

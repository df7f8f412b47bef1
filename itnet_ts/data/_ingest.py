"""Dataframe ingest: user frames in, one canonical polars frame out, and back.

Users give a pandas or polars ``DataFrame`` in one of three shapes (see DESIGN.md §2):

* **long** — ``unique_id, ds, y``: one channel, named after the target column;
* **wide** — ``unique_id, ds, <channel columns...>``: a null / NaN means "not observed";
* **tidy** — ``unique_id, ds, variable, value``: one row per observation.

:func:`ingest` turns any of them into the **canonical frame**, a polars ``DataFrame`` with
exactly these columns, one row per observation, sorted by ``(unique_id, time, variable)``:

``unique_id``
    The user's id values with the user's dtype (a pandas / polars categorical id becomes
    ``String`` here and is restored on output). A frame without an id column is one
    series whose id is the string :data:`SINGLE_SERIES_ID` (``"series_0"``).
``time``
    ``Int64`` nanoseconds since the Unix epoch in UTC for datetime (and date) input —
    naive datetimes are taken as-is, as if they were UTC; tz-aware ones are converted to
    UTC — or ``Float64`` for numeric input (integers become ``Float64``).
``variable``
    ``String``: the channel name.
``value``
    ``Float64``: the observed value. Nulls and NaN mean "not observed" and are dropped;
    ``±inf`` is an error.

The accompanying :class:`FrameSpec` records what the user gave (library, shape, column
names, dtypes, time zone) so that :func:`to_user_frame` can hand predictions back in the
same library, with the same column names and the same time / id dtypes.

pandas input is converted to polars on entry (column by column, so that errors name the
column); everything after that is the same code path for both libraries. Rows named in
error messages are 0-based positions in the user's frame (not pandas index labels).

The parts: :class:`FrameSpec` and its checks in ``_spec.py``, the column readers of both
libraries in ``_sources.py``, the shape and columns of a frame (long / wide / tidy) in
``_layout.py``, the way back (:func:`to_user_frame`) in ``_output.py``; this module builds
the canonical frame, and hands their public names on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from itnet_ts.data._layout import Layout, resolve_layout
from itnet_ts.data._output import polars_time_out, to_user_frame
from itnet_ts.data._sources import Source, canonical_ids, check_ids, make_source, positive_zero
from itnet_ts.data._spec import (
    SINGLE_SERIES_ID,
    FrameSpec,
    TimeMeta,
    check_against,
    first_true,
    fmt_time,
    format_time,
    series_label,
    time_unit_of,
)
from itnet_ts.errors import ITNetInputError

__all__ = [
    "SINGLE_SERIES_ID",
    "FrameSpec",
    "TimeMeta",
    "canonical_ids",
    "check_ids",
    "check_times",
    "fmt_time",
    "format_time",
    "ingest",
    "make_source",
    "polars_time_out",
    "positive_zero",
    "time_unit_of",
    "to_user_frame",
]


_SHAPES = ("auto", "long", "wide", "tidy")
_DUPLICATES = ("error", "mean", "last")
_KEYS = ["unique_id", "time", "variable"]
# One Int64 sort key stands in for (unique_id, time, variable): sorting one integer column
# is several times faster than a three-column sort with strings in it.
_STAMP = "__itnet_stamp__"  # dense rank of (unique_id, time) among the frame's rows
_KEY = "__itnet_key__"  # stamp * n_channels + channel rank
_ROW = "__itnet_row__"  # internal column; frames are built with fixed names, never the user's


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def _dense_codes(s: pl.Series) -> pl.Series:
    """``UInt32`` codes ordered like the values (sorting by codes = sorting by values)."""
    uniq = s.unique().sort()
    codes = pl.int_range(0, uniq.len(), dtype=pl.UInt32, eager=True)
    return s.replace_strict(uniq, codes, return_dtype=pl.UInt32)


def _stamp_ranks(ids: pl.Series, times: pl.Series) -> pl.Series:
    """Dense rank of each row's (id, time) pair, ordered like the pairs."""
    frame = pl.DataFrame({"i": _dense_codes(ids), "t": times})
    order = frame.select(pl.arg_sort_by("i", "t")).to_series()
    srt = frame[order]
    new = (srt["i"] != srt["i"].shift(1)) | (srt["t"] != srt["t"].shift(1))
    ranks_sorted = new.fill_null(True).cast(pl.Int64).cum_sum() - 1
    ranks = np.empty(frame.height, dtype=np.int64)
    ranks[order.to_numpy()] = ranks_sorted.to_numpy()
    return pl.Series(_STAMP, ranks)


# --------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------


def check_times(times: pl.Series, ids: pl.Series | None, col: str, meta: TimeMeta) -> None:
    row = first_true(times.is_null())
    if row is not None:
        raise ITNetInputError(
            f"time column {col!r}, row {row}{series_label(ids, row)}: the time is missing "
            f"(NaT/null). Drop or fill those rows, e.g. df.dropna(subset=[{col!r}]) or "
            f"df.drop_nulls({col!r})."
        )
    if meta.kind == "numeric":
        row = first_true(~times.is_finite())
        if row is not None:
            raise ITNetInputError(
                f"time column {col!r}, row {row}{series_label(ids, row)}: the time "
                f"{times[row]} is not finite. Times must be finite numbers; drop those rows."
            )


def _observations(
    base: pl.DataFrame,
    variable: str | pl.Series,
    var_code: int | pl.Series,
    n_channels: int,
    values: pl.Series,
    has_ids: bool,
    col: str,
) -> pl.DataFrame:
    """Observation rows: ``±inf`` is an error, null / NaN ("not observed") are dropped."""
    row = first_true(values.is_infinite())
    if row is not None:
        series = f", series {base['unique_id'][row]!r}" if has_ids else ""
        name = variable if isinstance(variable, str) else variable[row]
        raise ITNetInputError(
            f"value column {col!r}, row {row}{series}, channel {name!r}: the value "
            f"{values[row]} is infinite. Replace infinities with NaN/null (= not observed) or "
            "with finite numbers."
        )
    var = pl.lit(variable, dtype=pl.String) if isinstance(variable, str) else variable
    code = pl.lit(var_code, dtype=pl.UInt32) if isinstance(var_code, int) else var_code
    key = (pl.col(_STAMP) * n_channels + code.cast(pl.Int64)).alias(_KEY)
    frame = base.with_columns(var.alias("variable"), key, values.alias("value"))
    return frame.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())


def _sort_and_resolve(obs: pl.DataFrame, duplicates: str, meta: TimeMeta) -> pl.DataFrame:
    """Sort by (series, time, channel) and apply the duplicates policy."""
    obs = obs.sort(_KEY)
    repeat = obs.select((pl.col(_KEY) == pl.col(_KEY).shift(1)).fill_null(False)).to_series()
    if not repeat.any():
        return obs
    group = (~repeat).cast(pl.Int64).cum_sum().alias("__group")
    obs = obs.with_columns(group)
    if duplicates == "error":
        dup_groups = group.filter(repeat).unique()
        dup = (
            obs.join(dup_groups.to_frame("__group"), on="__group", how="semi")
            .group_by("__group")
            .agg(pl.col(_KEYS).first(), pl.col(_ROW).sort().alias("rows"))
            .sort(pl.col("rows").list.first())
        )
        uid, t, var, rows = dup.select(*_KEYS, "rows").row(0)
        shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        more = (
            f" ({dup.height} repeated (series, time, channel) keys in all)"
            if dup.height > 1
            else ""
        )
        raise ITNetInputError(
            f"duplicate observations{more}: series {uid!r}, time {fmt_time(t, meta)}, "
            f"channel {var!r} appears in rows {shown}. Each (series, time, channel) may be "
            "observed once. Remove the duplicates, or pass duplicates='mean' to average them "
            "or duplicates='last' to keep the last one in input order."
        )
    if duplicates == "mean":
        value = pl.col("value").mean()
    else:  # the last in input order
        value = pl.col("value").sort_by(_ROW).last()
    return (
        obs.group_by("__group", maintain_order=True)
        .agg(pl.col(_KEYS).first(), value)
        .drop("__group")
    )


def ingest(
    df: Any,
    *,
    id_col: str | None = "unique_id",
    time_col: str = "ds",
    target_col: str | None = "y",
    variable_col: str | None = None,
    value_col: str | None = None,
    shape: str = "auto",
    duplicates: str = "error",
    spec: FrameSpec | None = None,
) -> tuple[pl.DataFrame, FrameSpec]:
    """Turn a user frame (pandas or polars, long / wide / tidy) into the canonical frame.

    Parameters
    ----------
    df
        A pandas or polars ``DataFrame`` (a polars ``LazyFrame`` is collected). With
        pandas, an id / time column may also sit in the index.
    id_col
        Series id column. When the default ``"unique_id"`` is absent, or ``id_col=None``,
        the frame is one series with id :data:`SINGLE_SERIES_ID`. A non-default name that
        is absent is an error.
    time_col
        Time column: datetimes (naive or tz-aware, any unit), dates, or numbers.
    target_col
        Long shape: the value column; it names the one channel.
    variable_col, value_col
        Tidy shape: channel-name and value columns (defaults ``"variable"``/``"value"``).
    shape
        ``"auto"`` (default), ``"long"``, ``"wide"`` or ``"tidy"``. Auto: tidy when
        ``variable_col``/``value_col`` are given or columns ``variable`` and ``value``
        exist; long when ``target_col`` exists and no other column besides id/time is
        numeric; otherwise wide (every column besides id/time is a channel). Long and tidy
        ignore any further columns.
    duplicates
        What to do with several observations of one (series, time, channel):
        ``"error"`` (default), ``"mean"`` (average them) or ``"last"`` (keep the last in
        input order).
    spec
        The :class:`FrameSpec` of the training frame, at predict time: the new frame must
        have the same time kind, tz-awareness, id presence / id kind, and only channels
        seen in training (its shape may differ).

    Returns
    -------
    (canonical frame, FrameSpec of ``df``)
        See the module docstring for the canonical frame.

    Raises
    ------
    ITNetInputError
        On any invalid input; the message names the column, row (0-based position in
        ``df``) and series where it can, and says how to fix it.
    """
    _check_options(duplicates, shape, spec)
    src = make_source(df, [id_col, time_col])
    if src.height == 0:
        raise ITNetInputError(
            "the frame is empty (0 rows); give at least one observation per series."
        )
    layout = resolve_layout(
        src,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        variable_col=variable_col,
        value_col=value_col,
        shape=shape,
    )
    has_ids = layout.id_col is not None
    ids, id_dtype = canonical_ids(src, layout.id_col)
    times, meta = src.time(layout.time_col)
    check_times(times, ids if has_ids else None, layout.time_col, meta)
    times = positive_zero(times, meta)
    base = pl.DataFrame(
        {
            _ROW: pl.int_range(0, src.height, dtype=pl.Int64, eager=True),
            "unique_id": ids,
            "time": times.rename("time"),
            _STAMP: _stamp_ranks(ids, times),
        }
    )
    obs, channels = _all_observations(src, layout, base, ids)
    if obs.height == 0:
        raise ITNetInputError(
            "the frame has no observed values: every value is null/NaN. Give at least one "
            "observation."
        )
    canon = _sort_and_resolve(obs, duplicates, meta).select(
        pl.col("unique_id"),
        pl.col("time"),
        pl.col("variable").cast(pl.String),
        pl.col("value").cast(pl.Float64),
    )
    new_spec = _spec_of(src, layout, channels, meta, id_dtype)
    if spec is not None:
        check_against(new_spec, spec)
    return canon, new_spec


def _spec_of(src: Source, layout: Layout, channels, meta: TimeMeta, id_dtype: str) -> FrameSpec:
    return FrameSpec(
        library=src.library,
        shape=layout.shape,
        id_col=layout.id_col,
        time_col=layout.time_col,
        channels=channels,
        target_col=layout.target_col,
        variable_col=layout.variable_col,
        value_col=layout.value_col,
        time_kind=meta.kind,
        time_zone=meta.tz,
        time_dtype=meta.dtype,
        id_dtype=id_dtype,
    )


def _check_options(duplicates: str, shape: str, spec) -> None:
    if duplicates not in _DUPLICATES:
        raise ITNetInputError(
            f"duplicates must be one of {_DUPLICATES}, got {duplicates!r}: 'error' refuses "
            "them, 'mean' averages them, 'last' keeps the last one in input order."
        )
    if shape not in _SHAPES:
        raise ITNetInputError(f"shape must be one of {_SHAPES}, got {shape!r}.")
    if spec is not None and not isinstance(spec, FrameSpec):
        raise ITNetInputError(f"spec must be a FrameSpec, got {type(spec).__name__}.")


def _all_observations(src: Source, layout: Layout, base: pl.DataFrame, ids: pl.Series):
    """(every observation of the frame in the long layout of ``_observations``, the sorted
    channel names)."""
    has_ids = layout.id_col is not None
    if layout.shape == "tidy":
        assert layout.variable_col is not None and layout.value_col is not None
        variables = _tidy_variables(src.raw(layout.variable_col), layout.variable_col, ids, has_ids)
        values = src.values(layout.value_col, "value")
        channels = tuple(sorted(variables.unique().to_list()))
        codes = _dense_codes(variables)
        parts = [
            _observations(base, variables, codes, len(channels), values, has_ids, layout.value_col)
        ]
    else:
        channels = tuple(sorted(layout.value_cols))
        role = "channel" if layout.shape == "wide" else "target"
        order = {c: i for i, c in enumerate(channels)}
        parts = [
            _observations(base, c, order[c], len(channels), src.values(c, role), has_ids, c)
            for c in layout.value_cols
        ]
    obs = pl.concat(parts, how="vertical") if parts else base.clear()
    return obs, channels


def _tidy_variables(raw: pl.Series, col: str, ids: pl.Series, has_ids: bool) -> pl.Series:
    dtype = raw.dtype
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object)):
        raise ITNetInputError(
            f"variable column {col!r} has dtype {dtype}; channel names must be strings."
        )
    names = raw.cast(pl.String)
    row = first_true(names.is_null())
    if row is not None:
        raise ITNetInputError(
            f"variable column {col!r}, row {row}{series_label(ids if has_ids else None, row)}: "
            "the channel name is missing (null). Drop or fill those rows."
        )
    return names

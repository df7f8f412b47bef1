"""Query builders: the (series, time, channel) triples a forecast is asked for -- on a grid after
each series' end (``predict(h=...)``), from a user frame of query times (``predict(times=...)``,
through the same validation as the data) -- per-series cutoffs (``fit(cutoffs=...)``), and the
user's frames of query times and of the forecasts at the queries."""

from __future__ import annotations

import dataclasses
import math
from numbers import Real

import numpy as np
import polars as pl

from itnet_ts.data._ingest import FrameSpec, format_time, ingest, to_user_frame
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import WindowSet
from itnet_ts.errors import ITNetInputError

__all__ = [
    "cutoff_array",
    "explicit_queries",
    "forecast_frame",
    "horizon_queries",
    "ingest_queries",
    "query_frame",
]

_VALUE, _VARIABLE = "__itnet_query_value__", "__itnet_query_variable__"


def ingest_queries(times, spec: FrameSpec) -> pl.DataFrame:
    """Canonical queries ``unique_id, time[, variable]`` from a user frame of query times.

    ``times`` has the fit's id column (unless the fit had none), its time column, and
    optionally a channel column (``spec.variable_col`` or ``"variable"``); without one every
    channel is queried. Times are validated and converted exactly like the data's.
    """
    var_col = next(
        (c for c in (spec.variable_col, "variable") if c is not None and c in times.columns), None
    )
    fill = {_VALUE: 0.0}
    if var_col is None:
        fill[_VARIABLE] = spec.channels[0]
    if isinstance(times, pl.DataFrame):
        q = times.with_columns(*(pl.lit(v).alias(k) for k, v in fill.items()))
    else:
        q = times.assign(**fill)
    canon, _ = ingest(
        q,
        id_col=spec.id_col or "unique_id",
        time_col=spec.time_col,
        variable_col=var_col or _VARIABLE,
        value_col=_VALUE,
        shape="tidy",
        duplicates="last",
        spec=spec,
    )
    cols = ["unique_id", "time"] + (["variable"] if var_col is not None else [])
    return canon.select(cols).unique(maintain_order=True)


def horizon_queries(
    ragged: RaggedSeries, horizon: float, step: float, n_channels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q_series, q_time, q_chan)``: every channel of every series at ``t_last + k * step``
    for ``k = 1, 2, ...`` while within ``horizon`` (native units; at least one step)."""
    n_steps = max(1, math.floor(horizon / step + 1e-9))
    offsets = step * np.arange(1, n_steps + 1)  # (K,)
    last = ragged.last_times()  # (S,)
    S, K, C = ragged.n_series, len(offsets), n_channels
    if ragged.times.dtype.kind in "iu":
        t = last[:, None] + np.round(offsets).astype(np.int64)[None, :]
    else:
        t = last[:, None] + offsets[None, :]
    q_series = np.repeat(np.arange(S), K * C)
    q_time = np.repeat(t.reshape(-1), C)
    q_chan = np.tile(np.arange(C), S * K)
    return q_series, q_time, q_chan


def explicit_queries(
    ragged: RaggedSeries, times, spec: FrameSpec, channels, df_given: bool, shown=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q_series, q_time, q_chan)`` of a user frame of query times (see ``ingest_queries``;
    ``spec``: the fitted frame spec) over the series of ``ragged``; every query must lie after
    its series' history. ``df_given``: the history came from ``predict(df=...)``; ``shown``:
    the spec whose time zone the messages use (default ``spec``)."""
    q = ingest_queries(times, spec)  # unique_id, time, [variable]
    id_index = {k: i for i, k in enumerate(ragged.ids.tolist())}
    ids = q["unique_id"].to_list()
    missing = sorted({str(i) for i in ids if i not in id_index})
    if missing:
        src = "df=" if df_given else "the training frame"
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ITNetInputError(
            f"times= asks for series with no history in {src}: {missing[:5]}{more}. "
            f"{spec.id_col or 'unique_id'!r} must name series whose history is known: "
            "pass their history with predict(df=..., times=...), or fix the ids."
        )
    q_series = np.array([id_index[i] for i in ids], dtype=np.int64)
    q_time = q["time"].to_numpy()
    if "variable" in q.columns:
        q_chan = _channel_codes(q["variable"].to_list(), channels)
    else:
        C = len(channels)
        q_series, q_time = np.repeat(q_series, C), np.repeat(q_time, C)
        q_chan = np.tile(np.arange(C), len(ids))
    _check_after_history(ragged, q_series, q_time, shown or spec)
    return q_series, q_time, q_chan


def _channel_codes(names: list, channels) -> np.ndarray:
    chan_index = {c: i for i, c in enumerate(channels)}
    unknown = sorted(set(names) - set(chan_index))
    if unknown:
        raise ITNetInputError(
            f"times= asks for channels never seen in training: {unknown}; "
            f"known channels: {list(channels)}"
        )
    return np.array([chan_index[v] for v in names], np.int64)


def _check_after_history(ragged: RaggedSeries, q_series, q_time, spec: FrameSpec) -> None:
    last = ragged.last_times()[q_series]
    bad = np.nonzero(q_time <= last)[0]
    if len(bad) == 0:
        return
    i = int(bad[0])
    n_bad = len(set(zip(q_series[bad].tolist(), q_time[bad].tolist(), strict=True)))
    more = f" ({n_bad} such query times in all)" if n_bad > 1 else ""
    raise ITNetInputError(
        f"times=: query time {format_time(q_time[i], spec)} of series "
        f"{ragged.ids[q_series[i]]!r} is at or before the end of that series' history "
        f"({format_time(last[i], spec)}){more}. Query times must be after the cutoff (the "
        "series' last observed time): drop those rows from times=, or pass a shorter history "
        "with df="
    )


def cutoff_array(cutoffs, ragged: RaggedSeries, spec: FrameSpec, name: str = "cutoffs"):
    """(S,) cutoff of every series of ``ragged`` in native time units, from a number (numeric
    time) or a frame of the id and time columns (one row per series)."""
    if isinstance(cutoffs, Real) and not isinstance(cutoffs, bool):
        if spec.time_kind != "numeric":
            raise ITNetInputError(
                f"{name}={cutoffs!r}: a single number only works with numeric time; the "
                f"time column {spec.time_col!r} holds datetimes, so pass a frame with the "
                "id and time columns, one row per series"
            )
        return np.full(ragged.n_series, cutoffs, dtype=ragged.times.dtype)
    if not hasattr(cutoffs, "columns"):
        raise ITNetInputError(
            f"{name}= must be a number (numeric time) or a frame with the id and time "
            f"columns, one row per series; got {type(cutoffs).__name__}"
        )
    q = ingest_queries(cutoffs, spec)
    ids = q["unique_id"].to_list()
    if len(set(ids)) != len(ids):
        raise ITNetInputError(f"{name}= has more than one row for some series; give one each")
    given = dict(zip(ids, q["time"].to_numpy(), strict=True))
    missing = [i for i in ragged.ids.tolist() if i not in given]
    if missing:
        raise ITNetInputError(
            f"{name}= has no cutoff for series {[str(m) for m in missing[:5]]}"
            f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}; give one row "
            "per series of the frame"
        )
    return np.array([given[i] for i in ragged.ids.tolist()], dtype=ragged.times.dtype)


def query_frame(ids: np.ndarray, times: np.ndarray, spec: FrameSpec):
    """``[id_col,] time_col`` of query times in the user's library and time dtype."""
    out = pl.DataFrame({"unique_id": pl.Series(ids.tolist()), "time": times})
    return to_user_frame(out, dataclasses.replace(spec, shape="long"), value_cols=[])


def forecast_frame(ragged: RaggedSeries, windows: WindowSet, channels, values: dict, spec):
    """The forecasts ``values`` (column name -> (Q,) in the windows' query order) as the
    user's long frame ``[id,] time, [variable,] <columns>``, sorted by series, time, channel."""
    series = np.repeat(windows.series, np.diff(windows.q_indptr))
    out = pl.DataFrame(
        {
            "unique_id": pl.Series(ragged.ids[series].tolist()),
            "time": windows.q_time,
            "variable": [channels[c] for c in windows.q_chan],
            **values,
        }
    ).sort(["unique_id", "time", "variable"])
    return to_user_frame(out, spec, value_cols=list(values))

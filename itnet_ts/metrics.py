"""Forecast error metrics, computed over observed targets only.

Array metrics take 1-D arrays (or anything ``numpy.asarray`` reads) of the same length. A NaN
in ``y_true`` means "not observed" and that entry is skipped — irregular data has no value at
most (time, channel) pairs — while a NaN forecast where a value was observed is an error.

* :func:`mae`, :func:`mse`, :func:`rmse`: the usual errors.
* :func:`mase`, :func:`rmsse`: errors scaled by the in-sample naive one-step error of the
  history (see :func:`naive_scale` for its definition on irregular data).
* :func:`pinball_loss`: the quantile loss of a quantile forecast.
* :func:`coverage`: the share of observed values inside a forecast interval.
* :func:`evaluate`: all of these over forecast frames (``predict`` or ``cross_validation``
  output), overall or per series / channel / cutoff, as a frame.
* :func:`per_variable_mse_mae`: the irregular-forecasting benchmark metric (per-variable
  means, then the mean over variables).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from itnet_ts.errors import ITNetInputError

__all__ = [
    "METRICS",
    "coverage",
    "evaluate",
    "mae",
    "mase",
    "mse",
    "naive_scale",
    "per_variable_mse_mae",
    "pinball_loss",
    "rmse",
    "rmsse",
]

#: Metric names :func:`evaluate` knows (``coverage`` gives one column per interval level).
METRICS = ("mae", "mse", "rmse", "mase", "rmsse", "pinball", "coverage")


# --------------------------------------------------------------------------------------
# array metrics
# --------------------------------------------------------------------------------------


def _observed(y_true: Any, *others: Any, names: Sequence[str] = ()) -> list[np.ndarray]:
    """``[y_true, *others]`` as float arrays restricted to the entries where ``y_true`` is
    observed (not NaN)."""
    true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    rest = [np.asarray(o, dtype=np.float64).reshape(-1) for o in others]
    for name, arr in zip(names, rest, strict=False):
        if arr.size != true.size:
            raise ITNetInputError(f"y_true and {name} differ in length: {true.size} and {arr.size}")
    if np.isinf(true).any():
        raise ITNetInputError("y_true has infinite values; only NaN (not observed) is allowed")
    seen = ~np.isnan(true)
    if not seen.any():
        raise ITNetInputError("nothing to score: y_true has no observed (non-NaN) value")
    out = [true[seen]]
    for name, arr in zip(names, rest, strict=False):
        arr = arr[seen]
        if not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise ITNetInputError(f"{name} has {bad} NaN or infinite value(s) at observed targets")
        out.append(arr)
    return out


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error over the observed entries of ``y_true``."""
    t, p = _observed(y_true, y_pred, names=["y_pred"])
    return float(np.mean(np.abs(p - t)))


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error over the observed entries of ``y_true``."""
    t, p = _observed(y_true, y_pred, names=["y_pred"])
    return float(np.mean((p - t) ** 2))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error over the observed entries of ``y_true``."""
    return float(np.sqrt(mse(y_true, y_pred)))


def naive_scale(y_train: Any, kind: str = "mae") -> float:
    """The in-sample naive one-step error of one series' channel: the scale of MASE / RMSSE.

    On irregular data there is no fixed "one step". The naive forecast of an observation is
    the channel's previous observation (last observation carried forward), whatever the gap
    between the two, so the naive one-step error is the mean absolute (``kind="mae"``) or
    mean squared (``kind="mse"``) difference between *consecutive observations of the
    channel* in time order. Unobserved entries (NaN) are skipped, so a wide column with gaps
    can be passed as it is. With regular data this is exactly the scale of Hyndman's MASE
    (seasonality 1).

    Returns NaN when the history has fewer than two observations; 0.0 for a constant one.
    """
    if kind not in ("mae", "mse"):
        raise ITNetInputError(f"kind must be 'mae' or 'mse', got {kind!r}")
    y = np.asarray(y_train, dtype=np.float64).reshape(-1)
    y = y[~np.isnan(y)]
    if y.size < 2:
        return float("nan")
    d = np.diff(y)
    return float(np.mean(np.abs(d)) if kind == "mae" else np.mean(d * d))


def _scaled(err: float, scale: float) -> float:
    if not np.isfinite(scale) or scale <= 0:
        raise ITNetInputError(
            "the naive scale of y_train is zero or undefined (fewer than two observations or "
            "a constant history), so the scaled error is undefined"
        )
    return err / scale


def mase(y_true: Any, y_pred: Any, y_train: Any) -> float:
    """Mean absolute scaled error: MAE / :func:`naive_scale` of ``y_train`` (one channel's
    history in time order)."""
    return _scaled(mae(y_true, y_pred), naive_scale(y_train, "mae"))


def rmsse(y_true: Any, y_pred: Any, y_train: Any) -> float:
    """Root mean squared scaled error: sqrt(MSE / naive squared scale of ``y_train``)."""
    return float(np.sqrt(_scaled(mse(y_true, y_pred), naive_scale(y_train, "mse"))))


def pinball_loss(y_true: Any, y_pred: Any, quantile: float) -> float:
    """Mean pinball (quantile) loss of a ``quantile`` forecast: ``max(q * (y - f),
    (q - 1) * (y - f))``, averaged over the observed entries."""
    q = float(quantile)
    if not 0 < q < 1:
        raise ITNetInputError(f"quantile must be in (0, 1), got {quantile!r}")
    t, p = _observed(y_true, y_pred, names=["y_pred"])
    diff = t - p
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(y_true: Any, lo: Any, hi: Any) -> float:
    """Share of the observed values inside the closed interval ``[lo, hi]``."""
    t, low, high = _observed(y_true, lo, hi, names=["lo", "hi"])
    if (low > high).any():
        raise ITNetInputError("interval bounds cross: lo > hi somewhere")
    return float(np.mean((t >= low) & (t <= high)))


# --------------------------------------------------------------------------------------
# evaluate: metrics over forecast frames
# --------------------------------------------------------------------------------------


def evaluate(
    forecasts: Any,
    actuals: Any = None,
    *,
    metrics: Sequence[str | Callable[[np.ndarray, np.ndarray], float]] | None = None,
    by: str | Sequence[str] | None = None,
    train_df: Any = None,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    variable_col: str | None = None,
    value_col: str | None = None,
    pred_col: str = "y_hat",
):
    """Score forecast frames against the observed values.

    Parameters
    ----------
    forecasts
        A pandas or polars frame of forecasts: ``predict`` or ``cross_validation`` output
        (``[id], time, [cutoff], [variable], y_hat``, optional interval columns
        ``y_hat-lo-80`` / ``y_hat-hi-80`` and quantile columns ``y_hat_q0.1``, and — from
        ``cross_validation`` — the actuals in ``y``).
    actuals
        The observed values, in any of the three input shapes (long, wide, tidy), matched to
        the forecasts on (series, time, channel). ``None``: use the forecasts' own
        ``target_col`` column (the ``y`` of ``cross_validation`` output).
    metrics
        Names from :data:`METRICS` and/or callables ``f(y_true, y_pred) -> float`` (on the
        point forecast; the column is named after the function). Default: ``mae``, ``mse``,
        ``rmse``; plus ``mase`` and ``rmsse`` when ``train_df`` is given, ``pinball`` when
        there are quantile / interval columns and ``coverage`` when there are intervals.
    by
        ``None`` (one row over everything), or column name(s) of ``forecasts`` to group by,
        e.g. ``"unique_id"``, ``"variable"`` (also for a one-channel frame), ``"cutoff"``.
    train_df
        The history, in any input shape; needed for ``mase`` / ``rmsse``. The scale of each
        (series, channel) is its in-sample naive one-step error (:func:`naive_scale`); when
        ``forecasts`` has a ``cutoff`` column, only history at or before each cutoff counts.
    id_col, time_col, target_col, variable_col, value_col
        Column names, as for ``ITNetForecaster.fit``; ``target_col`` is also the actuals
        column of ``forecasts`` when ``actuals`` is ``None``.
    pred_col
        The point-forecast column (its interval / quantile columns are found by name).

    Returns
    -------
    A frame of the same library as ``forecasts``: the ``by`` columns, ``n`` (observations
    scored) and one column per metric (``coverage_80``, ``coverage_95``, ... for coverage).

    Only forecasts with an observed actual are scored: a forecast at a (time, channel) that
    was never observed has nothing to be compared with and is left out. ``mase`` / ``rmsse``
    leave out (series, channel) pairs whose history has fewer than two observations or is
    constant (their scale is zero or undefined).
    """
    from itnet_ts.data._frames import frame_library, to_library, to_polars

    library = frame_library(forecasts)
    forecasts = to_polars(forecasts, [id_col, time_col])
    by_cols = [by] if isinstance(by, str) else list(by or [])
    cols = dict(id_col=id_col, time_col=time_col, target_col=target_col, variable_col=variable_col)
    fc, pcols, kind, keep = _forecast_view(forecasts, by_cols, pred_col, cols)
    fc = _with_actuals(fc, actuals, pcols, kind, {**cols, "value_col": value_col})
    wanted = _metric_list(metrics, pcols, train_df is not None)
    if any(m in ("mase", "rmsse") for m in wanted if isinstance(m, str)):
        fc = _with_scales(fc, train_df, kind, {**cols, "value_col": value_col})
    out = _scores(fc, wanted, pcols, pred_col, by_cols, keep)
    return to_library(out, library)


def _forecast_view(forecasts, by_cols: list[str], pred_col: str, cols: dict[str, Any]):
    """The forecasts in canonical form (``pred_view``) keeping the ``by`` columns they have,
    their columns, time kind and the kept ``by`` columns; ``by`` and the point column checked."""
    from itnet_ts.data._frames import pred_view

    raw_cols = list(forecasts.columns)
    keep = [c for c in by_cols if c in raw_cols]
    for c in by_cols:
        if c not in raw_cols and c != "variable":
            raise ITNetInputError(f"by={c!r}: no such column in the forecasts ({raw_cols})")
    fc, pcols, kind = pred_view(forecasts, pred_col=pred_col, keep=keep, **cols)
    if pcols.point is None:
        raise ITNetInputError(f"the forecasts have no point-forecast column {pred_col!r}")
    return fc, pcols, kind, keep


def _with_actuals(fc, actuals, pcols, kind: str, cols: dict[str, Any]):
    """The forecasts with their observed actual ``y`` (joined from ``actuals``, else their
    own), only those with one; every forecast column must be filled there."""
    import polars as pl

    from itnet_ts.data._frames import harmonize_ids
    from itnet_ts.data._ingest import ingest

    if actuals is not None:
        act, act_spec = ingest(actuals, **cols)
        if act_spec.time_kind != kind:
            raise ITNetInputError(
                f"the forecasts have {kind} time but the actuals {act_spec.time_kind} time"
            )
        fc, act = harmonize_ids(fc.drop("y", strict=False), act)
        fc = fc.join(
            act.select("unique_id", "time", "variable", pl.col("value").alias("y")),
            on=["unique_id", "time", "variable"], how="inner",
        )  # fmt: skip
    elif "y" not in fc.columns:
        raise ITNetInputError(
            f"no actuals: pass actuals= or give the forecasts a {cols['target_col']!r} column "
            "(cross_validation output has one)"
        )
    fc = fc.filter(pl.col("y").is_not_null())
    if fc.height == 0:
        raise ITNetInputError(
            "no forecast has an observed actual at its (series, time, channel); check that "
            "the ids, times and channel names of the forecasts and actuals match"
        )
    for c in pcols.columns:
        if fc[c].null_count():
            raise ITNetInputError(
                f"forecast column {c!r} has {fc[c].null_count()} missing value(s) at observed "
                "targets"
            )
    return fc


def _with_scales(fc, train_df, kind: str, cols: dict[str, Any]):
    """The forecasts with the naive scale of their (series, channel) history (``train_df``;
    up to each cutoff when there is a ``cutoff`` column), for ``mase`` / ``rmsse``."""
    from itnet_ts.data._frames import harmonize_ids
    from itnet_ts.data._ingest import ingest

    if train_df is None:
        raise ITNetInputError("mase / rmsse need the history: pass train_df=")
    train, train_spec = ingest(train_df, duplicates="mean", **cols)
    if train_spec.time_kind != kind:
        raise ITNetInputError(
            f"the forecasts have {kind} time but train_df {train_spec.time_kind} time"
        )
    fc, train = harmonize_ids(fc, train)
    return _attach_scales(fc, train, use_cutoff="cutoff" in fc.columns)


def _scores(fc, wanted: list, pcols, pred_col: str, by_cols: list[str], keep: list[str]):
    """One row per ``by`` group (or one row): ``n`` and every metric of ``wanted``."""
    import polars as pl

    group = [f"__keep__{c}" if c in keep else "variable" for c in by_cols]
    exprs, names = _metric_exprs(wanted, pcols, pred_col)
    if group:
        out = (
            fc.group_by(group, maintain_order=False)
            .agg(pl.len().cast(pl.Int64).alias("n"), *exprs)
            .sort(group)
        )
    else:
        out = fc.select(pl.len().cast(pl.Int64).alias("n"), *exprs)
    callables = [m for m in wanted if callable(m)]
    if callables:
        out = _apply_callables(fc, out, group, callables, pred_col)
    out = out.rename({g: c for g, c in zip(group, by_cols, strict=True)})
    return out.select(*by_cols, "n", *names, *[_callable_name(f) for f in callables])


def _metric_list(metrics, pcols, has_train: bool) -> list:
    if metrics is None:
        wanted: list = ["mae", "mse", "rmse"]
        if has_train:
            wanted += ["mase", "rmsse"]
        if pcols.all_quantiles():
            wanted.append("pinball")
        if pcols.intervals():
            wanted.append("coverage")
        return wanted
    wanted = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
    for m in wanted:
        if callable(m):
            continue
        if m not in METRICS:
            raise ITNetInputError(f"unknown metric {m!r}; known metrics: {list(METRICS)}")
        if m == "pinball" and not pcols.all_quantiles():
            raise ITNetInputError(
                "metric 'pinball' needs quantile or interval columns (y_hat_q0.1, y_hat-lo-80 "
                "...); fit a probabilistic forecaster"
            )
        if m == "coverage" and not pcols.intervals():
            raise ITNetInputError(
                "metric 'coverage' needs interval columns (y_hat-lo-80 / y_hat-hi-80) or "
                "symmetric quantiles"
            )
    return wanted


def _level_name(level: float) -> str:
    return f"coverage_{level:g}"


def _metric_exprs(wanted, pcols, pred_col: str):
    import polars as pl

    err = pl.col(pred_col) - pl.col("y")
    exprs, names = [], []
    for m in wanted:
        if callable(m):
            continue
        if m == "mae":
            exprs.append(err.abs().mean().alias("mae"))
        elif m == "mse":
            exprs.append((err * err).mean().alias("mse"))
        elif m == "rmse":
            exprs.append((err * err).mean().sqrt().alias("rmse"))
        elif m == "mase":
            ok = pl.col("__s_mae") > 0
            exprs.append((err.abs() / pl.col("__s_mae")).filter(ok).mean().alias("mase"))
        elif m == "rmsse":
            ok = pl.col("__s_mse") > 0
            exprs.append((err * err / pl.col("__s_mse")).filter(ok).mean().sqrt().alias("rmsse"))
        elif m == "pinball":
            losses = []
            for q, col in pcols.all_quantiles().items():
                d = pl.col("y") - pl.col(col)
                losses.append(pl.max_horizontal(q * d, (q - 1) * d).mean())
            exprs.append((pl.sum_horizontal(losses) / len(losses)).alias("pinball"))
        elif m == "coverage":
            for level, (lo, hi) in pcols.intervals().items():
                inside = (pl.col("y") >= pl.col(lo)) & (pl.col("y") <= pl.col(hi))
                exprs.append(inside.cast(pl.Float64).mean().alias(_level_name(level)))
        if m == "coverage":
            names += [_level_name(lv) for lv in pcols.intervals()]
        else:
            names.append(m)
    return exprs, names


def _attach_scales(fc, train, use_cutoff: bool):
    """Add ``__s_mae`` / ``__s_mse``: each (series, channel[, cutoff])'s naive scale."""
    import polars as pl

    keys = ["unique_id", "variable"]
    hist = train.select("unique_id", "time", "variable", "value")
    if use_cutoff:
        cut = fc.select("unique_id", "variable", "cutoff").unique()
        hist = cut.join(hist, on=keys, how="inner").filter(pl.col("time") <= pl.col("cutoff"))
        keys = [*keys, "cutoff"]
    diffs = hist.sort([*keys, "time"]).with_columns(pl.col("value").diff().over(keys).alias("d"))
    scales = diffs.group_by(keys).agg(
        pl.col("d").abs().mean().alias("__s_mae"), (pl.col("d") ** 2).mean().alias("__s_mse")
    )
    return fc.join(scales, on=keys, how="left")


def _callable_name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _apply_callables(fc, out, group, callables, pred_col: str):
    import polars as pl

    if not group:
        y, p = fc["y"].to_numpy(), fc[pred_col].to_numpy()
        return out.with_columns(
            *(pl.lit(float(f(y, p))).alias(_callable_name(f)) for f in callables)
        )
    rows = []
    for key, part in fc.partition_by(group, as_dict=True, maintain_order=True).items():
        y, p = part["y"].to_numpy(), part[pred_col].to_numpy()
        row = dict(zip(group, key, strict=True))
        row.update({_callable_name(f): float(f(y, p)) for f in callables})
        rows.append(row)
    values = pl.DataFrame(rows).cast({g: out.schema[g] for g in group})
    return out.join(values, on=group, how="left", nulls_equal=True)


# --------------------------------------------------------------------------------------
# the benchmark metric
# --------------------------------------------------------------------------------------


def per_variable_mse_mae(y_true: Any, y_pred: Any, variable: Any) -> dict[str, Any]:
    """MSE and MAE averaged over variables: the irregular-forecasting benchmark metric.

    The squared (absolute) errors of each variable are summed over every scored entry and
    divided by that variable's number of entries; the result is the plain mean of these
    per-variable errors over the variables that have at least one entry. This is the metric of
    the t-PatchGNN benchmark (``lib/evaluation.py``), where a variable with many observations
    (heart rate) weighs as much as a rare one (cholesterol).

    Parameters
    ----------
    y_true, y_pred:
        1-D arrays of the same length, one entry per scored (series, time, variable) value.
    variable:
        1-D array of the same length naming (or numbering) the variable of each entry.

    Returns
    -------
    dict
        ``mse`` and ``mae`` (floats), ``n_variables`` (int) and ``per_variable``:
        ``{variable: {"mse": ..., "mae": ..., "count": ...}}``.
    """
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    var = np.asarray(variable)
    if true.ndim != 1 or pred.ndim != 1 or var.ndim != 1:
        raise ITNetInputError(
            "per_variable_mse_mae expects 1-D y_true, y_pred and variable, got shapes "
            f"{true.shape}, {pred.shape}, {var.shape}"
        )
    if not true.size == pred.size == var.size:
        raise ITNetInputError(
            f"y_true, y_pred and variable differ in length: {true.size}, {pred.size}, {var.size}"
        )
    if true.size == 0:
        raise ITNetInputError("per_variable_mse_mae needs at least one entry to score")
    if not np.isfinite(pred).all():
        bad = int(np.size(pred) - np.isfinite(pred).sum())
        raise ITNetInputError(f"y_pred has {bad} NaN or infinite value(s)")
    if not np.isfinite(true).all():
        raise ITNetInputError("y_true has NaN or infinite values; score observed entries only")

    names, code = np.unique(var, return_inverse=True)
    err = pred - true
    count = np.bincount(code, minlength=names.size)
    sq = np.bincount(code, weights=err * err, minlength=names.size) / count
    ab = np.bincount(code, weights=np.abs(err), minlength=names.size) / count
    per_variable = {
        names[i].item() if hasattr(names[i], "item") else names[i]: {
            "mse": float(sq[i]),
            "mae": float(ab[i]),
            "count": int(count[i]),
        }
        for i in range(names.size)
    }
    return {
        "mse": float(sq.mean()),
        "mae": float(ab.mean()),
        "n_variables": int(names.size),
        "per_variable": per_variable,
    }

"""Backtesting on irregular data: ``cross_validation``, ``TimeCutoffSplitter`` and ``score``.

Cutoffs are **times**, never row counts: with irregular sampling a fixed number of rows spans
a different length of time in every series (and a wide row holds a different number of
observations than a tidy one), so "the last 24 rows" is not a horizon. Window ``k`` (``k = 0``
the latest) has the cutoff

    cutoff_k = t_end - h - k * step_size

where ``t_end`` is the last time in the whole dataset (``align="global"``, the default: all
series share the cutoffs, as on a shared clock — no model ever sees data from after its
cutoff, from any series) or each series' own last time (``align="series"``: for datasets where
every series has its own clock, e.g. patient stays that all start at 0). A window's history
is every observation at or before its cutoff; its targets are the observations — the actual
(time, channel) pairs — in ``(cutoff, cutoff + h]``. A series is forecast in a window only
when it has history at or before the cutoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
from sklearn.model_selection import BaseCrossValidator

from itnet_ts.data._frames import canonical_time, harmonize_ids, to_polars
from itnet_ts.data._ingest import FrameSpec, ingest, to_user_frame
from itnet_ts.data._time import parse_duration
from itnet_ts.errors import ITNetInputError

__all__ = ["TimeCutoffSplitter", "cross_validation", "score_forecaster"]

_ALIGN = ("global", "series")


# --------------------------------------------------------------------------------------
# cutoffs
# --------------------------------------------------------------------------------------


def _unit_of(estimator: Any) -> Any:
    """The ``time_unit`` a bare number counts in (datetime data), if the user set one."""
    for est in (estimator, getattr(estimator, "forecaster", None)):
        unit = getattr(est, "time_unit", None)
        if unit is not None:
            return unit
    return None


def _durations(h, step_size, kind: str, time_unit=None) -> tuple[float, float]:
    if h is None:
        raise ITNetInputError("h= (the horizon of each window) is required")
    explicit = None
    if kind == "datetime" and time_unit is not None:
        explicit = parse_duration(time_unit, "datetime")
    out = []
    for name, value in (("h", h), ("step_size", h if step_size is None else step_size)):
        try:
            d = parse_duration(value, kind, explicit)
        except ITNetInputError as exc:
            raise ITNetInputError(f"{name}={value!r}: {exc}") from None
        out.append(float(round(d)) if kind == "datetime" else d)
    return out[0], out[1]


def _check_common(n_windows, align) -> None:
    if isinstance(n_windows, bool) or not isinstance(n_windows, (int, np.integer)):
        raise ITNetInputError(f"n_windows must be a positive integer, got {n_windows!r}")
    if n_windows < 1:
        raise ITNetInputError(f"n_windows must be a positive integer, got {n_windows!r}")
    if align not in _ALIGN:
        raise ITNetInputError(f"align must be one of {list(_ALIGN)}, got {align!r}")


def _cutoff_offsets(n_windows: int, h: float, step: float) -> list[float]:
    """Offsets ``h + k * step`` from the end, chronological (earliest window first)."""
    return [h + k * step for k in range(n_windows - 1, -1, -1)]


def _cast_time(value: float, kind: str):
    return round(value) if kind == "datetime" else float(value)


# --------------------------------------------------------------------------------------
# canonical <-> user frames for the public fit / predict
# --------------------------------------------------------------------------------------


def _history_spec(spec: FrameSpec) -> tuple[FrameSpec, str]:
    """The spec (polars) of the frames the estimator is fit on, and their value column.

    Long stays long (the target column names the channel), tidy stays tidy; wide becomes
    tidy (``variable`` / ``value``), which the estimator reads the same way."""
    pspec = replace(spec, library="polars")
    if spec.shape == "long":
        return pspec, str(spec.target_col)
    if spec.shape == "tidy":
        return pspec, str(spec.value_col)
    pspec = replace(pspec, shape="tidy", variable_col="variable", value_col="value")
    return pspec, "value"


def _fit_columns(spec: FrameSpec) -> dict[str, Any]:
    pspec, value = _history_spec(spec)
    cols: dict[str, Any] = {"id_col": spec.id_col or "unique_id", "time_col": spec.time_col}
    if pspec.shape == "long":
        cols.update(target_col=value, shape="long")
    else:
        cols.update(variable_col=pspec.variable_col, value_col=value, shape="tidy")
    return cols


def _history_frame(canon: pl.DataFrame, spec: FrameSpec) -> pl.DataFrame:
    pspec, value = _history_spec(spec)
    frame = canon.select("unique_id", "time", "variable", pl.col("value").alias(value))
    return to_user_frame(frame, pspec, value_cols=[value])


def _key_names(spec: FrameSpec) -> tuple[str | None, str, str | None]:
    var = None if spec.shape == "long" else (spec.variable_col or "variable")
    return spec.id_col, spec.time_col, var


def _sortable(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    casts = [
        pl.col(k).cast(pl.String)
        for k in keys
        if isinstance(df.schema[k], (pl.Categorical, pl.Enum))
    ]
    return df.with_columns(casts) if casts else df


def forecast_canonical(
    estimator: Any,
    history: pl.DataFrame | None,
    queries: pl.DataFrame,
    spec: FrameSpec,
    predict_kwargs: dict | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Forecast canonical ``queries`` (``unique_id, time, variable`` and any further
    columns) through the estimator's public ``predict(df=, times=)``.

    ``history`` (canonical) is passed as ``df=`` (``None``: the estimator's own history).
    Returns ``(rows, forecast_columns)``: the query rows with the forecast columns attached.
    Predictions are matched to the queries by their sorted order and checked key by key, so
    an estimator that maps times back and forth (a time transformer) still lines up.
    """
    pspec = replace(spec, library="polars")
    idc, tc, vc = _key_names(spec)
    keys = [k for k in (idc, vc, tc) if k is not None]
    q = queries.with_row_index("__q")
    q_user = to_user_frame(q, pspec, value_cols=["__q"])
    hist_user = None if history is None else _history_frame(history, spec)
    pred = estimator.predict(df=hist_user, times=q_user.drop("__q"), **(predict_kwargs or {}))
    pred = to_polars(pred, [idc, tc])
    missing = [k for k in keys if k not in pred.columns]
    if missing:
        raise ITNetInputError(f"the forecasts lack the key columns {missing}")
    value_cols = [c for c in pred.columns if c not in keys]
    if pred.height != q_user.height:
        raise ITNetInputError(
            f"the estimator returned {pred.height} forecasts for {q_user.height} queries"
        )
    q_sorted = _sortable(q_user, keys).sort(keys, maintain_order=True)
    p_sorted = _sortable(pred, keys).sort(keys, maintain_order=True)
    for k in (idc, vc):
        if k is not None and not (q_sorted[k].cast(pl.String) == p_sorted[k].cast(pl.String)).all():
            raise ITNetInputError(f"the forecasts do not match the queries in column {k!r}")
    rows = q[q_sorted["__q"].to_numpy()]
    got, _ = canonical_time(p_sorted, tc)
    want = rows["time"].to_numpy().astype(np.float64)
    tol = 1e6 if spec.time_kind == "datetime" else 1e-6 * max(1.0, float(np.abs(want).max()))
    if np.abs(got.to_numpy().astype(np.float64) - want).max() > tol:
        raise ITNetInputError("the forecasts do not match the query times")
    out = rows.drop("__q").with_columns(p_sorted.select(value_cols))
    return out, value_cols


# --------------------------------------------------------------------------------------
# cross_validation
# --------------------------------------------------------------------------------------


def _duplicates_of(estimator: Any) -> str:
    for est in (estimator, getattr(estimator, "forecaster", None)):
        value = getattr(est, "duplicates", None)
        if value is not None:
            return value
    return "error"


def _refit_now(refit, window: int) -> bool:
    if window == 0 or refit is True:
        return True
    if refit is False:
        return False
    return window % int(refit) == 0


def _check_refit(refit):
    """``refit`` as given (``0``: ``False``), or an error."""
    if not (isinstance(refit, (bool, int, np.integer)) and refit >= 0):
        raise ITNetInputError(f"refit must be True, False or an integer >= 0, got {refit!r}")
    return False if refit == 0 else refit


def _series_ends(canon: pl.DataFrame, align: str) -> pl.DataFrame:
    """``unique_id, end``: where each series' windows are counted back from ("global": the
    last time of the dataset, "series": the series' own last time)."""
    if align == "global":
        return canon.select(pl.col("unique_id").unique()).with_columns(
            pl.lit(canon["time"].max()).alias("end")
        )
    return canon.group_by("unique_id").agg(pl.col("time").max().alias("end"))


def _window_rows(canon: pl.DataFrame, ends: pl.DataFrame, off, horizon):
    """(history, targets) of the window whose cutoff is ``off`` before each series' end:
    the rows at or before the cutoff, and those in ``(cutoff, cutoff + horizon]`` of series
    with a history (with their ``cutoff``)."""
    cut = ends.select("unique_id", (pl.col("end") - off).alias("cutoff"))
    rows = canon.join(cut, on="unique_id", how="inner")
    hist = rows.filter(pl.col("time") <= pl.col("cutoff")).drop("cutoff")
    test = rows.filter(
        (pl.col("time") > pl.col("cutoff")) & (pl.col("time") <= pl.col("cutoff") + horizon)
    ).join(hist.select("unique_id").unique(), on="unique_id", how="semi")
    return hist, test


def cross_validation(
    estimator: Any,
    df: Any,
    *,
    n_windows: int = 1,
    h: str | float | None = None,
    step_size: str | float | None = None,
    refit: bool | int = True,
    align: str = "global",
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    variable_col: str | None = None,
    value_col: str | None = None,
    fit_kwargs: dict | None = None,
    predict_kwargs: dict | None = None,
    progress: bool = False,
):
    """Backtest ``estimator`` on ``df`` over ``n_windows`` time cutoffs.

    Parameters
    ----------
    estimator
        An unfitted (or fitted: it is cloned, never changed) ``ITNetForecaster`` or
        ``TransformedTargetForecaster``.
    df
        pandas or polars frame in any input shape (long, wide, tidy).
    n_windows
        Number of cutoffs.
    h
        Horizon of each window: a duration (``"6h"``) or a number of time units.
    step_size
        Time between consecutive cutoffs (default ``h``: windows that tile the end of the
        data without overlapping).
    refit
        ``True``: fit a fresh model on every window's history. ``False``: fit once, on the
        earliest window's history, and forecast every window from its own history with that
        model. An integer ``n``: refit every ``n`` windows.
    align
        ``"global"``: cutoffs counted back from the last time in the dataset (default);
        ``"series"``: from each series' own last time. See the module docstring.
    id_col, time_col, target_col, variable_col, value_col
        Column names, as for ``fit``.
    fit_kwargs, predict_kwargs
        Further keyword arguments for every ``fit`` / ``predict`` call.
    progress
        Show a progress bar over the windows.

    Returns
    -------
    A frame of the input's library: ``[id], time, cutoff, [variable], y_hat`` (and any
    interval / quantile columns the estimator makes), and ``y``, the observed value. One row
    per observation in every window's ``(cutoff, cutoff + h]``, sorted by series, cutoff,
    time and channel.
    """
    from sklearn.base import clone

    _check_common(n_windows, align)
    refit = _check_refit(refit)
    canon, spec = ingest(
        df, id_col=id_col, time_col=time_col, target_col=target_col,
        variable_col=variable_col, value_col=value_col, duplicates=_duplicates_of(estimator),
    )  # fmt: skip
    h_d, step = _durations(h, step_size, spec.time_kind, _unit_of(estimator))
    ends = _series_ends(canon, align)
    fit_cols = {**_fit_columns(spec), **(fit_kwargs or {})}
    offsets = _cutoff_offsets(int(n_windows), h_d, step)
    windows = range(len(offsets))
    if progress:
        from tqdm.auto import tqdm

        windows = tqdm(windows, desc="backtest", unit="window", leave=False)
    model, parts, pred_cols = None, [], None
    for w in windows:
        off, horizon = _cast_time(offsets[w], spec.time_kind), _cast_time(h_d, spec.time_kind)
        hist, test = _window_rows(canon, ends, off, horizon)
        if hist.height == 0:
            raise ITNetInputError(
                f"window {w + 1} of {n_windows}: its cutoff is before the start of the data; "
                "use fewer windows (n_windows) or a smaller step_size / h"
            )
        if model is None or _refit_now(refit, w):
            model = clone(estimator).fit(_history_frame(hist, spec), **fit_cols)
        if test.height == 0:
            continue
        got, cols = forecast_canonical(model, hist, test, spec, predict_kwargs)
        pred_cols = pred_cols or cols
        parts.append(got)
    if not parts:
        raise ITNetInputError(
            f"no window has an observation in (cutoff, cutoff + h] (h={h!r}); use a larger h"
        )
    out = pl.concat(parts, how="vertical").rename({"value": "y"})
    out = out.sort(["unique_id", "cutoff", "time", "variable"])
    assert pred_cols is not None
    return to_user_frame(out, spec, value_cols=[*pred_cols, "y"], extra_time_cols=("cutoff",))


# --------------------------------------------------------------------------------------
# sklearn splitter
# --------------------------------------------------------------------------------------


class TimeCutoffSplitter(BaseCrossValidator):
    """Split a frame's rows by time cutoffs, for ``GridSearchCV`` / ``cross_validate``.

    Fold ``k`` trains on the rows at or before ``cutoff_k = t_end - h - k * step_size`` and
    tests on the rows in ``(cutoff_k, cutoff_k + h]``; folds come in time order (earliest
    cutoff first). ``split`` yields row positions (0-based) of ``X``, which may be any input
    shape — in a wide frame a row (one time point) goes wholly to one side.

    With ``ITNetForecaster.score`` the test fold is scored as forecasts from the training
    fold's history: exactly a ``cross_validation`` window.

    Parameters
    ----------
    n_splits
        Number of folds (cutoffs).
    h
        Test horizon: a duration (``"6h"``) or a number of time units.
    step_size
        Time between cutoffs (default ``h``).
    align
        ``"global"`` (cutoffs from the dataset's last time) or ``"series"`` (from each
        series' own last time).
    id_col, time_col
        Column names in ``X``.
    time_unit
        For datetime data: what a bare number in ``h`` / ``step_size`` counts (e.g. ``"1h"``).
    """

    def __init__(
        self,
        n_splits: int = 3,
        h: str | float | None = None,
        step_size: str | float | None = None,
        align: str = "global",
        id_col: str = "unique_id",
        time_col: str = "ds",
        time_unit: str | float | None = None,
    ):
        self.n_splits = n_splits
        self.h = h
        self.step_size = step_size
        self.align = align
        self.id_col = id_col
        self.time_col = time_col
        self.time_unit = time_unit

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds, ``n_splits``."""
        _check_common(self.n_splits, self.align)
        return int(self.n_splits)

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_rows, test_rows)`` position arrays, earliest cutoff first."""
        _check_common(self.n_splits, self.align)
        times, kind = canonical_time(X, self.time_col, [self.id_col])
        h_d, step = _durations(self.h, self.step_size, kind, self.time_unit)
        t = times.cast(pl.Float64).to_numpy()
        valid = ~np.isnan(t)
        if not valid.any():
            raise ITNetInputError(f"time column {self.time_col!r} has no values")
        if self.align == "global":
            end = np.full(t.shape, np.nanmax(t))
        else:
            frame = to_polars(X, [self.id_col, self.time_col])
            if self.id_col not in frame.columns:
                end = np.full(t.shape, np.nanmax(t))
            else:
                ids = frame[self.id_col]
                end = (
                    pl.DataFrame({"i": ids, "t": t})
                    .select(pl.col("t").max().over("i"))
                    .to_series()
                    .to_numpy()
                )
        for k, off in enumerate(_cutoff_offsets(int(self.n_splits), h_d, step)):
            cutoff = end - off
            train = np.flatnonzero(valid & (t <= cutoff))
            test = np.flatnonzero(valid & (t > cutoff) & (t <= cutoff + h_d))
            if len(train) == 0 or len(test) == 0:
                side = "training" if len(train) == 0 else "test"
                raise ITNetInputError(
                    f"fold {k + 1} of {self.n_splits} has no {side} rows (h={self.h!r}, "
                    f"step_size={self.step_size!r}); use fewer splits or another h / step_size"
                )
            yield train, test

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        for _, test in self.split(X, y, groups):
            yield test


# --------------------------------------------------------------------------------------
# score
# --------------------------------------------------------------------------------------


def last_times(canon: pl.DataFrame) -> pl.DataFrame:
    """``unique_id, last``: each series' last time in a canonical frame."""
    return canon.group_by("unique_id").agg(pl.col("time").max().alias("last"))


def score_forecaster(
    estimator: Any, X: Any, spec: FrameSpec, last: pl.DataFrame, duplicates: str = "error"
) -> float:
    """Negative MSE of the estimator's forecasts of ``X``'s observations after its training
    data (``last``: each training series' last time), given that training history."""
    canon, _ = ingest(
        X, id_col=spec.id_col or "unique_id", time_col=spec.time_col,
        target_col=spec.target_col or "y", variable_col=spec.variable_col,
        value_col=spec.value_col, duplicates=duplicates, spec=spec,
    )  # fmt: skip
    canon, last = harmonize_ids(canon, last)
    targets = (
        canon.join(last, on="unique_id", how="inner")
        .filter(pl.col("time") > pl.col("last"))
        .drop("last")
    )
    if targets.height == 0:
        raise ITNetInputError(
            "score(X): X has no observation after the end of the training data of any "
            "series it shares with the training frame; score the part that follows the "
            "training data (e.g. a TimeCutoffSplitter test fold)"
        )
    got, _ = forecast_canonical(estimator, None, targets, spec)
    err = got["y_hat"].to_numpy() - got["value"].to_numpy()
    return -float(np.mean(err * err))

"""Dataframe transformers for irregular series, and a forecaster that undoes them.

The transformers are scikit-learn ``TransformerMixin`` estimators that take and return
pandas or polars frames (the same library back) in the shapes the forecaster reads:

* data frames — long (``unique_id, ds, y``: one channel named after ``target_col``), wide
  (one column per channel) or tidy (``unique_id, ds, variable, value``);
* forecast frames — ``predict`` / ``cross_validation`` output: ``y_hat``, its interval and
  quantile columns (``y_hat-lo-80``, ``y_hat_q0.1``, ...) and the actuals ``y``, with a
  ``variable`` column naming each row's channel (or none, for one channel);
* query frames (``id, time[, variable]``, no values): value transforms leave them as they
  are, the time transform maps their times.

Value transforms work per channel (``ChannelScaler`` also per series) and only on observed
values; nulls stay null. Every transform is monotone increasing, so the inverse of an
interval or quantile forecast is the interval or quantile of the back-transformed value.
The inverse of a point forecast made in log / Box-Cox space is a median-like forecast, not
the mean (the usual retransformation bias).

How predictions get back to the original units: wrap the forecaster in
:class:`TransformedTargetForecaster` (``fit`` transforms, ``predict`` inverse-transforms,
``score`` compares in original units, and ``cross_validation`` / ``GridSearchCV`` work on
it). Inside a plain ``sklearn.pipeline.Pipeline`` the transformers run before the
forecaster at ``fit`` and ``score`` (which then scores in transformed units), and
``pipe[:-1].inverse_transform(forecasts)`` maps forecasts back.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from itnet_ts.data._frames import PRED_COL, frame_library, parse_pred_columns, to_library, to_polars
from itnet_ts.data._ingest import (
    FrameSpec,
    ingest,
    make_source,
    polars_time_out,
    time_unit_of,
)
from itnet_ts.data._time import parse_duration
from itnet_ts.errors import ITNetInputError

__all__ = [
    "BoxCoxTransformer",
    "ChannelScaler",
    "Log1pTransformer",
    "TimeTransformer",
    "TransformedTargetForecaster",
]

_COLUMN_PARAMS = ("id_col", "time_col", "target_col", "variable_col", "value_col")
_NS_PER = {"ms": 1_000_000, "us": 1_000, "ns": 1}


# --------------------------------------------------------------------------------------
# where the values are
# --------------------------------------------------------------------------------------


def _layout(df: pl.DataFrame, t: Any) -> tuple[pl.Series | None, dict[str, str | None]]:
    """``(row_channels, value_columns)``.

    ``row_channels`` is a String series naming each row's channel (tidy data and forecast
    frames) or ``None``; ``value_columns`` maps each value column to its channel (``None``:
    per row, from ``row_channels``).
    """
    cols = df.columns
    keys = {t.id_col, t.time_col, "cutoff"}
    pred = parse_pred_columns(cols, PRED_COL).columns
    var = t.variable_col or "variable"
    if var in cols:
        value = t.value_col or "value"
        values = [c for c in (value, t.target_col) if c in cols and c not in keys] + pred
        return df[var].cast(pl.String), dict.fromkeys(values)
    numeric = [c for c in cols if c not in keys and c not in pred and df.schema[c].is_numeric()]
    if pred or (t.target_col in cols and numeric == [t.target_col]):
        values = [c for c in numeric if c == t.target_col] + pred
        return None, dict.fromkeys(values, t.target_col)
    return None, {c: c for c in numeric}


def _series_ids(df: pl.DataFrame, t: Any) -> pl.Series:
    if t.id_col in df.columns:
        return df[t.id_col].cast(pl.String)
    return pl.repeat("series_0", df.height, dtype=pl.String, eager=True)


def _groups(df: pl.DataFrame, t: Any, per_series: bool):
    """Yield ``(key, column, row_index)``: the rows of ``column`` that belong to one channel
    (or one (series, channel) pair)."""
    row_chan, values = _layout(df, t)
    ids = _series_ids(df, t).to_numpy() if per_series else None
    for col, chan in values.items():
        if chan is not None:
            labels = np.full(df.height, chan, dtype=object)
        else:
            assert row_chan is not None
            labels = row_chan.to_numpy().astype(object)
        if per_series:
            keys = np.array([f"{i}\x1f{c}" for i, c in zip(ids, labels, strict=True)], object)
        else:
            keys = labels
        for key in np.unique(keys.astype(str)):
            idx = np.flatnonzero(keys.astype(str) == key)
            if per_series:
                sid, ch = str(key).split("\x1f", 1)
                yield (sid, ch), col, idx
            else:
                yield str(key), col, idx


def _key_label(key) -> str:
    return f"series {key[0]!r}, channel {key[1]!r}" if isinstance(key, tuple) else repr(key)


class _ChannelTransformer(TransformerMixin, BaseEstimator):
    """Base: a per-channel (optionally per-series) value transform fitted on observed values."""

    def _per_series(self) -> bool:
        return bool(getattr(self, "per_series", False))

    def _selected(self, key) -> bool:
        chan = key[1] if isinstance(key, tuple) else key
        return self.channels is None or chan in set(self.channels)

    # subclasses implement these on 1-D float arrays of observed values
    def _fit_values(self, values: np.ndarray, key) -> tuple:
        return ()

    def _forward(self, values: np.ndarray, params: tuple, key) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, values: np.ndarray, params: tuple, key) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y=None):
        """Learn the per-channel parameters from the observed values of ``X``."""
        df = to_polars(X, [self.id_col, self.time_col])
        pooled: dict[Any, list[np.ndarray]] = {}
        for key, col, idx in _groups(df, self, self._per_series()):
            if not self._selected(key):
                continue
            v = df[col].cast(pl.Float64).to_numpy()[idx]
            pooled.setdefault(key, []).append(v[np.isfinite(v)])
        if not pooled:
            raise ITNetInputError(
                f"{type(self).__name__}: found no value columns to fit in {df.columns}"
            )
        self.params_ = {}
        for key, parts in pooled.items():
            v = np.concatenate(parts)
            if v.size == 0:
                raise ITNetInputError(
                    f"{type(self).__name__}: {_key_label(key)} has no observed value to fit on"
                )
            self.params_[key] = self._fit_values(v, key)
        self.channels_ = sorted({k[1] if isinstance(k, tuple) else k for k in self.params_})
        return self

    def transform(self, X):
        """Apply the transform to every value column (data and forecast frames)."""
        return self._apply(X, inverse=False)

    def inverse_transform(self, X):
        """Undo the transform (e.g. on forecasts: ``y_hat`` and its interval columns)."""
        return self._apply(X, inverse=True)

    def _apply(self, X, inverse: bool):
        check_is_fitted(self, "params_")
        library = frame_library(X)
        df = to_polars(X, [self.id_col, self.time_col])
        new: dict[str, np.ndarray] = {}
        for key, col, idx in _groups(df, self, self._per_series()):
            if not self._selected(key):
                continue
            if key not in self.params_:
                raise ITNetInputError(
                    f"{type(self).__name__}: {_key_label(key)} was not seen in fit; fit the "
                    "transformer on data that has it"
                )
            if col not in new:
                new[col] = df[col].cast(pl.Float64).to_numpy().copy()
            v = new[col][idx]
            seen = np.isfinite(v)
            fn = self._backward if inverse else self._forward
            v[seen] = fn(v[seen], self.params_[key], key)
            new[col][idx] = v
        if not new:
            return X
        out = df.with_columns(pl.Series(c, v).fill_nan(None) for c, v in new.items())
        return to_library(out, library)


class ChannelScaler(_ChannelTransformer):
    """Scale each channel's values: ``(x - loc) / scale``.

    Parameters
    ----------
    method
        ``"standard"`` (mean / standard deviation), ``"robust"`` (median / interquartile
        range), ``"minmax"`` (minimum / range) or ``"maxabs"`` (0 / largest absolute value).
    per_series
        Scale every (series, channel) pair on its own (series seen in ``fit`` only).
    channels
        Channels to scale (default: all).
    id_col, time_col, target_col, variable_col, value_col
        Column names (as for ``ITNetForecaster.fit``).
    """

    def __init__(
        self,
        method: str = "standard",
        per_series: bool = False,
        channels: list[str] | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        variable_col: str | None = None,
        value_col: str | None = None,
    ):
        self.method = method
        self.per_series = per_series
        self.channels = channels
        self.id_col = id_col
        self.time_col = time_col
        self.target_col = target_col
        self.variable_col = variable_col
        self.value_col = value_col

    def fit(self, X, y=None):
        if self.method not in ("standard", "robust", "minmax", "maxabs"):
            raise ITNetInputError(
                f"ChannelScaler(method={self.method!r}): method must be one of 'standard', "
                "'robust', 'minmax', 'maxabs'"
            )
        return super().fit(X, y)

    def _fit_values(self, v, key):
        if self.method == "standard":
            loc, scale = float(v.mean()), float(v.std())
        elif self.method == "robust":
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            loc, scale = float(med), float(q3 - q1)
        elif self.method == "minmax":
            loc, scale = float(v.min()), float(v.max() - v.min())
        else:
            loc, scale = 0.0, float(np.abs(v).max())
        return loc, (scale if scale > 0 and math.isfinite(scale) else 1.0)

    def _forward(self, v, params, key):
        return (v - params[0]) / params[1]

    def _backward(self, v, params, key):
        return v * params[1] + params[0]


class Log1pTransformer(_ChannelTransformer):
    """``log(1 + x)`` per channel (inverse ``exp(x) - 1``); values must be > -1.

    Parameters
    ----------
    channels
        Channels to transform (default: all).
    id_col, time_col, target_col, variable_col, value_col
        Column names (as for ``ITNetForecaster.fit``).
    """

    def __init__(
        self,
        channels: list[str] | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        variable_col: str | None = None,
        value_col: str | None = None,
    ):
        self.channels = channels
        self.id_col = id_col
        self.time_col = time_col
        self.target_col = target_col
        self.variable_col = variable_col
        self.value_col = value_col

    def _forward(self, v, params, key):
        if (v <= -1).any():
            raise ITNetInputError(
                f"Log1pTransformer: channel {key!r} has values <= -1 (smallest {v.min():g}); "
                "log1p needs values > -1 — use BoxCoxTransformer(method='yeo-johnson')"
            )
        return np.log1p(v)

    def _backward(self, v, params, key):
        return np.expm1(v)


class BoxCoxTransformer(_ChannelTransformer):
    """Box-Cox or Yeo-Johnson power transform per channel, ``lambda`` fitted by maximum
    likelihood on each channel's observed values (or fixed with ``lmbda``).

    Parameters
    ----------
    method
        ``"box-cox"`` (values must be > 0) or ``"yeo-johnson"`` (any values).
    lmbda
        A fixed ``lambda`` for every channel instead of fitting one.
    channels
        Channels to transform (default: all).
    id_col, time_col, target_col, variable_col, value_col
        Column names (as for ``ITNetForecaster.fit``).

    The inverse Box-Cox of a value outside the transform's range (``lambda * y + 1 <= 0``,
    which a forecast can reach) is taken at the boundary (0).
    """

    def __init__(
        self,
        method: str = "box-cox",
        lmbda: float | None = None,
        channels: list[str] | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        variable_col: str | None = None,
        value_col: str | None = None,
    ):
        self.method = method
        self.lmbda = lmbda
        self.channels = channels
        self.id_col = id_col
        self.time_col = time_col
        self.target_col = target_col
        self.variable_col = variable_col
        self.value_col = value_col

    def fit(self, X, y=None):
        if self.method not in ("box-cox", "yeo-johnson"):
            raise ITNetInputError(
                f"BoxCoxTransformer(method={self.method!r}): method must be 'box-cox' or "
                "'yeo-johnson'"
            )
        return super().fit(X, y)

    def _check_positive(self, v, key):
        if self.method == "box-cox" and (v <= 0).any():
            raise ITNetInputError(
                f"BoxCoxTransformer: channel {key!r} has values <= 0 (smallest {v.min():g}); "
                "Box-Cox needs positive values — use method='yeo-johnson'"
            )

    def _fit_values(self, v, key):
        self._check_positive(v, key)
        if self.lmbda is not None:
            return (float(self.lmbda),)
        from scipy import stats

        if np.ptp(v) == 0:
            return (1.0,)
        with np.errstate(all="ignore"):
            if self.method == "box-cox":
                lam = float(stats.boxcox_normmax(v, method="mle"))
            else:
                lam = float(stats.yeojohnson_normmax(v))
        return (lam,)

    def _forward(self, v, params, key):
        from scipy import stats

        self._check_positive(v, key)
        lam = params[0]
        if self.method == "box-cox":
            return stats.boxcox(v, lmbda=lam)
        return stats.yeojohnson(v, lmbda=lam)

    def _backward(self, v, params, key):
        lam = params[0]
        if self.method == "box-cox":
            if abs(lam) < 1e-12:
                return np.exp(v)
            base = np.maximum(lam * v + 1, 0.0)
            with np.errstate(divide="ignore"):
                return np.power(base, 1 / lam)
        out = np.empty_like(v)
        pos = v >= 0
        if abs(lam) < 1e-12:
            out[pos] = np.expm1(v[pos])
        else:
            out[pos] = np.power(np.maximum(v[pos] * lam + 1, 0.0), 1 / lam) - 1
        if abs(lam - 2) < 1e-12:
            out[~pos] = -np.expm1(-v[~pos])
        else:
            out[~pos] = 1 - np.power(np.maximum(-(2 - lam) * v[~pos] + 1, 0.0), 1 / (2 - lam))
        return out


# --------------------------------------------------------------------------------------
# time-coordinate mapping
# --------------------------------------------------------------------------------------


class TimeTransformer(TransformerMixin, BaseEstimator):
    """Map the time column: ``t' = (t - origin) / unit``, as plain numbers.

    Parameters
    ----------
    origin
        ``None`` (0, the Unix epoch for datetimes), ``"global_start"`` (the earliest time in
        ``fit``), ``"series_start"`` (each series' own first time in ``fit``: e.g. hours
        since admission), or a fixed time (a number, or a datetime / string for datetime
        data).
    unit
        What one unit of the new time is: a duration (``"1h"``) for datetime data, a number
        for numeric data. Default: one hour for datetimes, 1 for numbers.
    id_col, time_col
        Column names. A ``cutoff`` column (``cross_validation`` output) is mapped too.

    ``inverse_transform`` maps numbers back to the original time type (datetime unit and time
    zone included). With ``origin="series_start"`` only series seen in ``fit`` can be mapped.
    """

    def __init__(
        self,
        origin: Any = None,
        unit: str | float | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
    ):
        self.origin = origin
        self.unit = unit
        self.id_col = id_col
        self.time_col = time_col

    def _time_cols(self, df: pl.DataFrame) -> list[str]:
        return [c for c in (self.time_col, "cutoff") if c in df.columns]

    def fit(self, X, y=None):
        """Record the time type and the origin(s)."""
        df = to_polars(X, [self.id_col, self.time_col])
        if self.time_col not in df.columns:
            raise ITNetInputError(
                f"TimeTransformer: time column {self.time_col!r} not found ({df.columns})"
            )
        times, meta = make_source(df, [self.time_col]).time(self.time_col)
        kind = meta.kind
        self.time_kind_ = kind
        self.time_dtype_ = meta.dtype
        self.time_zone_ = meta.tz
        unit = self.unit if self.unit is not None else ("1h" if kind == "datetime" else 1.0)
        self.unit_ = parse_duration(unit, kind)
        t = times.cast(pl.Float64)
        if self.origin is None:
            self.origin_ = 0.0
        elif self.origin == "global_start":
            self.origin_ = float(t.min())
        elif self.origin == "series_start":
            ids = df[self.id_col].cast(pl.String) if self.id_col in df.columns else None
            if ids is None:
                self.origin_ = {"series_0": float(t.min())}
            else:
                starts = pl.DataFrame({"i": ids, "t": t}).group_by("i").agg(pl.col("t").min())
                self.origin_ = dict(zip(starts["i"].to_list(), starts["t"].to_list(), strict=True))
        else:
            self.origin_ = self._fixed_origin(kind)
        return self

    def _fixed_origin(self, kind: str) -> float:
        if kind == "numeric":
            if isinstance(self.origin, (int, float)) and not isinstance(self.origin, bool):
                return float(self.origin)
            raise ITNetInputError(
                f"TimeTransformer(origin={self.origin!r}): numeric time needs a numeric origin"
            )
        import pandas as pd

        try:
            ts = pd.Timestamp(self.origin)
        except (TypeError, ValueError):
            raise ITNetInputError(
                f"TimeTransformer(origin={self.origin!r}): not a time; use None, "
                "'global_start', 'series_start' or a datetime"
            ) from None
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return float(ts.value)

    def _origins(self, df: pl.DataFrame) -> np.ndarray | float:
        if not isinstance(self.origin_, dict):
            return self.origin_
        ids = _series_ids(df, self)
        unknown = sorted(set(ids.unique().to_list()) - set(self.origin_))
        if unknown:
            raise ITNetInputError(
                f"TimeTransformer(origin='series_start'): series {unknown[:5]} were not seen "
                "in fit, so their start is unknown"
            )
        return ids.replace_strict(self.origin_, return_dtype=pl.Float64).to_numpy()

    def transform(self, X):
        """Times -> numbers ``(t - origin) / unit``."""
        from itnet_ts.data._frames import canonical_time

        check_is_fitted(self, "unit_")
        library = frame_library(X)
        df = to_polars(X, [self.id_col, self.time_col])
        origin = self._origins(df)
        new = []
        for col in self._time_cols(df):
            t, kind = canonical_time(df, col)
            if kind != self.time_kind_:
                raise ITNetInputError(
                    f"TimeTransformer: column {col!r} holds {kind} time, but fit saw "
                    f"{self.time_kind_} time"
                )
            mapped = (t.cast(pl.Float64).to_numpy() - origin) / self.unit_
            new.append(pl.Series(col, mapped, dtype=pl.Float64))
        return to_library(df.with_columns(new), library)

    def inverse_transform(self, X):
        """Numbers -> times of the original type."""
        check_is_fitted(self, "unit_")
        library = frame_library(X)
        df = to_polars(X, [self.id_col, self.time_col])
        origin = self._origins(df)
        spec = FrameSpec(
            library="polars", shape="long", id_col=None, time_col=self.time_col, channels=(),
            target_col=None, variable_col=None, value_col=None, time_kind=self.time_kind_,
            time_zone=self.time_zone_, time_dtype=self.time_dtype_, id_dtype="String",
        )  # fmt: skip
        new = []
        for col in self._time_cols(df):
            s = df[col]
            if not s.dtype.is_numeric():
                raise ITNetInputError(
                    f"TimeTransformer.inverse_transform: column {col!r} is not numeric (dtype "
                    f"{s.dtype}); it expects transformed (numeric) times"
                )
            t = s.cast(pl.Float64).to_numpy() * self.unit_ + origin
            if self.time_kind_ == "datetime":
                step = _NS_PER.get(time_unit_of(spec), 1)
                t = np.round(t / step) * step
                canon = pl.Series(col, t).round(0).cast(pl.Int64)
            else:
                canon = pl.Series(col, t)
            new.append(polars_time_out(canon, spec, col))
        return to_library(df.with_columns(new), library)


# --------------------------------------------------------------------------------------
# the wrapper
# --------------------------------------------------------------------------------------


def _set_columns(transformer: Any, columns: dict[str, Any]) -> None:
    """Give the transformer(s) the column names the forecaster is fit with."""
    steps = getattr(transformer, "steps", None)
    if steps is not None:
        for _, step in steps:
            if step not in (None, "passthrough"):
                _set_columns(step, columns)
        return
    params = transformer.get_params(deep=False)
    update = {k: v for k, v in columns.items() if k in params}
    if update:
        transformer.set_params(**update)


class TransformedTargetForecaster(BaseEstimator):
    """A forecaster fit on transformed data whose forecasts come back in original units.

    ``fit(df)`` fits ``transformer`` on ``df``, transforms it and fits ``forecaster`` on the
    result; ``predict`` transforms the history / query times it is given, forecasts, and
    applies ``transformer.inverse_transform`` to the forecasts (``y_hat`` and any interval or
    quantile columns). ``score`` compares forecasts with observations in original units.
    The column names passed to ``fit`` (``id_col=``, ...) are given to the transformers.

    Parameters
    ----------
    forecaster
        An ``ITNetForecaster`` (default: ``ITNetForecaster()``); cloned at ``fit``.
    transformer
        One transformer or a ``Pipeline`` of them (``None``: no transform); cloned at ``fit``.
        With a :class:`TimeTransformer` inside, ``h`` / ``freq`` given to ``predict`` are in
        the transformed time units; query times (``times=``) stay in original units.
    """

    def __init__(self, forecaster: Any = None, transformer: Any = None):
        self.forecaster = forecaster
        self.transformer = transformer

    def fit(self, df, y=None, **fit_kwargs) -> TransformedTargetForecaster:
        """Fit the transformer, then the forecaster on the transformed ``df``."""
        from itnet_ts.estimators._cv import last_times
        from itnet_ts.estimators.forecaster import ITNetForecaster

        forecaster = ITNetForecaster() if self.forecaster is None else self.forecaster
        self.forecaster_ = clone(forecaster)
        self.transformer_ = None if self.transformer is None else clone(self.transformer)
        cols = {k: v for k, v in fit_kwargs.items() if k in _COLUMN_PARAMS}
        shape = fit_kwargs.get("shape", "auto")
        canon, self.spec_ = ingest(
            df, duplicates=getattr(self.forecaster_, "duplicates", "error"), shape=shape, **cols
        )
        self.train_last_ = last_times(canon)
        data = df
        if self.transformer_ is not None:
            _set_columns(self.transformer_, cols)
            data = self.transformer_.fit_transform(df)
        self.forecaster_.fit(data, **fit_kwargs)
        return self

    def _transform(self, frame):
        if frame is None or self.transformer_ is None:
            return frame
        return self.transformer_.transform(frame)

    def predict(self, h=None, *, df=None, times=None, freq=None, **kwargs):
        """Forecast like ``ITNetForecaster.predict``, in original units."""
        check_is_fitted(self, "forecaster_")
        pred = self.forecaster_.predict(
            h, df=self._transform(df), times=self._transform(times), freq=freq, **kwargs
        )
        if self.transformer_ is None:
            return pred
        return self.transformer_.inverse_transform(pred)

    def score(self, X, y=None) -> float:
        """Negative MSE in original units of forecasts of ``X``'s observations after the
        training data (as ``ITNetForecaster.score``)."""
        from itnet_ts.estimators._cv import score_forecaster

        check_is_fitted(self, "forecaster_")
        dup = getattr(self.forecaster_, "duplicates", "error")
        return score_forecaster(self, X, self.spec_, self.train_last_, dup)

    def cross_validation(self, df, **kwargs):
        """Backtest: ``itnet_ts.cross_validation(self, df, ...)``."""
        from itnet_ts.estimators._cv import cross_validation

        return cross_validation(self, df, **kwargs)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "forecaster_")

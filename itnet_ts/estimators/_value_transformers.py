"""Value transforms of irregular series frames (see ``transformers``): per channel (``ChannelScaler``
also per series), on observed values only; every transform is monotone increasing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from itnet_ts.data._frames import PRED_COL, frame_library, parse_pred_columns, to_library, to_polars
from itnet_ts.data._spec import SINGLE_SERIES_ID
from itnet_ts.errors import ITNetInputError

__all__ = ["BoxCoxTransformer", "ChannelScaler", "Log1pTransformer", "series_ids"]


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


def series_ids(df: pl.DataFrame, t: Any) -> pl.Series:
    if t.id_col in df.columns:
        return df[t.id_col].cast(pl.String)
    return pl.repeat(SINGLE_SERIES_ID, df.height, dtype=pl.String, eager=True)


def _groups(df: pl.DataFrame, t: Any, per_series: bool):
    """Yield ``(key, column, row_index)``: the rows of ``column`` that belong to one channel
    (or one (series, channel) pair)."""
    row_chan, values = _layout(df, t)
    ids = series_ids(df, t).to_numpy() if per_series else None
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

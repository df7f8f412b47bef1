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

The value transforms live in ``_value_transformers.py``, the wrapper in ``_target.py``; this
module holds the time transform and hands all of them on.

How predictions get back to the original units: wrap the forecaster in
:class:`TransformedTargetForecaster` (``fit`` transforms, ``predict`` inverse-transforms,
``score`` compares in original units, and ``cross_validation`` / ``GridSearchCV`` work on
it). Inside a plain ``sklearn.pipeline.Pipeline`` the transformers run before the
forecaster at ``fit`` and ``score`` (which then scores in transformed units), and
``pipe[:-1].inverse_transform(forecasts)`` maps forecasts back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from itnet_ts.data._frames import frame_library, to_library, to_polars
from itnet_ts.data._ingest import FrameSpec, make_source, polars_time_out, time_unit_of
from itnet_ts.data._spec import NS_PER
from itnet_ts.data._time import parse_duration
from itnet_ts.errors import ITNetInputError
from itnet_ts.estimators._target import TransformedTargetForecaster
from itnet_ts.estimators._value_transformers import (
    BoxCoxTransformer,
    ChannelScaler,
    Log1pTransformer,
    series_ids,
)

__all__ = [
    "BoxCoxTransformer",
    "ChannelScaler",
    "Log1pTransformer",
    "TimeTransformer",
    "TransformedTargetForecaster",
]


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
        ids = series_ids(df, self)
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
                step = NS_PER.get(time_unit_of(spec), 1)
                t = np.round(t / step) * step
                canon = pl.Series(col, t).round(0).cast(pl.Int64)
            else:
                canon = pl.Series(col, t)
            new.append(polars_time_out(canon, spec, col))
        return to_library(df.with_columns(new), library)

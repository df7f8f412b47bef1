"""``TransformedTargetForecaster``: a forecaster fit on transformed frames whose forecasts come
back in original units (see ``transformers``)."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from itnet_ts.data._ingest import ingest

__all__ = ["TransformedTargetForecaster"]

_COLUMN_PARAMS = ("id_col", "time_col", "target_col", "variable_col", "value_col")


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

"""Whether a fit gets the periodic predictor (``ITNetForecaster(periodic=...)``), and its grid.

``"auto"`` (the default) turns it on only where it earns its cost: the period search runs on
every window the model sees, so it is kept for data whose own held-out points it forecasts
clearly better than the history mean (:func:`itnet_ts.model.periodic.periodic_holdout_check`
on up to ``MAX_CHECK_SERIES`` training series, fewer where their observations times the
grid's frequencies pass ``CHECK_BUDGET``; ratio below ``AUTO_RATIO``).
"""

from __future__ import annotations

import numpy as np

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler, relative_times
from itnet_ts.errors import ITNetInputError
from itnet_ts.model.periodic import frequency_grid, periodic_holdout_check

__all__ = ["AUTO_RATIO", "MAX_CHECK_SERIES", "choose_period_grid"]

AUTO_RATIO = 0.8  # "auto": on when the held-out MSE is below 0.8 x the history mean's
MAX_CHECK_SERIES = 128
MIN_CHECK_SERIES = 16
CHECK_BUDGET = 1e8  # observations x frequencies searched by the check


def _series_arrays(ragged: RaggedSeries, scaler: ValueScaler, unit: float, max_history):
    """Per series: times in model units from its first point, scaled values, mask (the last
    ``max_history`` points, as the encoder sees them)."""
    out = []
    for s in range(ragged.n_series):
        a, b = int(ragged.indptr[s]), int(ragged.indptr[s + 1])
        if max_history is not None:
            a = max(a, b - int(max_history))
        if b - a < 1:
            continue
        t = relative_times(ragged.times[a:b], ragged.times[a], unit)
        m = ragged.mask[a:b]
        v = np.where(m, scaler.transform(ragged.values[a:b]), 0.0)
        out.append((t, v, m))
    return out


def choose_period_grid(
    setting,
    ragged: RaggedSeries,
    scaler: ValueScaler,
    unit: float,
    start: str,
    max_history=None,
    seed: int = 0,
) -> tuple[tuple[float, float, int] | None, dict]:
    """The period grid ``(f_min, df, n_freq)`` for the model (None: no periodic predictor)
    and what decided it: ``{"setting", "enabled", "period_min", "period_max", "n_freq",
    "n_series", "mse_periodic", "mse_history_mean", "ratio"}`` (scaled units, the
    held-out check of :func:`~itnet_ts.model.periodic.periodic_holdout_check`)."""
    info: dict = {"setting": setting, "enabled": False}
    if setting is False:
        return None, info
    if start == "persistence":  # "mix", or "auto" (its mix candidate gets the predictor)
        if setting is True:
            raise ITNetInputError(
                "periodic=True needs start='mix' or 'auto' (the periodic predictor is one of "
                "the mix's predictors).",
                param="periodic",
                value=setting,
                hint="Use start='auto' or 'mix', or periodic='auto' / False.",
            )
        return None, info
    series = _series_arrays(ragged, scaler, unit, max_history)
    spans = np.array([t[-1] - t[0] for t, _, _ in series])
    gaps = np.concatenate([np.diff(t) for t, _, _ in series] or [np.zeros(0)])
    grid = frequency_grid(spans, gaps)
    if grid is None:
        info["reason"] = "no series with a positive time span"
        return None, info
    f_min, df, n_freq = grid
    info.update(period_min=1.0 / (f_min + df * (n_freq - 1)), period_max=1.0 / f_min, n_freq=n_freq)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(series))[:MAX_CHECK_SERIES]
    # the check's search costs about (observations x frequencies): stop at a budget of
    # CHECK_BUDGET (a few seconds), but score at least MIN_CHECK_SERIES series
    cost = np.cumsum([int(series[i][2].sum()) * n_freq for i in order])
    n_pick = max(MIN_CHECK_SERIES, int(np.searchsorted(cost, CHECK_BUDGET, side="right")))
    pick = np.sort(order[:n_pick])
    check = periodic_holdout_check([series[i] for i in pick], grid)
    info.update(check)
    on = setting is True or (check["n_series"] > 0 and check["ratio"] < AUTO_RATIO)
    info["enabled"] = bool(on)
    return (grid if on else None), info

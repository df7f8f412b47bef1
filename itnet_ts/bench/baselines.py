"""The simple forecasts of the benchmark (persistence, per-series history mean) and GRU-D's
input statistics. No torch here."""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["BASELINES", "baseline_predict", "channel_history_mean"]

#: The simple forecasts (names as in ``itnet_ts.datasets.protocol.baseline_forecast``).
BASELINES = ("persistence", "history_mean")


def channel_history_mean(split, scaler) -> np.ndarray:
    """(C,) mean of each variable over the split's history observations, in ``scaler``'s
    units (0 for a variable never observed in a history): GRU-D's ``x_mean``."""
    ragged, windows = split.ragged, split.windows
    rows = np.concatenate(
        [np.arange(a, b) for a, b in zip(windows.hist_start, windows.hist_end, strict=True)]
        or [np.zeros(0, np.int64)]
    )
    m = ragged.mask[rows]
    v = np.where(m, scaler.transform(ragged.values[rows]), 0.0)
    return v.sum(0) / np.maximum(m.sum(0), 1)


def baseline_predict(data, split: str, method: str) -> pl.DataFrame:
    """``unique_id, ds, variable, y_pred`` for every target row of ``data.split(split)``:
    ``"persistence"`` (the series' last history value of the variable) or ``"history_mean"``
    (the mean of its history values), falling back to the variable's mean over the training
    histories -- exactly :func:`itnet_ts.datasets.protocol.baseline_forecast`, which
    reproduces the published PhysioNet persistence numbers (ANCHORS.md section 1)."""
    from itnet_ts.datasets.protocol import baseline_forecast

    return baseline_forecast(data, split, method)

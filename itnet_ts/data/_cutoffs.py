"""Windows at given cutoffs: one window per series, history up to its cutoff, targets after it.

Used by ``ITNetForecaster.fit(cutoffs=...)`` for protocols with a fixed forecast cutoff per
series (e.g. PhysioNet 2012: 24 h of history, the rest to forecast).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import WindowSet, _targets_windows

__all__ = ["cutoff_windows"]


def cutoff_windows(ragged: RaggedSeries, cutoff: np.ndarray, horizon: float) -> WindowSet:
    """One window per series ``s`` with ``cutoff[s]`` (native time units): history = its points
    at or before the cutoff, queries = every observed entry in ``(cutoff, cutoff + horizon]``.
    Series with no history point or no target are left out."""
    series, cut_points, tgt_ends = [], [], []
    for s in range(ragged.n_series):
        a, b = int(ragged.indptr[s]), int(ragged.indptr[s + 1])
        t = ragged.times[a:b]
        k = int(np.searchsorted(t, cutoff[s], side="right"))  # points <= cutoff
        e = int(np.searchsorted(t, cutoff[s] + horizon, side="right"))
        if k == 0 or not ragged.mask[a + k : a + e].any():
            continue
        series.append(s)
        cut_points.append(a + k - 1)
        tgt_ends.append(a + e)
    series = np.asarray(series, np.int64)
    windows = _targets_windows(
        ragged,
        series,
        ragged.starts()[series],
        np.asarray(cut_points, np.int64),
        np.asarray(tgt_ends, np.int64),
    )
    return dataclasses.replace(windows, cutoff=np.asarray(cutoff, ragged.times.dtype)[series])

"""Windows at given cutoffs: one window per series, history up to its cutoff, targets after it.

Used by ``ITNetForecaster.fit(cutoffs=...)`` for protocols with a fixed forecast cutoff per
series (e.g. PhysioNet 2012: 24 h of history, the rest to forecast).
"""

from __future__ import annotations

import numpy as np

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import WindowSet

__all__ = ["cutoff_windows"]


def cutoff_windows(ragged: RaggedSeries, cutoff: np.ndarray, horizon: float) -> WindowSet:
    """One window per series ``s`` with ``cutoff[s]`` (native time units): history = its points
    at or before the cutoff, queries = every observed entry in ``(cutoff, cutoff + horizon]``.
    Series with no history point or no target are left out."""
    series, hist_end, cuts, q_time, q_chan, q_target, q_futr, counts = ([] for _ in range(8))
    for s in range(ragged.n_series):
        a, b = int(ragged.indptr[s]), int(ragged.indptr[s + 1])
        t = ragged.times[a:b]
        k = int(np.searchsorted(t, cutoff[s], side="right"))  # points <= cutoff
        e = int(np.searchsorted(t, cutoff[s] + horizon, side="right"))
        if k == 0 or e <= k:
            continue
        pts, ch = np.nonzero(ragged.mask[a + k : a + e])
        if len(pts) == 0:
            continue
        pts = pts + a + k
        series.append(s)
        hist_end.append(a + k)
        cuts.append(cutoff[s])
        q_time.append(ragged.times[pts])
        q_chan.append(ch.astype(np.int64))
        q_target.append(ragged.values[pts, ch])
        if ragged.futr is not None:
            q_futr.append(ragged.futr[pts])
        counts.append(len(pts))
    series = np.asarray(series, np.int64)

    def cat(xs, dt):
        return np.concatenate(xs) if xs else np.zeros(0, dt)

    return WindowSet(
        series=series,
        hist_start=ragged.indptr[:-1][series].astype(np.int64),
        hist_end=np.asarray(hist_end, np.int64),
        cutoff=np.asarray(cuts, ragged.times.dtype),
        q_indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        q_time=cat(q_time, ragged.times.dtype),
        q_chan=cat(q_chan, np.int64),
        q_target=cat(q_target, np.float64),
        q_futr=None
        if ragged.futr is None
        else (np.concatenate(q_futr) if q_futr else np.zeros((0, ragged.futr.shape[1]))),
    )

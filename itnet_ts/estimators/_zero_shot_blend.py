"""Calibrating a zero-shot forecast on the history it is asked to forecast from (issue 13).

A pretrained network is good on average over its prior, not on a user's data: where the
history mean or persistence is the better forecast (a noisy stable level, a monotone growth
curve), the network alone can lose to it. Before a zero-shot ``predict(df=...)`` forecasts,
:func:`calibrate_zero_shot` backtests the network and the simple predictors on rolling-origin
windows over ``df``'s own series (cutoffs inside each history, the targets the observations
that follow within the forecast's lead) and fits, per channel and lead bucket, the convex
blend of them with the least squared error (``itnet_ts.model.blend``). Nothing is trained,
only the history is used, and the forecast is the network's wherever the backtest has too
few targets to say otherwise.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import torch

from itnet_ts.data._windows import relative_times, rolling_windows, select_windows
from itnet_ts.estimators._batches import predict_windows
from itnet_ts.model.baselines import N_PREDICTORS_V2, PREDICTORS
from itnet_ts.model.blend import (
    PredictorBlend,
    blend_components,
    lead_bucket_weights,
    query_leads,
)

__all__ = ["BLEND_COMPONENTS", "calibrate_zero_shot", "query_horizon"]

#: the blend's components: the network's median, then the simple predictors
BLEND_COMPONENTS = ("network", *PREDICTORS[:N_PREDICTORS_V2])
#: backtest windows: about this many per series, but at least / at most the bounds below
#: (evenly spread over the series and their histories): bounds the calibration's cost at a few
#: zero-shot forecasts of that many windows (256 took about 0.5 s on the bundled sample, one
#: CPU thread)
WINDOWS_PER_SERIES = 4
MIN_BACKTEST_WINDOWS = 128
MAX_BACKTEST_WINDOWS = 512
#: windows per series at most
MAX_PER_SERIES = 16
#: pseudo-targets of the shrinkage (a channel's weights towards the pooled ones, those towards
#: the network alone): with fewer backtest targets than this the network keeps most weight.
#: Chosen on benchmarks/zero_shot_blend_dev.py (10 and 50 level there; cross-validating it
#: over folds of series was no better)
SHRINK_TARGETS = 50.0
#: backtest cutoffs only in the last this fraction of each series' time span: the forecast is
#: made at the series' end, with most of its history behind it (early cutoffs, with little
#: history, favour the global mean over the series' own history mean)
LATE_FRACTION = 0.5
#: lead buckets with weights of their own (boundaries at the quantiles of the backtest leads;
#: each bucket's weights shrunk towards its channel's); 1: one set of weights per channel
LEAD_BUCKETS = 3


def query_horizon(ragged, q_series: np.ndarray, q_time: np.ndarray) -> float:
    """The longest lead of the queries after their series' last observation (native units)."""
    if len(q_time) == 0:
        return 0.0
    last = ragged.last_times()[q_series]
    return float(np.max(relative_times(q_time, last, 1.0)))


def calibrate_zero_shot(network, ragged, scaler, unit: float, horizon: float, max_history,
                        batch_size: int, device) -> tuple[PredictorBlend, dict]:  # fmt: skip
    """``network`` blended with the simple predictors, weights fitted on backtests of
    ``ragged`` at leads up to ``horizon`` (native units) -> (model, summary).

    The summary: ``n_windows``, ``n_targets`` and, pooled over channels and per channel,
    the backtest MSE (scaled units) of the network, persistence, the history mean and the
    blend (in-sample: the blend's weights were fitted on these targets), and the weights."""
    windows = _backtest_windows(ragged, horizon)
    C, M = len(ragged.channels), len(BLEND_COMPONENTS)
    if windows is None:
        weights = np.zeros((C, M))
        weights[:, 0] = 1.0
        return PredictorBlend(network, weights).to(device), {"n_windows": 0, "n_targets": 0}
    out = predict_windows(
        _Components(network, M - 1), ragged, windows, scaler, unit, batch_size, max_history, device
    )  # (T, M + 1): the components, then the lead
    y = windows.q_target
    known = np.isfinite(y)
    chan = windows.q_chan[known]
    comp, lead, y = out[known, :-1], out[known, -1], scaler.transform(y[known], chan)
    edges = np.quantile(lead, np.arange(1, LEAD_BUCKETS) / LEAD_BUCKETS)  # empty for one bucket
    bucket = np.searchsorted(edges, lead, side="right")
    weights, pooled = lead_bucket_weights(comp, y, chan, bucket, C, LEAD_BUCKETS, SHRINK_TARGETS)
    blend = PredictorBlend(network, weights, edges).to(device)
    summary = _summary(ragged.channels, windows, comp, y, chan, weights[chan, bucket], weights,
                       pooled)  # fmt: skip
    summary["lead_edges"] = blend.lead_edges.tolist()
    return blend, summary


def _backtest_windows(ragged, horizon: float):
    """Rolling-origin windows over ``ragged`` (``rolling_windows``), at most
    :data:`WINDOWS_PER_SERIES` per series (within the bounds), evenly spread; None where
    there is none."""
    if not horizon > 0:
        return None
    n_max = int(np.clip(WINDOWS_PER_SERIES * ragged.n_series, MIN_BACKTEST_WINDOWS,
                        MAX_BACKTEST_WINDOWS))  # fmt: skip
    per_series = int(min(MAX_PER_SERIES, max(1, math.ceil(n_max / ragged.n_series))))
    windows = rolling_windows(ragged, horizon, per_series, LATE_FRACTION)
    if len(windows) > n_max:
        idx = np.unique(np.round(np.linspace(0, len(windows) - 1, n_max)))
        windows = select_windows(windows, idx.astype(np.int64))
    return windows if len(windows) else None


class _Components:
    """``predict_windows``' view of ``network``: outputs its median, the first ``k`` simple
    predictors and the lead (B, Q, 1 + k + 1)."""

    def __init__(self, network, k: int):
        self.network, self.k = network, k
        self.cfg = SimpleNamespace(n_outputs=k + 2)

    def eval(self):
        self.network.eval()
        return self

    def __call__(self, batch):
        comp = blend_components(self.network, batch, self.k)
        return torch.cat([comp, query_leads(batch).to(comp.dtype)[..., None]], dim=-1)


def _summary(channels, windows, comp, y, chan, w_target, weights, pooled) -> dict:
    names = ("network", "persistence", "history_mean")
    cols = [0, 1 + PREDICTORS.index("last_value"), 1 + PREDICTORS.index("history_mean")]
    err = {k: (comp[:, i] - y) ** 2 for k, i in zip(names, cols, strict=True)}
    err["blend"] = ((w_target * comp).sum(1) - y) ** 2

    def scores(sel) -> dict:
        return {k: float(e[sel].mean()) if sel.any() else math.nan for k, e in err.items()}

    per_channel = {}
    for c, name in enumerate(channels):
        sel = chan == c
        per_channel[str(name)] = {
            "n_targets": int(sel.sum()),
            "mse": scores(sel),
            "weights": _named(weights[c]),
        }
    return {
        "n_windows": len(windows),
        "n_targets": len(y),
        "mse": scores(np.ones(len(y), bool)),
        "pooled_weights": _named(pooled),
        "per_channel": per_channel,
    }


def _named(w: np.ndarray):
    """{component: weight}, or a list of them (one per lead bucket) for (L, M) weights."""
    if w.ndim == 2:
        return [_named(row) for row in w]
    return dict(zip(BLEND_COMPONENTS, np.round(w, 4).tolist(), strict=True))

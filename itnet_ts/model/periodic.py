"""The periodic predictor: each series' period found from its own history, a harmonic fit per
channel, extrapolated to the queries (light curves and other signals observed far more sparsely
than their period, over many cycles).

Per window: the multiband Lomb-Scargle peak (:func:`itnet_ts.ops.periodogram.best_frequency`)
on the grid of ``ITNetConfig`` (``period_min`` .. ``period_max``, ``n_periods`` frequencies
equally spaced in 1/period) gives one frequency ``f`` per series; each channel then gets a
least-squares fit ``y ~ a + sum_k (b_k cos 2 pi k f t + c_k sin 2 pi k f t)``, ``k = 1..H``
(``N_HARMONICS``), with a ridge penalty growing with ``k``. The fit lives in its normal
equations, kept like the mix's running sums (:mod:`itnet_ts.model.baselines`) in the frame of the
series' last observation: ``stats`` (B, C, N_STATS) = [f, g (P), G (P x P), yy] with
``P = 2 H + 1``, ``g = sum phi(t) y``, ``G = sum phi(t) phi(t)^T``, ``yy = sum y^2``. A new
observation rotates the frame (``G <- A G A^T``, ``g <- A g``, one 2x2 rotation per harmonic)
and adds its own term: O(C P^2) per step, the frequency kept (re-encoding searches again).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from itnet_ts.ops.periodogram import best_frequency

__all__ = [
    "MIN_OBS",
    "N_HARMONICS",
    "N_STATS",
    "frequency_grid",
    "harmonic_predict",
    "harmonic_stats",
    "harmonic_step",
    "periodic_holdout_check",
]

N_HARMONICS = 3
P = 2 * N_HARMONICS + 1
N_STATS = 1 + P + P * P + 1
MIN_OBS = P + 3  # a channel needs this many observations for its fit (else: no prediction)
SEARCH_MIN_OBS = 5  # ... and this many to take part in the period search
RIDGE = 0.02  # ridge on harmonic k: RIDGE * k^2 * n (n the channel's observation count)
OVERSAMPLE = 4  # frequency step: 1 / (OVERSAMPLE x the longest typical history span)
MAX_FREQS = 32768
_TWO_PI = 2.0 * math.pi


def _basis(t: Tensor, freq: Tensor) -> Tensor:
    """phi(t) (..., P): [1, cos(2 pi k f t), sin(2 pi k f t) for k = 1..H]; freq broadcasts."""
    k = torch.arange(1, N_HARMONICS + 1, dtype=t.dtype, device=t.device)
    ang = _TWO_PI * (freq * t)[..., None] * k  # (..., H)
    cs = torch.stack([torch.cos(ang), torch.sin(ang)], dim=-1).flatten(-2)  # (..., 2H)
    return torch.cat([torch.ones_like(t)[..., None], cs], dim=-1)


def harmonic_stats(
    values: Tensor, mask: Tensor, valid: Tensor, tau: Tensor, tau_last: Tensor, grid: tuple
) -> Tensor:
    """Search each row's frequency and sum its normal equations -> stats (B, C, N_STATS).
    A row where no channel has ``SEARCH_MIN_OBS`` observations (and some spread) gets
    frequency 0, which ``step`` keeps: no periodic prediction until the series is re-encoded.

    values, mask (B, N, C); valid (B, N); tau (B, N); tau_last (B,); grid ``(f_min, df,
    n_freq)`` in cycles per time unit. Computed in float64, returned in ``values.dtype``.
    """
    f_min, df, n_freq = grid
    t = (tau.double() - tau_last.double()[:, None]) * valid  # (B, N), frame of the last point
    freq_np = best_frequency(
        t.cpu().numpy(),
        values.detach().cpu().double().numpy(),
        mask.detach().cpu().numpy(),
        valid.cpu().numpy(),
        f_min,
        df,
        n_freq,
        min_obs=SEARCH_MIN_OBS,
        n_harm=N_HARMONICS,
    )
    freq = torch.from_numpy(freq_np).to(values.device)  # (B,) float64
    phi = _basis(t, freq[:, None])  # (B, N, P)
    m = (mask * valid[..., None].to(mask.dtype)).double()  # (B, N, C)
    y = values.double() * m
    g = torch.einsum("bnp,bnc->bcp", phi, y)
    G = torch.einsum("bnp,bnq,bnc->bcpq", phi, phi, m)
    yy = (y * y).sum(1)  # (B, C)
    B, C = yy.shape
    f = freq[:, None, None].expand(B, C, 1)
    out = torch.cat([f, g, G.reshape(B, C, P * P), yy[..., None]], dim=-1)
    return out.to(values.dtype)


def _unpack(stats: Tensor):
    B, C = stats.shape[:2]
    f = stats[..., 0]
    g = stats[..., 1 : 1 + P]
    G = stats[..., 1 + P : 1 + P + P * P].reshape(B, C, P, P)
    return f, g, G, stats[..., -1]


def harmonic_step(stats: Tensor, dtau: Tensor, values: Tensor, mask: Tensor) -> Tensor:
    """Fold one new time point, ``dtau`` (B,) after the last one, into ``stats`` (B, C,
    N_STATS); values, mask (B, C). The frequency stays; the frame moves to the new point."""
    f, g, G, yy = _unpack(stats)
    k = torch.arange(1, N_HARMONICS + 1, dtype=stats.dtype, device=stats.device)
    ang = _TWO_PI * (f * dtau[:, None])[..., None] * k  # (B, C, H)
    c, s = torch.cos(ang), torch.sin(ang)
    # phi(t - d) = A phi(t): per harmonic [cos; sin] -> [[c, s], [-s, c]] [cos; sin]
    A = torch.zeros(*f.shape, P, P, dtype=stats.dtype, device=stats.device)
    A[..., 0, 0] = 1.0
    for h in range(N_HARMONICS):
        i = 1 + 2 * h
        A[..., i, i], A[..., i, i + 1] = c[..., h], s[..., h]
        A[..., i + 1, i], A[..., i + 1, i + 1] = -s[..., h], c[..., h]
    g = torch.einsum("bcpq,bcq->bcp", A, g)
    G = A @ G @ A.transpose(-1, -2)
    phi0 = torch.zeros(P, dtype=stats.dtype, device=stats.device)
    phi0[0] = 1.0  # t = 0: [1, cos 0 = 1, sin 0 = 0, cos 0, sin 0, ...]
    phi0[1::2] = 1.0
    v = values * mask
    g = g + v[..., None] * phi0
    G = G + mask[..., None, None] * torch.outer(phi0, phi0)
    yy = yy + v * v
    B, C = yy.shape
    return torch.cat([f[..., None], g, G.reshape(B, C, P * P), yy[..., None]], dim=-1)


def harmonic_predict(stats: Tensor, q_chan: Tensor, lead: Tensor) -> tuple[Tensor, Tensor]:
    """The harmonic fit of each query's channel at ``lead`` (B, Q) after the last observation
    -> (prediction (B, Q), ok (B, Q) bool, fit quality (B, Q) = log of the residual variance
    over the variance about the mean, in-sample, 0 where not ok)."""
    f, g, G, yy = (x.double() for x in _unpack(stats))
    n = G[..., 0, 0]  # (B, C) observation count
    k = torch.arange(1, N_HARMONICS + 1, dtype=G.dtype, device=G.device)
    pen = torch.cat([torch.zeros(1, dtype=G.dtype, device=G.device), (k * k).repeat_interleave(2)])
    ridge = torch.diag_embed(RIDGE * n[..., None] * pen + 1e-6 * (1 + n[..., None]))
    coef = torch.linalg.solve(G + ridge, g[..., None])[..., 0]  # (B, C, P)
    resid = yy - 2 * (coef * g).sum(-1) + torch.einsum("bcp,bcpq,bcq->bc", coef, G, coef)
    spread = yy - g[..., 0] ** 2 / n.clamp(min=1)
    ok_c = (f > 0) & (n >= MIN_OBS) & (spread > 1e-9 * (1 + yy))
    quality = torch.log((resid.clamp(min=0) + 1e-6) / spread.clamp(min=1e-9))
    gather = lambda x: x.gather(1, q_chan)  # noqa: E731
    fq = gather(f)
    cq = coef.gather(1, q_chan[..., None].expand(-1, -1, P))  # (B, Q, P)
    pred = (_basis(lead.double(), fq) * cq).sum(-1)
    ok = gather(ok_c)
    dt = stats.dtype
    return (
        torch.where(ok, pred, 0.0).to(dt),
        ok,
        torch.where(ok, gather(quality), 0.0).to(dt),
    )


def frequency_grid(spans: np.ndarray, gaps: np.ndarray, period_min=None, period_max=None):
    """The search grid ``(f_min, df, n_freq)`` for histories of typical ``spans`` and
    consecutive ``gaps`` (time units, positive): periods from ``period_min`` (default a 25th of
    the median gap: signals observed far more sparsely than their period) to ``period_max``
    (default half the typical span), frequency step ``1 / (OVERSAMPLE x the 90th percentile
    span)``, at most ``MAX_FREQS`` frequencies (the shortest periods go first)."""
    spans = np.asarray(spans, np.float64)
    gaps = np.asarray(gaps, np.float64)
    spans, gaps = spans[spans > 0], gaps[gaps > 0]
    if len(spans) == 0 or len(gaps) == 0:
        return None
    t90 = float(np.quantile(spans, 0.9))
    df = 1.0 / (OVERSAMPLE * t90)
    f_min = 1.0 / period_max if period_max else 2.0 / float(np.median(spans))
    f_max = 1.0 / period_min if period_min else 25.0 / float(np.median(gaps))
    f_min = max(f_min, df)
    if f_max <= f_min:
        return None
    n_freq = int(min(MAX_FREQS, math.floor((f_max - f_min) / df) + 1))
    return float(f_min), float(df), n_freq


def periodic_holdout_check(series: list, grid: tuple, split: float = 0.7) -> dict:
    """Does the periodic predictor forecast these series better than their history mean?

    ``series``: (t (n,), values (n, C) scaled, mask (n, C)) per series. Each is cut at
    ``split`` of its time points: the period search and harmonic fit on the first part, both
    predictors scored on the rest. Returns ``{"n_series", "mse_periodic", "mse_history_mean",
    "ratio"}`` (pooled over the scored entries; ratio NaN if none).
    """
    se_p = se_m = 0.0
    n_pts = n_used = 0
    for t, v, m in series:
        n = len(t)
        cut = int(split * n)
        if cut < MIN_OBS or n - cut < 1:
            continue
        th = torch.from_numpy(np.asarray(t[:cut], np.float64))[None]
        vh = torch.from_numpy(np.where(m[:cut], v[:cut], 0.0))[None]
        mh = torch.from_numpy(m[:cut].astype(np.float64))[None]
        valid = torch.ones(th.shape, dtype=torch.bool)
        st = harmonic_stats(vh, mh, valid, th, th[:, -1], grid)
        fut_m = m[cut:]
        rows, chans = np.nonzero(fut_m)
        if len(rows) == 0:
            continue
        lead = torch.from_numpy(np.asarray(t[cut:], np.float64)[rows] - float(t[cut - 1]))[None]
        pred, ok, _ = harmonic_predict(st, torch.from_numpy(chans)[None], lead)
        hist_mean = vh[0].sum(0) / mh[0].sum(0).clamp(min=1)
        mean_pred = hist_mean[chans].numpy()
        p = np.where(ok[0].numpy(), pred[0].numpy(), mean_pred)
        y = v[cut:][rows, chans]
        se_p += float(((p - y) ** 2).sum())
        se_m += float(((mean_pred - y) ** 2).sum())
        n_pts += len(y)
        n_used += 1
    if n_pts == 0:
        return {
            "n_series": 0,
            "mse_periodic": math.nan,
            "mse_history_mean": math.nan,
            "ratio": math.nan,
        }
    return {
        "n_series": n_used,
        "mse_periodic": se_p / n_pts,
        "mse_history_mean": se_m / n_pts,
        "ratio": se_p / max(se_m, 1e-300),
    }

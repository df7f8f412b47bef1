"""Period search for irregularly sampled series: the multiband generalised Lomb-Scargle peak.

For each batch row (one series' history), every channel with at least ``min_obs`` observations
gets the generalised (floating-mean) Lomb-Scargle power at each frequency of the grid
``f_k = f_min + k * df`` (``k < n_freq``): the fraction of the channel's variance that a
sinusoid at ``f_k`` (plus a constant) explains. The row's frequency is the one with the
largest sum of powers over its channels (one period shared by the channels: a multiband
search, as for light curves seen in several bands). Rows where no channel qualifies get 0.
Optionally the peak is then refined, within one grid step, by a fit with harmonics (a
non-sinusoidal shape pulls the one-sinusoid peak off the true frequency).

``best_frequency_reference`` is the spec (numpy, every ``cos`` / ``sin`` evaluated);
``best_frequency`` is the numba kernel (the phases advance by one complex rotation per
frequency step, re-anchored every ``_ANCHOR`` steps), same result up to rounding.
Shapes: tau (B, N) float, values / mask (B, N, C), valid (B, N) -> (B,) float64 frequency in
cycles per unit of ``tau``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["best_frequency", "best_frequency_reference", "gls_power"]

_ANCHOR = 256  # recompute the phases exactly every this many frequency steps
_REFINE = 8  # refinement: this many steps on each side of the peak, within one grid step
_TWO_PI = 2.0 * math.pi


@njit(cache=True)
def _gls(n, sc, ss, sc2, ss2, syc, sys_, yy):
    """Generalised Lomb-Scargle power from the sums over one channel's n observations of cos,
    sin, cos 2wt, sin 2wt, y cos, y sin (y centred) and y^2 (centred)."""
    cc = 0.5 * (n + sc2) - sc * sc / n
    s2 = 0.5 * (n - sc2) - ss * ss / n
    cs = 0.5 * ss2 - sc * ss / n
    det = cc * s2 - cs * cs
    if det <= 1e-12 * n * n or yy <= 0.0:
        return 0.0
    return (s2 * syc * syc + cc * sys_ * sys_ - 2.0 * cs * syc * sys_) / (det * yy)


@njit(cache=True)
def _search_row(t, y, ch, n_ch, f_min, df, n_freq, min_obs):
    n_obs = t.shape[0]
    cnt = np.zeros(n_ch)
    tot = np.zeros(n_ch)
    for j in range(n_obs):
        cnt[ch[j]] += 1.0
        tot[ch[j]] += y[j]
    yc = np.empty(n_obs)
    yy = np.zeros(n_ch)
    for j in range(n_obs):
        c = ch[j]
        yc[j] = y[j] - tot[c] / max(cnt[c], 1.0)
        yy[c] += yc[j] * yc[j]
    use = (cnt >= min_obs) & (yy > 0.0)
    if not use.any():
        return 0.0
    zr = np.empty(n_obs)
    zi = np.empty(n_obs)
    dr = np.empty(n_obs)
    di = np.empty(n_obs)
    for j in range(n_obs):
        dr[j] = math.cos(_TWO_PI * df * t[j])
        di[j] = math.sin(_TWO_PI * df * t[j])
    sums = np.zeros((n_ch, 6))
    best, best_f = -1.0, 0.0
    for k in range(n_freq):
        f = f_min + k * df
        if k % _ANCHOR == 0:
            for j in range(n_obs):
                zr[j] = math.cos(_TWO_PI * f * t[j])
                zi[j] = math.sin(_TWO_PI * f * t[j])
        sums[:] = 0.0
        for j in range(n_obs):
            c, s = zr[j], zi[j]
            r = sums[ch[j]]
            r[0] += c
            r[1] += s
            r[2] += c * c - s * s
            r[3] += 2.0 * c * s
            r[4] += yc[j] * c
            r[5] += yc[j] * s
            zr[j], zi[j] = c * dr[j] - s * di[j], c * di[j] + s * dr[j]
        p = 0.0
        for c in range(n_ch):
            if use[c]:
                r = sums[c]
                p += _gls(cnt[c], r[0], r[1], r[2], r[3], r[4], r[5], yy[c])
        if p > best:
            best, best_f = p, f
    return best_f


@njit(cache=True)
def _refine_row(t, y, ch, n_ch, f0, df, n_harm, min_obs):
    """The frequency within ``f0 +- df`` (``_REFINE`` steps a side) whose ``n_harm``-harmonic
    least-squares fit explains the most variance (summed over channels, as the search)."""
    n_obs = t.shape[0]
    P = 2 * n_harm + 1
    cnt = np.zeros(n_ch)
    for j in range(n_obs):
        cnt[ch[j]] += 1.0
    best, best_f = -1.0, f0
    phi = np.empty(P)
    for step in range(-_REFINE, _REFINE + 1):
        f = f0 + df * step / _REFINE
        if f <= 0.0:
            continue
        G = np.zeros((n_ch, P, P))
        g = np.zeros((n_ch, P))
        yy = np.zeros(n_ch)
        for j in range(n_obs):
            phi[0] = 1.0
            for k in range(1, n_harm + 1):
                a = _TWO_PI * k * f * t[j]
                phi[2 * k - 1] = math.cos(a)
                phi[2 * k] = math.sin(a)
            c = ch[j]
            for p in range(P):
                g[c, p] += phi[p] * y[j]
                for q in range(P):
                    G[c, p, q] += phi[p] * phi[q]
            yy[c] += y[j] * y[j]
        total = 0.0
        for c in range(n_ch):
            if cnt[c] < min_obs:
                continue
            spread = yy[c] - g[c, 0] * g[c, 0] / cnt[c]
            if not spread > 0.0 or not np.isfinite(G[c]).all():  # NaN inputs: skip the channel
                continue
            A = G[c] + 1e-9 * (1.0 + cnt[c]) * np.eye(P)
            coef = np.linalg.solve(A, g[c])
            rss = yy[c] - np.dot(coef, g[c])
            total += 1.0 - max(rss, 0.0) / spread
        if total > best:
            best, best_f = total, f
    return best_f


@njit(cache=True)
def _search(tau, values, mask, valid, f_min, df, n_freq, min_obs, n_harm):
    B, N, C = values.shape
    out = np.zeros(B)
    for b in range(B):
        n_obs = 0
        for i in range(N):
            if valid[b, i]:
                for c in range(C):
                    if mask[b, i, c] > 0:
                        n_obs += 1
        t = np.empty(n_obs)
        y = np.empty(n_obs)
        ch = np.empty(n_obs, np.int64)
        j = 0
        for i in range(N):
            if valid[b, i]:
                for c in range(C):
                    if mask[b, i, c] > 0:
                        t[j], y[j], ch[j] = tau[b, i], values[b, i, c], c
                        j += 1
        f = _search_row(t, y, ch, C, f_min, df, n_freq, min_obs)
        if f > 0.0 and n_harm > 1 and n_freq > 1:  # a grid of one frequency fixes it
            f = _refine_row(t, y, ch, C, f, df, n_harm, max(min_obs, 2.0 * n_harm + 2.0))
        out[b] = f
    return out


def _prepare(tau, values, mask, valid):
    return (
        np.ascontiguousarray(tau, np.float64),
        np.ascontiguousarray(values, np.float64),
        np.ascontiguousarray(mask, np.float64),
        np.ascontiguousarray(valid, np.bool_),
    )


def best_frequency(tau, values, mask, valid, f_min, df, n_freq, min_obs=5, n_harm=1) -> np.ndarray:
    """The multiband Lomb-Scargle peak of each row -> (B,) (numba). With ``n_harm > 1`` the
    peak is then refined within one grid step either side by the ``n_harm``-harmonic fit
    (channels with at least ``max(min_obs, 2 n_harm + 2)`` observations); a grid of one
    frequency is never refined (it fixes the frequency)."""
    if n_freq < 1 or not df > 0 or not f_min > 0:
        raise ValueError(
            f"frequency grid needs f_min > 0, df > 0, n_freq >= 1; got {f_min}, {df}, {n_freq}"
        )
    args = _prepare(tau, values, mask, valid)
    return _search(*args, float(f_min), float(df), int(n_freq), float(min_obs), int(n_harm))


def gls_power(t: np.ndarray, y: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Generalised Lomb-Scargle power of one channel (t, y (n,)) at ``freqs`` (F,) -> (F,):
    1 - (residual sum of squares of y ~ a + b cos + c sin) / (sum of squares about the mean),
    by least squares (the definition; slow)."""
    yc = y - y.mean()
    yy = float(yc @ yc)
    out = np.zeros(len(freqs))
    if yy <= 0 or len(t) < 3:
        return out
    for k, f in enumerate(freqs):
        X = np.stack([np.ones_like(t), np.cos(_TWO_PI * f * t), np.sin(_TWO_PI * f * t)], 1)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        r = y - X @ coef
        out[k] = 1.0 - float(r @ r) / yy
    return out


def best_frequency_reference(tau, values, mask, valid, f_min, df, n_freq, min_obs=5):
    """The spec of :func:`best_frequency`: least-squares powers at every grid frequency."""
    tau, values, mask, valid = _prepare(tau, values, mask, valid)
    freqs = f_min + df * np.arange(n_freq)
    out = np.zeros(tau.shape[0])
    for b in range(tau.shape[0]):
        total = np.zeros(n_freq)
        any_used = False
        for c in range(values.shape[2]):
            m = valid[b] & (mask[b, :, c] > 0)
            if m.sum() >= min_obs and np.ptp(values[b, m, c]) > 0:
                total += gls_power(tau[b, m], values[b, m, c], freqs)
                any_used = True
        out[b] = freqs[int(np.argmax(total))] if any_used else 0.0
    return out

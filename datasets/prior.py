"""The synthetic prior the pretrained ITNet learns from (issue 13).

:func:`draw_prior` draws a group of irregularly sampled series with a shared number of channels
from a broad generative prior. Time is in units of the mean gap (the network is unit-free, so
the unit does not matter). Each series has 1-3 latent factors, each a random sum of

* a trend (linear plus curvature),
* a periodic signal (1-3 harmonics, period log-uniform from 2 gaps to twice the series),
* a smooth Gaussian-process-like wander (random Fourier features, length scale log-uniform
  from half a gap to the whole series),
* a random walk (Brownian motion, the regime where the last value is the best forecast),
* level shifts at Poisson times,
* decaying impulses (damped oscillations after random kicks);

each channel mixes the factors with random weights, plus an own component with some
probability, then gets an offset, a scale in [0.3, 3] and observation noise from none to
dominant. Sampling: Poisson, near-regular with jitter, bursts separated by long gaps, or
clustered visits; 4 to ~500 time stamps per series; each channel is observed at a stamp with
its own probability (a stamp sees at least one channel), so channels are asynchronous.

None of :mod:`itnet_ts.datasets.synthetic`'s families is drawn here: they are held out for
the zero-shot evaluation (``benchmarks/pretrain_eval.py``).
"""

from __future__ import annotations

import numpy as np

from itnet_ts.data._ragged import RaggedSeries

__all__ = ["draw_prior"]

_TWO_PI = 2.0 * np.pi


def _stamps(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` sorted time stamps with mean gap about 1, in one of four sampling patterns."""
    kind = rng.integers(4)
    if kind == 0:  # Poisson
        t = np.cumsum(rng.exponential(1.0, n))
    elif kind == 1:  # near-regular with jitter
        t = np.arange(n) + rng.uniform(-0.4, 0.4, n) * rng.uniform(0, 1)
    elif kind == 2:  # bursts: dense runs separated by long gaps
        size = max(2, int(rng.integers(2, 12)))
        gaps = np.where(np.arange(n) % size == 0, rng.exponential(size, n), rng.exponential(0.1, n))
        t = np.cumsum(gaps)
    else:  # clustered visits of varying density
        rate = np.exp(np.cumsum(rng.normal(0, 0.3, n)))
        t = np.cumsum(rng.exponential(1.0, n) / rate)
    t = np.sort(t - t[0])
    t = t * (n / max(t[-1], 1e-9))  # mean gap 1
    keep = np.ones(n, bool)
    keep[1:] = np.diff(t) > 1e-6
    return t[keep]


def _component(rng: np.random.Generator, t: np.ndarray, span: float) -> np.ndarray:
    """One random latent signal at times ``t`` (``span``: the series' duration)."""
    u = 2.0 * t / max(span, 1e-9) - 1.0
    out = np.zeros_like(t)
    if rng.random() < 0.4:  # trend
        out += rng.normal(0, 1) * u + rng.normal(0, 0.4) * u**2
    if rng.random() < 0.5:  # periodic
        period = np.exp(rng.uniform(np.log(2.0), np.log(2 * span + 3)))
        for k in range(1, int(rng.integers(1, 4)) + 1):
            out += rng.normal(0, 1 / k) * np.sin(_TWO_PI * k * t / period + rng.uniform(0, 7))
    if rng.random() < 0.5:  # smooth wander (random Fourier features of an RBF kernel)
        ell = np.exp(rng.uniform(np.log(0.5), np.log(span + 2)))
        w = rng.normal(0, 1 / ell, 24)
        out += (rng.normal(0, 1, 24) * np.cos(np.outer(t, w) + rng.uniform(0, 7, 24))).sum(1) / 3.5
    if rng.random() < 0.35:  # random walk
        dt = np.diff(t, prepend=t[0])
        out += np.cumsum(rng.normal(0, 1, len(t)) * np.sqrt(dt)) / np.sqrt(span / 4 + 1)
    if rng.random() < 0.25:  # level shifts
        k = rng.poisson(2) + 1
        at = np.sort(rng.uniform(0, span, k))
        out += rng.normal(0, 1, k + 1)[np.searchsorted(at, t)]
    if rng.random() < 0.15:  # decaying, oscillating impulses
        for k_t in rng.uniform(0, span, rng.poisson(2) + 1):
            lag = np.clip(t - k_t, 0, None)
            tau, per = np.exp(rng.uniform(0, np.log(span + 2), 2))
            out += rng.normal(0, 1) * (t >= k_t) * np.exp(-lag / tau) * np.cos(_TWO_PI * lag / per)
    if not out.any():
        out += rng.normal(0, 1) * u
    return out


def _series(rng: np.random.Generator, n_channels: int, max_stamps: int):
    """(times (n,), values (n, C), mask (n, C)) of one series."""
    n = int(np.exp(rng.uniform(np.log(4), np.log(max_stamps))))
    t = _stamps(rng, n)
    n, span = len(t), float(t[-1] - t[0]) + 1.0
    K = int(rng.integers(1, 4))
    factors = np.stack([_component(rng, t, span) for _ in range(K)], 1)  # (n, K)
    factors /= factors.std(0, keepdims=True) + 1e-9
    W = rng.normal(0, 1, (K, n_channels))
    sig = factors @ W  # (n, C)
    own = rng.random(n_channels) < 0.4
    for c in np.flatnonzero(own):
        x = _component(rng, t, span)
        sig[:, c] += x / (x.std() + 1e-9) * rng.uniform(0.2, 1.0)
    sig /= sig.std(0, keepdims=True) + 1e-9
    noise = np.where(rng.random(n_channels) < 0.15, 0.0, np.exp(rng.uniform(-4, 0.7, n_channels)))
    vals = sig + noise * rng.normal(0, 1, sig.shape)
    vals = (
        rng.normal(0, 1, n_channels)
        + np.exp(rng.uniform(np.log(0.3), np.log(3), n_channels)) * vals
    )
    p = rng.uniform(0.15, 1.0, n_channels) if rng.random() < 0.6 else np.ones(n_channels)
    mask = rng.random((n, n_channels)) < p
    empty = ~mask.any(1)
    mask[empty, rng.integers(0, n_channels, int(empty.sum()))] = True
    return t, np.where(mask, vals, 0.0), mask


def draw_prior(
    rng: np.random.Generator, n_series: int, n_channels: int, max_stamps: int = 500
) -> RaggedSeries:
    """``n_series`` series of ``n_channels`` channels from the prior (module docstring)."""
    parts = [_series(rng, n_channels, max_stamps) for _ in range(n_series)]
    lengths = [len(p[0]) for p in parts]
    return RaggedSeries(
        ids=np.array([f"prior{i}" for i in range(n_series)], dtype=object),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        times=np.concatenate([p[0] for p in parts]).astype(np.float64),
        values=np.concatenate([p[1] for p in parts]),
        mask=np.concatenate([p[2] for p in parts]),
        channels=tuple(f"c{c}" for c in range(n_channels)),
    )

"""The families of :func:`~itnet_ts.datasets.synthetic.make_irregular` (described in that
module's docstring): how each draws its sampling times and its noise-free signal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_TWO_PI = 2.0 * np.pi


# --------------------------------------------------------------------------- sampling
def _poisson_counts(rng: np.random.Generator, lam: np.ndarray, min_count: int) -> np.ndarray:
    return np.maximum(rng.poisson(lam), min_count).astype(np.int64)


def _uniform_times(
    rng: np.random.Generator, counts: np.ndarray, length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson-process times given counts: ``counts[i]`` uniform points on [0, length)."""
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    t = rng.uniform(0.0, length, owner.size)
    return owner, t


def _shared_stamps(
    rng: np.random.Generator,
    sid: np.ndarray,
    t: np.ndarray,
    n_series: int,
    n_channels: int,
    p_lo: float,
    p_hi: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand time stamps into observations: channel ``c`` of series ``i`` is seen at a stamp
    with probability ``p[i, c]``; a stamp that would see nothing sees one random channel."""
    p = rng.uniform(p_lo, p_hi, (n_series, n_channels))
    seen = rng.random((t.size, n_channels)) < p[sid]
    empty = ~seen.any(axis=1)
    forced = rng.integers(0, n_channels, t.size)
    seen[empty, forced[empty]] = True
    rows, ch = np.nonzero(seen)
    return sid[rows], ch.astype(np.int64), t[rows]


def _stamp_rate_sampling(
    rng: np.random.Generator, n: int, n_channels: int, length: float, obs_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rate = rng.uniform(0.5, 1.5, n) * obs_rate
    sid, t = _uniform_times(rng, _poisson_counts(rng, rate * length, 2), length)
    return _shared_stamps(rng, sid, t, n, n_channels, 0.5, 0.9)


# --------------------------------------------------------------------------- families
# Each family: (rng, n, n_channels, length, obs_rate) -> (sid, ch, t, evaluate) where
# ``evaluate(sid, ch, t)`` gives the noise-free signal. Parameters are drawn before the
# sampling times so that the stream of random numbers is fixed for a seed.
_Family = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, Callable[..., np.ndarray]]]


def _multirate_sines(rng, n, n_channels, length, obs_rate):
    base = 5.0 * 6.0 ** (np.arange(n_channels) / max(n_channels - 1, 1))  # 5 .. 30
    p1 = base[None, :] * rng.uniform(0.85, 1.15, (n, n_channels))
    ratio = rng.uniform(1.7, 2.5, (n, n_channels))
    p2 = np.where(p1 > 12.0, p1 / ratio, p1 * ratio)
    a1 = rng.uniform(0.6, 1.4, (n, n_channels))
    a2 = rng.uniform(0.3, 0.8, (n, n_channels)) * (rng.random((n, n_channels)) < 0.6)
    ph1 = rng.uniform(0.0, _TWO_PI, (n, n_channels))
    ph2 = rng.uniform(0.0, _TWO_PI, (n, n_channels))

    def evaluate(sid, ch, t):
        first = a1[sid, ch] * np.sin(_TWO_PI * t / p1[sid, ch] + ph1[sid, ch])
        second = a2[sid, ch] * np.sin(_TWO_PI * t / p2[sid, ch] + ph2[sid, ch])
        return first + second

    return (*_stamp_rate_sampling(rng, n, n_channels, length, obs_rate), evaluate)


def _damped_oscillators(rng, n, n_channels, length, obs_rate):
    n_modes = 2
    period = np.stack([rng.uniform(8.0, 15.0, n), rng.uniform(15.0, 30.0, n)], axis=1)
    omega = _TWO_PI / period  # (n, M)
    zeta = rng.uniform(0.01, 0.05, (n, n_modes))
    alpha = zeta * omega
    omega_d = omega * np.sqrt(1.0 - zeta**2)
    amp0 = rng.uniform(0.7, 1.3, (n, n_modes))
    ph0 = rng.uniform(0.0, _TWO_PI, (n, n_modes))
    w = rng.standard_normal((n, n_channels, n_modes))
    w /= np.linalg.norm(w, axis=2, keepdims=True)
    # impulse kicks: ~ one per 40 time units; a kick adds a_k exp(-alpha u) sin(omega_d u),
    # u = t - t_k, to a mode. In complex form z = Re(S_j exp(rho (t - t_j))), rho =
    # -alpha + i omega_d, with S_j the state just after the last kick t_j <= t (t_0 = 0).
    n_kicks = rng.poisson(length / 40.0, n)
    k_max = int(n_kicks.max(initial=0))
    kick_t = np.sort(rng.uniform(0.0, length, (n, k_max)), axis=1)
    kick_t[np.arange(k_max)[None, :] >= n_kicks[:, None]] = np.inf
    kick_a = rng.normal(0.0, 0.8, (n, k_max, n_modes))
    rho = -alpha + 1j * omega_d  # (n, M)
    t_j = np.zeros((n, k_max + 1))
    s_j = np.zeros((n, k_max + 1, n_modes), dtype=complex)
    s_j[:, 0] = amp0 * np.exp(1j * ph0)
    for k in range(k_max):
        real = np.isfinite(kick_t[:, k])
        t_j[:, k + 1] = np.where(real, kick_t[:, k], t_j[:, k])
        dt = (t_j[:, k + 1] - t_j[:, k])[:, None]
        s_j[:, k + 1] = s_j[:, k] * np.exp(rho * dt) - 1j * kick_a[:, k] * real[:, None]

    def evaluate(sid, ch, t):
        j = (kick_t[sid] <= t[:, None]).sum(axis=1)  # kicks so far
        z = (s_j[sid, j] * np.exp(rho[sid] * (t - t_j[sid, j])[:, None])).real  # (N, M)
        return np.einsum("nm,nm->n", w[sid, ch], z)

    return (*_stamp_rate_sampling(rng, n, n_channels, length, obs_rate), evaluate)


def _bursty(rng, n, n_channels, length, obs_rate):
    p_day = rng.uniform(18.0, 30.0, n)
    ph_day = rng.uniform(0.0, _TWO_PI, n)
    drift = rng.normal(0.0, 0.7, n)
    p_fast = rng.uniform(5.0, 10.0, (n, n_channels))
    ph_fast = rng.uniform(0.0, _TWO_PI, (n, n_channels))
    g_day = rng.uniform(0.6, 1.4, (n, n_channels)) * rng.choice([-1.0, 1.0], (n, n_channels))
    g_drift = rng.uniform(0.3, 1.0, (n, n_channels))
    g_fast = rng.uniform(0.2, 0.6, (n, n_channels))

    # bursts: ~ one per 7-14 time units, 1 + Poisson(6 * obs_rate) stamps ~ 0.2 apart
    burst_rate = rng.uniform(1.0 / 14.0, 1.0 / 7.0, n)
    b_sid, b_center = _uniform_times(rng, _poisson_counts(rng, burst_rate * length, 1), length)
    size = 1 + rng.poisson(6.0 * obs_rate, b_sid.size)
    owner = np.repeat(np.arange(b_sid.size), size)
    gaps = rng.exponential(0.2, owner.size)
    csum = np.cumsum(gaps)
    first = np.cumsum(size) - size
    offset = csum - np.repeat(csum[first] - gaps[first], size)  # within-burst cumulative gaps
    t = b_center[owner] + offset
    keep = t < length
    sid, t = b_sid[owner][keep], t[keep]

    def evaluate(sid, ch, t):
        day = np.sin(_TWO_PI * t / p_day[sid] + ph_day[sid])
        trend = drift[sid] * (2.0 * t / length - 1.0)
        fast = np.sin(_TWO_PI * t / p_fast[sid, ch] + ph_fast[sid, ch])
        return g_day[sid, ch] * day + g_drift[sid, ch] * trend + g_fast[sid, ch] * fast

    return (*_shared_stamps(rng, sid, t, n, n_channels, 0.4, 0.9), evaluate)


def _async_channels(rng, n, n_channels, length, obs_rate):
    role = np.arange(n_channels) % 3  # 0: slow trend, 1: fast oscillation, 2: lagged trend
    slope = rng.normal(0.0, 0.7, n)
    p_slow = rng.uniform(40.0, 90.0, n)
    ph_slow = rng.uniform(0.0, _TWO_PI, n)
    gain = rng.uniform(0.7, 1.3, (n, n_channels))
    gain[:, 0] = 1.0
    lag = rng.uniform(2.0, 8.0, (n, n_channels))
    lag[:, 0] = 0.0
    p_own = np.where(
        role[None, :] == 1,
        rng.uniform(3.0, 8.0, (n, n_channels)),
        rng.uniform(10.0, 20.0, (n, n_channels)),
    )
    ph_own = rng.uniform(0.0, _TWO_PI, (n, n_channels))
    lo = np.array([0.25, 1.0, 0.5])[role]
    hi = np.array([0.5, 2.0, 1.0])[role]
    rate = rng.uniform(lo, hi, (n, n_channels)) * obs_rate

    def trend(sid, t):
        return slope[sid] * (2.0 * t / length - 1.0) + 0.8 * np.sin(
            _TWO_PI * t / p_slow[sid] + ph_slow[sid]
        )

    def evaluate(sid, ch, t):
        r = role[ch]
        base = trend(sid, t)
        lagged = gain[sid, ch] * trend(sid, t - lag[sid, ch])
        own = np.sin(_TWO_PI * t / p_own[sid, ch] + ph_own[sid, ch])
        fast = (1.0 + 0.4 * np.tanh(base)) * gain[sid, ch] * own + 0.5 * base
        return np.where(r == 0, lagged, np.where(r == 1, fast, lagged + 0.5 * own))

    owner, t = _uniform_times(rng, _poisson_counts(rng, (rate * length).ravel(), 2), length)
    return owner // n_channels, owner % n_channels, t, evaluate


# --------------------------------------------------------------------------- stress families
def _noisy_level(rng, n, n_channels, length, obs_rate):
    p_slow = rng.uniform(80.0, 200.0, (n, n_channels))
    ph = rng.uniform(0.0, _TWO_PI, (n, n_channels))
    sigma = rng.uniform(0.8, 1.2, (n, n_channels))
    sid, ch, t = _stamp_rate_sampling(rng, n, n_channels, length, obs_rate)
    eps = rng.standard_normal(t.size)  # drawn here: the stream is fixed for a seed

    def evaluate(sid, ch, t):
        assert t.size == eps.size
        wander = 0.15 * np.sin(_TWO_PI * t / p_slow[sid, ch] + ph[sid, ch])
        return wander + sigma[sid, ch] * eps

    return sid, ch, t, evaluate


def _sparse_periodic(rng, n, n_channels, length, obs_rate):
    period = np.exp(rng.uniform(np.log(0.2), np.log(0.9), n))
    phase = rng.uniform(0.0, 1.0, n)
    # harmonics 1..3 with decaying amplitudes and fixed relative phases (a skewed,
    # RR Lyrae-like shape), one amplitude per band
    harm = np.array([1.0, 0.45, 0.2])[None, :] * rng.uniform(0.8, 1.2, (n, 3))
    harm_ph = rng.uniform(0.0, _TWO_PI, (n, 3))
    band = rng.uniform(0.5, 1.2, (n, n_channels))
    n_nights = max(int(np.ceil(length)), 1)
    p_night = np.minimum(rng.uniform(0.15, 0.4, n) * obs_rate, 1.0)
    seen = rng.random((n, n_nights)) < p_night[:, None]
    seen[:, 0] |= ~seen.any(axis=1)  # every series is observed at least once
    sid, night = np.nonzero(seen)
    t = night + rng.uniform(0.0, 0.25, sid.size)
    keep = t < length
    sid, t = sid[keep], t[keep]

    def evaluate(sid, ch, t):
        cycle = _TWO_PI * (t / period[sid] + phase[sid])
        k = np.arange(1, 4)
        wave = (harm[sid] * np.sin(cycle[:, None] * k[None, :] + harm_ph[sid])).sum(axis=1)
        return band[sid, ch] * wave

    return (*_shared_stamps(rng, sid, t, n, n_channels, 0.6, 1.0), evaluate)


def _trend_gaps(rng, n, n_channels, length, obs_rate):
    slope = rng.normal(0.0, 1.0, n) * rng.choice([-1.0, 1.0], n)
    curve = rng.normal(0.0, 0.3, n)
    gain = rng.uniform(0.6, 1.4, (n, n_channels)) * rng.choice([-1.0, 1.0], (n, n_channels))
    p_wig = rng.uniform(20.0, 40.0, (n, n_channels))
    ph_wig = rng.uniform(0.0, _TWO_PI, (n, n_channels))
    # clusters ("visits"): first at U(0, 0.1 L), then gaps >= 0.12 L (+ Exp(0.08 L))
    k_max = int(np.ceil(1.0 / 0.12)) + 1
    first = rng.uniform(0.0, 0.1 * length, (n, 1))
    gaps = 0.12 * length + rng.exponential(0.08 * length, (n, k_max - 1))
    starts = np.concatenate([first, first + np.cumsum(gaps, axis=1)], axis=1)
    c_sid, c_idx = np.nonzero(starts < length - 0.02 * length)
    c_start = starts[c_sid, c_idx]
    size = np.maximum(rng.poisson(4.0 * obs_rate, c_sid.size), 2)  # stamps per cluster
    owner = np.repeat(np.arange(c_sid.size), size)
    t = c_start[owner] + rng.uniform(0.0, 0.02 * length, owner.size)
    sid = c_sid[owner]
    keep = t < length
    sid, t = sid[keep], t[keep]

    def evaluate(sid, ch, t):
        u = 2.0 * t / length - 1.0
        trend = slope[sid] * u + curve[sid] * u**2
        wiggle = 0.15 * np.sin(_TWO_PI * t / p_wig[sid, ch] + ph_wig[sid, ch])
        return gain[sid, ch] * trend + wiggle

    return (*_shared_stamps(rng, sid, t, n, n_channels, 0.6, 1.0), evaluate)


def _regime_shifts(rng, n, n_channels, length, obs_rate):
    n_shift = np.maximum(rng.poisson(length / 30.0, n), 1)
    k_max = int(n_shift.max())
    shift_t = np.sort(rng.uniform(0.0, length, (n, k_max)), axis=1)
    shift_t[np.arange(k_max)[None, :] >= n_shift[:, None]] = np.inf
    levels = rng.standard_normal((n, k_max + 1, n_channels))

    def evaluate(sid, ch, t):
        j = (shift_t[sid] <= t[:, None]).sum(axis=1)  # shifts so far
        return levels[sid, j, ch]

    return (*_stamp_rate_sampling(rng, n, n_channels, length, obs_rate), evaluate)


def _few_obs(rng, n, n_channels, length, obs_rate):
    slope = rng.normal(0.0, 0.6, n)
    gain = rng.uniform(0.6, 1.4, (n, n_channels))
    p_slow = rng.uniform(0.5, 1.0, n) * length
    ph = rng.uniform(0.0, _TWO_PI, n)
    counts = rng.integers(3, 11, n)  # 3-10 stamps per series, whatever obs_rate
    sid, t = _uniform_times(rng, counts, length)

    def evaluate(sid, ch, t):
        u = 2.0 * t / length - 1.0
        slow = 0.5 * np.sin(_TWO_PI * t / p_slow[sid] + ph[sid])
        return gain[sid, ch] * (slope[sid] * u + slow)

    # every channel at every stamp
    sid_all = np.repeat(sid, n_channels)
    ch_all = np.tile(np.arange(n_channels, dtype=np.int64), sid.size)
    return sid_all, ch_all, np.repeat(t, n_channels), evaluate


_FAMILY_FUNCS: dict[str, _Family] = {
    "multirate_sines": _multirate_sines,
    "damped_oscillators": _damped_oscillators,
    "bursty": _bursty,
    "async_channels": _async_channels,
    "noisy_level": _noisy_level,
    "sparse_periodic": _sparse_periodic,
    "trend_gaps": _trend_gaps,
    "regime_shifts": _regime_shifts,
    "few_obs": _few_obs,
}

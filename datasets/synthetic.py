"""Synthetic irregularly sampled multichannel time series.

:func:`make_irregular` draws series whose observations fall at arbitrary times, each
channel observed at its own times, in the project's data contract (long / wide / tidy,
polars or pandas, float time or datetimes). Every family carries signal a model can learn
from the history beyond the last value (periodicities, oscillation, cross-channel
coupling), so a good forecaster beats last-value persistence and the history mean.

Families
--------
``multirate_sines``
    Each channel is a sum of one or two sines with per-series random amplitude and phase
    and channel-specific periods (channel ``c``'s base period runs geometrically from 5 to
    30 time units across the channels, jittered per series). Time stamps come from a
    Poisson process with a per-series rate; at each stamp each channel is observed with a
    per-series, per-channel probability.
``damped_oscillators``
    A linear second-order system per series, ``x = W z`` with two modal coordinates
    ``z_m'' + 2 zeta_m omega_m z_m' + omega_m^2 z_m = impulses`` (periods 8–30, light
    damping) mixed into the channels by a random matrix ``W`` (cross-coupled channels),
    plus occasional impulse kicks; sampled like ``multirate_sines``.
``bursty``
    Dense bursts of observations (minutes apart when the unit is hours) separated by long
    gaps, as in clinical data. The signal is a daily-like cycle (period 18–30), a slow
    drift and a faster per-channel component, mixed across channels.
``async_channels``
    Every channel observed at its own independent Poisson times with its own rate. Channel
    roles cycle: a slow trend channel (rarely observed), a fast oscillation whose amplitude
    and level follow the trend (often observed), and a lagged copy of the trend plus a
    medium-period sine.
``mixed``
    Series drawn from the four families above (balanced, in a seeded random order).

Stress families (:data:`STRESS_FAMILIES`, issue 10): each targets a known weak spot of a
forecaster that starts from last-value persistence. They are not part of ``mixed``.

``noisy_level``
    A stable per-series level (the channel offset) with a barely moving slow wander, observed
    with noise that dominates the signal (standard deviation 0.8-1.2 before scaling, on top
    of ``noise``): the history mean beats the last value.
``sparse_periodic``
    Astronomy-like multiband light curves: a non-sinusoidal periodic signal (three
    harmonics, period 0.2-0.9 time units per series, shared by the channels with
    band-specific amplitudes) observed at most once per "night" (one stamp in the first
    quarter of a unit-long interval, on a random 15-40% of the intervals, times ``obs_rate``),
    so the median gap exceeds the period and a series covers hundreds of cycles.
``trend_gaps``
    A per-series trend (linear plus a mild curvature and a small slow wiggle) observed in
    short clusters (``0.02 * length`` wide) of
    ``max(2, Poisson(4 * obs_rate))`` stamps separated by long gaps (at least ``0.12 * length``, plus an
    exponential with mean ``0.08 * length``): extrapolating the trend across the gap beats
    the last value.
``regime_shifts``
    Piecewise-constant levels: regime changes at Poisson times (about one per 30 time units,
    at least one per series), all channels jumping together to new N(0, 1) levels; sampled
    like ``multirate_sines``.
``few_obs``
    Only 3-10 time stamps per series (uniform on ``[0, length)``, whatever ``obs_rate``),
    every channel observed at each: a per-series level, a trend and a slow sine.

Each channel of each series is then given an offset (uniform in [-1.5, 1.5]) and a scale
(uniform in [0.5, 2]); observation noise ``noise`` (standard deviation, before scaling) is
added. Values are O(1).

:func:`train_test_cut` splits each series at ``t_end - horizon`` into history and future.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

import numpy as np
import polars as pl

__all__ = ["ALL_FAMILIES", "FAMILIES", "STRESS_FAMILIES", "make_irregular", "train_test_cut"]

#: The original families (``family="mixed"`` draws from these).
FAMILIES: tuple[str, ...] = (
    "multirate_sines",
    "damped_oscillators",
    "bursty",
    "async_channels",
)
#: Families that stress a persistence-started forecaster (issue 10); not part of ``mixed``.
STRESS_FAMILIES: tuple[str, ...] = (
    "noisy_level",
    "sparse_periodic",
    "trend_gaps",
    "regime_shifts",
    "few_obs",
)
#: Every family ``make_irregular`` draws (``mixed`` aside).
ALL_FAMILIES: tuple[str, ...] = FAMILIES + STRESS_FAMILIES

_TWO_PI = 2.0 * np.pi
_SECOND_IN_HOURS = 1.0 / 3600.0


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


# --------------------------------------------------------------------------- helpers
def _channel_names(n_channels: int) -> list[str]:
    width = len(str(n_channels - 1))
    return [f"ch{c:0{width}d}" for c in range(n_channels)]


def _series_names(n_series: int) -> list[str]:
    width = max(4, len(str(n_series - 1)))
    return [f"s{i:0{width}d}" for i in range(n_series)]


def _start_ns(start) -> tuple[int, str | None]:
    """Base time as naive-UTC int64 nanoseconds plus the time zone name (if any)."""
    import pandas as pd

    ts = pd.Timestamp(start)
    tz = None
    if ts.tzinfo is not None:
        tz = str(ts.tzinfo)
        if isinstance(ts.tzinfo, _dt.timezone):  # fixed offset: polars wants "+HH:MM"
            minutes = int(ts.utcoffset().total_seconds() // 60)
            sign = "-" if minutes < 0 else "+"
            tz = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value), tz


def _time_column(t: np.ndarray, datetime: bool, start) -> pl.Series:
    if not datetime:
        return pl.Series("ds", t, dtype=pl.Float64)
    base, tz = _start_ns(start)
    ns = base + np.round(t * 3600.0).astype(np.int64) * 1_000_000_000
    ds = pl.Series("ds", ns.astype("datetime64[ns]")).cast(pl.Datetime("us"))
    if tz is not None:
        ds = ds.dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    return ds


def _check_choice(name: str, value, options) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")


# --------------------------------------------------------------------------- public API
def make_irregular(
    n_series: int = 100,
    family: str = "mixed",
    n_channels: int = 3,
    length: float = 100.0,
    seed: int = 0,
    datetime: bool = False,
    start="2024-01-01",
    as_: str = "polars",
    shape: str = "wide",
    *,
    noise: float = 0.1,
    obs_rate: float = 1.0,
    stagger: float = 0.0,
    return_static: bool = False,
):
    """Draw irregularly sampled multichannel series.

    Parameters
    ----------
    n_series
        Number of series (``unique_id`` ``s0000``, ``s0001``, ...).
    family
        ``"multirate_sines"``, ``"damped_oscillators"``, ``"bursty"``, ``"async_channels"``
        or ``"mixed"`` (those four, balanced); or a stress family (:data:`STRESS_FAMILIES`):
        ``"noisy_level"``, ``"sparse_periodic"``, ``"trend_gaps"``, ``"regime_shifts"``,
        ``"few_obs"``. See the module docstring.
    n_channels
        Channels per series (``ch0``, ``ch1``, ...).
    length
        Duration of each series in time units (hours when ``datetime=True``). The number of
        observations follows from the sampling rates: about ``2 * length * obs_rate`` per
        series with three channels.
    seed
        Seed; the output is a deterministic function of all arguments.
    datetime
        ``False``: ``ds`` is a float in time units. ``True``: ``ds`` is a datetime,
        ``start`` plus ``t`` hours, rounded to whole seconds (tz-aware if ``start`` is).
    start
        Base time for ``datetime=True`` (anything ``pandas.Timestamp`` accepts).
    as_
        ``"polars"`` or ``"pandas"``.
    shape
        ``"wide"``: ``unique_id, ds, ch0, ch1, ...`` with a null where a channel is not
        observed at that time. ``"tidy"``: ``unique_id, ds, variable, value``, one row per
        observation. ``"long"``: ``unique_id, ds, y`` with the first channel only (the
        others still shape its dynamics but are not returned).

    Other parameters
    ----------------
    noise
        Observation-noise standard deviation, relative to the signal (before the
        per-channel scale in [0.5, 2]).
    obs_rate
        Multiplier on all sampling rates (more or fewer observations per time unit).
    stagger
        Series start times are shifted by a uniform draw in ``[0, stagger]`` time units
        (the signals are unchanged relative to each series' own start).
    return_static
        Also return a per-series frame ``unique_id, family`` (static covariates).

    Returns
    -------
    A polars or pandas DataFrame sorted by ``unique_id, ds`` (then channel), or
    ``(frame, static_df)`` with ``return_static=True``.
    """
    _check_choice("family", family, (*ALL_FAMILIES, "mixed"))
    _check_choice("as_", as_, ("polars", "pandas"))
    _check_choice("shape", shape, ("long", "wide", "tidy"))
    if n_series < 1 or n_channels < 1:
        raise ValueError("n_series and n_channels must be >= 1")
    if not length > 0 or not obs_rate > 0 or noise < 0 or stagger < 0:
        raise ValueError("length and obs_rate must be > 0; noise and stagger >= 0")

    # one stream per family; the first 2 + len(FAMILIES) are those of the original families
    seeds = np.random.SeedSequence(seed).spawn(len(ALL_FAMILIES) + 2)
    rng_assign, rng_common = (np.random.default_rng(s) for s in seeds[:2])
    if family == "mixed":
        fam_of = rng_assign.permutation(np.arange(n_series) % len(FAMILIES))
    else:
        fam_of = np.full(n_series, ALL_FAMILIES.index(family))

    resolution = _SECOND_IN_HOURS if datetime else None
    parts = []
    for f, name in enumerate(ALL_FAMILIES):
        members = np.flatnonzero(fam_of == f)
        if members.size == 0:
            continue
        rng = np.random.default_rng(seeds[2 + f])
        sid, ch, t, evaluate = _FAMILY_FUNCS[name](
            rng, members.size, n_channels, float(length), float(obs_rate)
        )
        if resolution is not None:
            t = np.round(t / resolution) * resolution
        parts.append((members[sid], ch, t, evaluate(sid, ch, t)))
    sid, ch, t, y = (np.concatenate(a) for a in zip(*parts, strict=True))

    offset = rng_common.uniform(-1.5, 1.5, (n_series, n_channels))
    scale = rng_common.uniform(0.5, 2.0, (n_series, n_channels))
    eps = rng_common.standard_normal(y.size)
    y = offset[sid, ch] + scale[sid, ch] * (y + noise * eps)
    shift = rng_common.uniform(0.0, stagger, n_series) if stagger > 0 else np.zeros(n_series)
    if resolution is not None:
        shift = np.round(shift / resolution) * resolution
    t = t + shift[sid]

    # sort by (series, time, channel); a channel seen twice at one time keeps the first draw
    order = np.lexsort((ch, t, sid))
    sid, ch, t, y = sid[order], ch[order], t[order], y[order]
    keep = np.ones(sid.size, dtype=bool)
    keep[1:] = (sid[1:] != sid[:-1]) | (t[1:] != t[:-1]) | (ch[1:] != ch[:-1])
    if not keep.all():
        sid, ch, t, y = sid[keep], ch[keep], t[keep], y[keep]

    ids = pl.Series("unique_id", _series_names(n_series))
    channels = _channel_names(n_channels)
    if shape == "long":
        keep = ch == 0
        frame = pl.DataFrame(
            [ids.gather(sid[keep]), _time_column(t[keep], datetime, start), pl.Series("y", y[keep])]
        )
    elif shape == "tidy":
        frame = pl.DataFrame(
            [
                ids.gather(sid),
                _time_column(t, datetime, start),
                pl.Series("variable", channels).gather(ch),
                pl.Series("value", y),
            ]
        )
    else:
        new_row = np.ones(sid.size, dtype=bool)
        new_row[1:] = (sid[1:] != sid[:-1]) | (t[1:] != t[:-1])
        row = np.cumsum(new_row) - 1
        grid = np.full((int(new_row.sum()), n_channels), np.nan)
        grid[row, ch] = y
        cols = [ids.gather(sid[new_row]), _time_column(t[new_row], datetime, start)]
        cols += [pl.Series(name, grid[:, c], nan_to_null=True) for c, name in enumerate(channels)]
        frame = pl.DataFrame(cols)

    if return_static:
        static = pl.DataFrame(
            [ids, pl.Series("family", list(ALL_FAMILIES)).gather(fam_of.astype(np.int64))]
        )
        if as_ == "pandas":
            return frame.to_pandas(), static.to_pandas()
        return frame, static
    return frame.to_pandas() if as_ == "pandas" else frame


def _as_timedelta(horizon):
    import pandas as pd

    if isinstance(horizon, str):
        return pd.Timedelta(horizon).to_pytimedelta()
    if isinstance(horizon, (_dt.timedelta, np.timedelta64)):
        return pd.Timedelta(horizon).to_pytimedelta()
    return _dt.timedelta(hours=float(horizon))


def train_test_cut(frame, horizon, *, id_col: str = "unique_id", time_col: str = "ds"):
    """Split each series at ``t_end - horizon`` into ``(history, future)``.

    ``t_end`` is the series' last time stamp (over all its rows, any shape). History keeps
    the rows with ``ds <= t_end - horizon``, future the rows after it; a series whose rows
    all fall in the last ``horizon`` appears in the future only. Works on long, wide and
    tidy frames, pandas or polars (returned as given). ``horizon`` is in time units for a
    numeric ``ds``; for a datetime ``ds`` it is a duration (``"12h"``, a ``timedelta``) or
    a number of hours. Without an ``id_col`` column the frame is one series.
    """
    is_pandas = not isinstance(frame, pl.DataFrame)
    if is_pandas:
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")
        is_dt = pd.api.types.is_datetime64_any_dtype(frame[time_col])
        h = pd.Timedelta(_as_timedelta(horizon)) if is_dt else _numeric_horizon(horizon)
        if id_col in frame.columns:
            t_end = frame.groupby(id_col, sort=False, observed=True)[time_col].transform("max")
        else:
            t_end = frame[time_col].max()
        hist = (frame[time_col] <= t_end - h).to_numpy()
        return frame[hist].reset_index(drop=True), frame[~hist].reset_index(drop=True)

    is_dt = frame.schema[time_col].is_temporal()
    h = _as_timedelta(horizon) if is_dt else _numeric_horizon(horizon)
    t_end = pl.col(time_col).max()
    if id_col in frame.columns:
        t_end = t_end.over(id_col)
    hist = pl.col(time_col) <= t_end - pl.lit(h)
    return frame.filter(hist), frame.filter(~hist)


def _numeric_horizon(horizon) -> float:
    if isinstance(horizon, (str, _dt.timedelta, np.timedelta64)):
        raise TypeError("a numeric ds needs a numeric horizon (in time units)")
    return float(horizon)

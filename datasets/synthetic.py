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

import numpy as np
import polars as pl

from ._synthetic_families import _FAMILY_FUNCS

# benchmarks/regime_windows.py draws the regime-shift family directly
from ._synthetic_families import _regime_shifts  # noqa: F401  isort: skip

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
ALL_FAMILIES: tuple[str, ...] = FAMILIES + STRESS_FAMILIES  # keys of _FAMILY_FUNCS

_SECOND_IN_HOURS = 1.0 / 3600.0


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
    signals = _family_signals(fam_of, seeds[2:], n_channels, length, obs_rate, resolution)
    sid, ch, t, y = _observed(
        rng_common, *signals, n_series, n_channels, noise, stagger, resolution
    )
    ids = pl.Series("unique_id", _series_names(n_series))
    frame = _shaped_frame(shape, ids, sid, ch, t, y, n_channels, datetime, start)
    if return_static:
        static = pl.DataFrame(
            [ids, pl.Series("family", list(ALL_FAMILIES)).gather(fam_of.astype(np.int64))]
        )
        if as_ == "pandas":
            return frame.to_pandas(), static.to_pandas()
        return frame, static
    return frame.to_pandas() if as_ == "pandas" else frame


def _family_signals(fam_of, family_seeds, n_channels: int, length, obs_rate, resolution):
    """``(sid, ch, t, y)``: every series' observation times (rounded to ``resolution``) and
    noise-free signal, drawn family by family, each with its own stream."""
    parts = []
    for f, name in enumerate(ALL_FAMILIES):
        members = np.flatnonzero(fam_of == f)
        if members.size == 0:
            continue
        rng = np.random.default_rng(family_seeds[f])
        sid, ch, t, evaluate = _FAMILY_FUNCS[name](
            rng, members.size, n_channels, float(length), float(obs_rate)
        )
        if resolution is not None:
            t = np.round(t / resolution) * resolution
        parts.append((members[sid], ch, t, evaluate(sid, ch, t)))
    return tuple(np.concatenate(a) for a in zip(*parts, strict=True))


def _observed(rng_common, sid, ch, t, y, n_series, n_channels, noise, stagger, resolution):
    """The signals as observed: per (series, channel) offset and scale, noise, each series'
    start shifted by up to ``stagger``; sorted by (series, time, channel), a channel seen
    twice at one time keeping the first draw."""
    offset = rng_common.uniform(-1.5, 1.5, (n_series, n_channels))
    scale = rng_common.uniform(0.5, 2.0, (n_series, n_channels))
    eps = rng_common.standard_normal(y.size)
    y = offset[sid, ch] + scale[sid, ch] * (y + noise * eps)
    shift = rng_common.uniform(0.0, stagger, n_series) if stagger > 0 else np.zeros(n_series)
    if resolution is not None:
        shift = np.round(shift / resolution) * resolution
    t = t + shift[sid]
    order = np.lexsort((ch, t, sid))
    sid, ch, t, y = sid[order], ch[order], t[order], y[order]
    keep = np.ones(sid.size, dtype=bool)
    keep[1:] = (sid[1:] != sid[:-1]) | (t[1:] != t[:-1]) | (ch[1:] != ch[:-1])
    if not keep.all():
        sid, ch, t, y = sid[keep], ch[keep], t[keep], y[keep]
    return sid, ch, t, y


def _shaped_frame(shape, ids, sid, ch, t, y, n_channels, datetime, start) -> pl.DataFrame:
    """The observations as a polars frame of ``shape`` (long: the first channel only; wide:
    one row per (series, time) with a null where a channel is not observed)."""
    channels = _channel_names(n_channels)
    if shape == "long":
        keep = ch == 0
        return pl.DataFrame(
            [ids.gather(sid[keep]), _time_column(t[keep], datetime, start), pl.Series("y", y[keep])]
        )
    if shape == "tidy":
        return pl.DataFrame(
            [
                ids.gather(sid),
                _time_column(t, datetime, start),
                pl.Series("variable", channels).gather(ch),
                pl.Series("value", y),
            ]
        )
    new_row = np.ones(sid.size, dtype=bool)
    new_row[1:] = (sid[1:] != sid[:-1]) | (t[1:] != t[:-1])
    row = np.cumsum(new_row) - 1
    grid = np.full((int(new_row.sum()), n_channels), np.nan)
    grid[row, ch] = y
    cols = [ids.gather(sid[new_row]), _time_column(t[new_row], datetime, start)]
    cols += [pl.Series(name, grid[:, c], nan_to_null=True) for c, name in enumerate(channels)]
    return pl.DataFrame(cols)


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

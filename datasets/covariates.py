"""Synthetic irregular series whose future depends on covariates (static and known-future).

:func:`make_covariate_series` draws one-channel series (``unique_id, ds, y``, float time)
observed at Poisson times, built so that covariates matter:

``"static"``
    ``y(t) = level + drift * t + random walk + noise``: each series' trend ``drift`` (uniform
    in [-1, 1] per time unit) is its static covariate (``static_df``: ``unique_id, drift``).
    From a noisy history the trend is hard to estimate; given ``drift``, a forecast ``h``
    ahead is off by the random walk only.
``"futr"``
    ``y(t) = level + random walk + effect * promo(t) + noise``, with ``promo(t)`` 1 on the
    intervals of each series' own promotion calendar (planned in advance, so known in the
    future, but not inferable from the history) and 0 elsewhere: a known-future covariate,
    the column ``promo`` of ``df`` (its values at any times: :meth:`CovariateSeries.with_futr`).
``"both"``
    Both effects at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["CovariateSeries", "make_covariate_series"]


@dataclass(frozen=True)
class CovariateSeries:
    """``df`` (``unique_id, ds, y`` [+ ``promo``]), ``static_df`` (``unique_id, drift``, or
    None) and each series' promotion intervals ``calendars[id]`` (K, 2) as ``[start, end)``."""

    df: pl.DataFrame
    static_df: pl.DataFrame | None
    calendars: dict[str, np.ndarray]

    def promo_at(self, unique_id: str, t) -> np.ndarray:
        """1.0 where times ``t`` of series ``unique_id`` fall in a promotion, else 0.0."""
        t = np.asarray(t, np.float64)
        h = self.calendars[unique_id]
        inside = (t[..., None] >= h[:, 0]) & (t[..., None] < h[:, 1])
        return inside.any(-1).astype(np.float64)

    def with_futr(self, frame):
        """``frame`` (pandas or polars, columns ``unique_id, ds``) with the ``promo`` column:
        e.g. ``data.with_futr(model.make_future_dataframe(h=4))`` is a ``futr_df``."""
        ids = np.asarray(
            frame["unique_id"].to_list() if isinstance(frame, pl.DataFrame) else frame["unique_id"],
            object,
        )
        ts = np.asarray(frame["ds"], np.float64)
        promo = np.zeros(len(ts))
        for uid in set(ids.tolist()):
            sel = ids == uid
            promo[sel] = self.promo_at(uid, ts[sel])
        if isinstance(frame, pl.DataFrame):
            return frame.with_columns(pl.Series("promo", promo))
        return frame.assign(promo=promo)


def make_covariate_series(
    n_series: int = 64,
    kind: str = "both",
    length: float = 40.0,
    rate: float = 1.0,
    seed: int = 0,
    *,
    effect: float = 3.0,
    walk: float = 0.3,
    noise: float = 0.1,
    promo_every: float = 6.0,
    promo_length: float = 2.0,
) -> CovariateSeries:
    """Draw ``n_series`` series over ``[0, length]`` with about ``rate`` observations per time
    unit (see the module docstring for ``kind``). Deterministic in all arguments."""
    if kind not in ("static", "futr", "both"):
        raise ValueError(f"kind must be 'static', 'futr' or 'both', got {kind!r}")
    rng = np.random.default_rng(seed)
    use_static = kind in ("static", "both")
    use_futr = kind in ("futr", "both")
    ids, ts, ys, hs = [], [], [], []
    calendars = {}
    drift = rng.uniform(-1.0, 1.0, n_series) if use_static else np.zeros(n_series)
    for s in range(n_series):
        n = max(int(rng.poisson(rate * length)), 4)
        t = np.sort(rng.uniform(0.0, length, n))
        level = rng.normal(0.0, 1.0)
        steps = rng.normal(0.0, 1.0, n) * walk * np.sqrt(np.diff(t, prepend=0.0))
        y = level + drift[s] * t + np.cumsum(steps) + rng.normal(0.0, noise, n)
        # promotion calendar: intervals starting at Poisson times, over twice the length
        starts = np.cumsum(rng.exponential(promo_every, int(4 * length / promo_every) + 8))
        starts = starts[starts < 2 * length]
        calendars[f"s{s:03d}"] = np.stack([starts, starts + promo_length], 1)
        hol = CovariateSeries(pl.DataFrame(), None, calendars).promo_at(f"s{s:03d}", t)
        if use_futr:
            y = y + effect * hol
        ids += [f"s{s:03d}"] * n
        ts.append(t)
        ys.append(y)
        hs.append(hol)
    cols = {"unique_id": ids, "ds": np.concatenate(ts), "y": np.concatenate(ys)}
    if use_futr:
        cols["promo"] = np.concatenate(hs)
    df = pl.DataFrame(cols)
    static_df = None
    if use_static:
        static_df = pl.DataFrame(
            {"unique_id": [f"s{s:03d}" for s in range(n_series)], "drift": drift}
        )
    return CovariateSeries(df, static_df, calendars)

"""Ragged (CSR) storage of many irregular multichannel series.

A series is a sorted list of *time points*; all observations sharing one timestamp form one
time point (a token), and each channel is observed at its own subset of them (``mask``).
Every series is a slice ``indptr[s]:indptr[s + 1]`` of the flat arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["RaggedSeries", "ragged_from_canonical"]


@dataclass(frozen=True)
class RaggedSeries:
    """Flat CSR arrays of ``S`` series with ``T`` time points in total and ``C`` channels.

    Attributes:
        ids: (S,) series ids, in the user's id dtype (numpy object array).
        indptr: (S + 1,) int64 offsets of each series into the flat arrays.
        times: (T,) int64 ns since epoch (datetime input) or float64 (numeric input), sorted
            within each series, distinct within each series.
        values: (T, C) float64, raw (unscaled) values; 0 where not observed.
        mask: (T, C) bool, True where the channel is observed at that time point.
        channels: the C channel names, in column order.
        static: optional (S, n_static) float64 static covariates per series, already
            standardised (model-ready features; see ``itnet_ts.estimators._covariates``).
        futr: optional (T, n_futr) float64 known-future covariates at every time point,
            already standardised.
    """

    ids: np.ndarray
    indptr: np.ndarray
    times: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    channels: tuple[str, ...]
    static: np.ndarray | None = None
    futr: np.ndarray | None = None

    @property
    def n_series(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        """(S,) number of time points per series."""
        return np.diff(self.indptr)

    def series(self, s: int) -> slice:
        """Slice of the flat arrays holding series ``s``."""
        return slice(int(self.indptr[s]), int(self.indptr[s + 1]))

    def starts(self) -> np.ndarray:
        """(S,) flat index of each series' first time point."""
        return self.indptr[:-1].copy()

    def ends(self) -> np.ndarray:
        """(S,) flat index one past each series' last time point."""
        return self.indptr[1:].copy()

    def first_times(self) -> np.ndarray:
        """(S,) time of each series' first point (native units)."""
        return self.times[self.indptr[:-1]]

    def last_times(self) -> np.ndarray:
        """(S,) time of each series' last point (native units): its forecast cutoff."""
        return self.times[self.indptr[1:] - 1]

    def spans(self) -> np.ndarray:
        """(S,) time from each series' first to its last point, native units (float64)."""
        return (self.last_times() - self.first_times()).astype(np.float64)

    def head(self, end: np.ndarray) -> RaggedSeries:
        """The part of every series ``s`` before flat index ``end[s]`` (covariates dropped)."""
        keep = np.zeros(len(self.times), bool)
        for s in range(self.n_series):
            keep[self.indptr[s] : end[s]] = True
        lengths = end - self.indptr[:-1]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return RaggedSeries(
            self.ids, indptr, self.times[keep], self.values[keep], self.mask[keep], self.channels
        )


def ragged_from_canonical(canon: pl.DataFrame, channels: tuple[str, ...]) -> RaggedSeries:
    """Build ragged storage from the canonical frame (``unique_id, time, variable, value``).

    ``channels`` fixes the column order (the fitted channel list); observations of other
    channels must have been rejected before (see ``ingest(..., spec=...)``).
    """
    canon = canon.sort(["unique_id", "time", "variable"])
    chan_index = {c: i for i, c in enumerate(channels)}
    chan = canon["variable"].replace_strict(chan_index, return_dtype=pl.Int64).to_numpy()
    ids_col = canon["unique_id"]
    times = canon["time"].to_numpy()
    values = canon["value"].to_numpy().astype(np.float64)
    n = len(canon)
    # a new time point starts where the series or the time changes
    new_series = np.ones(n, dtype=bool)
    if n > 1:
        new_series[1:] = (ids_col[1:] != ids_col[:-1]).to_numpy()
    new_point = new_series.copy()
    if n > 1:
        new_point[1:] |= times[1:] != times[:-1]
    point = np.cumsum(new_point) - 1  # (n,) time-point index of each observation
    n_points = int(point[-1]) + 1 if n else 0
    pt_values = np.zeros((n_points, len(channels)), dtype=np.float64)
    pt_mask = np.zeros((n_points, len(channels)), dtype=bool)
    pt_values[point, chan] = values
    pt_mask[point, chan] = True
    pt_times = times[new_point]
    series_start_points = point[new_series]
    indptr = np.append(series_start_points, n_points).astype(np.int64)
    ids = ids_col.filter(pl.Series(new_series)).to_numpy().astype(object)
    return RaggedSeries(ids, indptr, pt_times, pt_values, pt_mask, tuple(channels))

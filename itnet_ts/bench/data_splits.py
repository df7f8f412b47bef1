"""The benchmark's data as model input: :class:`BenchData` (three :class:`BenchSplit`), one
window per series (:func:`build_split`), and the batches a model is trained and scored on
(:func:`bucketed_batches`, :func:`predict_protocol`).

A split keeps the protocol's tidy frames -- ``history`` (what a model sees) and ``targets``
(the observed entries to forecast and score), columns ``unique_id, ds, variable, value`` -- and
the same data as model input: a :class:`~itnet_ts.data._ragged.RaggedSeries` of history +
targets and a :class:`~itnet_ts.data._windows.WindowSet` with one window per series (history
up to the series' cutoff, queries = its target rows). The datasets themselves:
:mod:`itnet_ts.bench.data`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "SPLITS",
    "BenchData",
    "BenchSplit",
    "bucketed_batches",
    "build_split",
    "predict_protocol",
]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BenchSplit:
    """One split: the scored frames and the model input built from them.

    ``perm``: query ``k`` of ``windows`` is row ``perm[k]`` of ``targets``.
    """

    name: str
    history: pl.DataFrame = field(repr=False)
    targets: pl.DataFrame = field(repr=False)
    ragged: Any = field(repr=False)  # RaggedSeries
    windows: Any = field(repr=False)  # WindowSet
    perm: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.windows)


@dataclass(frozen=True)
class BenchData:
    """A benchmark dataset: three splits, the channel names and the time axis.

    ``unit``: one model time unit on the ``ds`` axis (``tau = (ds - cutoff) / unit``);
    ``time_scale``: one model time unit as a fraction of the series span (for models that
    want normalised times, e.g. GRU-D's query embedding); ``options``: what defines the data
    (recorded with every run, compared when a run is resumed).
    ``split(name)`` and ``train`` make it usable wherever
    :func:`itnet_ts.datasets.protocol.baseline_forecast` expects a protocol.
    """

    name: str
    variables: tuple[str, ...]
    train: BenchSplit
    val: BenchSplit
    test: BenchSplit
    unit: float
    time_scale: float
    options: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> BenchSplit:
        if name not in SPLITS:
            raise ITNetInputError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}


# ---------------------------------------------------------------------------------------------
# model input: one window per series


def build_split(
    name: str,
    history: pl.DataFrame,
    targets: pl.DataFrame,
    variables: tuple[str, ...],
    cutoff: float | Mapping[str, float],
) -> BenchSplit:
    """The model input of one split: every series' history and target rows (``unique_id, ds,
    variable, value``; each series' history times before its target times) as one ragged set,
    one window per series with its ``cutoff`` (a number, or one per series id)."""
    from itnet_ts.data._ragged import ragged_from_canonical
    from itnet_ts.data._windows import WindowSet

    canon = pl.concat([history, targets]).rename({"ds": "time"})
    ragged = ragged_from_canonical(canon, tuple(variables))
    pos = {sid: s for s, sid in enumerate(ragged.ids)}
    S = ragged.n_series
    # history end: the number of distinct history times of each series
    n_hist = np.zeros(S, np.int64)
    hcount = history.group_by("unique_id").agg(n=pl.col("ds").n_unique())
    for sid, n in zip(hcount["unique_id"].to_list(), hcount["n"].to_list(), strict=True):
        n_hist[pos[sid]] = n
    hist_start = ragged.starts()
    hist_end = hist_start + n_hist
    # queries: the target rows, grouped by series (stable within a series)
    q_series = np.array([pos[s] for s in targets["unique_id"].to_list()], np.int64)
    perm = np.argsort(q_series, kind="stable")
    chan = {v: i for i, v in enumerate(variables)}
    q_chan = np.array([chan[v] for v in targets["variable"].to_list()], np.int64)
    counts = np.bincount(q_series, minlength=S)
    if isinstance(cutoff, Mapping):
        cut = np.array([float(cutoff[sid]) for sid in ragged.ids], np.float64)
    else:
        cut = np.full(S, float(cutoff))
    windows = WindowSet(
        series=np.arange(S, dtype=np.int64),
        hist_start=hist_start,
        hist_end=hist_end,
        cutoff=cut,
        q_indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        q_time=targets["ds"].to_numpy()[perm],
        q_chan=q_chan[perm],
        q_target=targets["value"].to_numpy()[perm],
    )
    return BenchSplit(name, history, targets, ragged, windows, perm)


def bucketed_batches(
    split: BenchSplit, scaler, unit: float, batch_size: int, rng, bucket: int = 32
) -> Iterator:
    """Shuffled batches of windows of similar query / history length (less padding; the
    estimator's ``batch_order``)."""
    from itnet_ts.data._windows import make_batch
    from itnet_ts.estimators._batches import batch_order

    windows = split.windows
    hn = windows.hist_end - windows.hist_start
    for idx in batch_order(hn, np.diff(windows.q_indptr), batch_size, rng, bucket):
        yield make_batch(split.ragged, windows, idx, scaler, unit)


def predict_protocol(
    model, split: BenchSplit, scaler, unit: float, device, batch_size: int = 64
) -> np.ndarray:
    """Predictions (in the units of ``split.targets``) for its rows, in its row order; windows
    are evaluated in order of query count (less padding)."""
    import torch

    from itnet_ts.data._windows import make_batch, scatter_queries

    windows = split.windows
    model.eval()
    pred = np.zeros(len(windows.q_time), np.float64)
    order = np.argsort(np.diff(windows.q_indptr), kind="stable")
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            b = make_batch(split.ragged, windows, idx, scaler, unit).to(device)
            scatter_queries(pred, model(b)[..., 0].cpu().numpy(), windows, idx)  # (B, Q)
    raw = scaler.inverse(pred, windows.q_chan)
    result = np.empty_like(raw)
    result[split.perm] = raw
    return result

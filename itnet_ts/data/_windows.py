"""Forecast windows (history up to a cutoff + queries after it) and padded model batches.

A window is one series cut at one cutoff time: the history is a contiguous run of its time
points (all at or before the cutoff) and the queries are (time, channel) pairs after the
cutoff, with their observed targets when known. Time coordinates are computed in int64 ns /
float64 relative to each window's cutoff and only then cast to float32.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._scaling import ValueScaler

__all__ = [
    "MAX_TAU",
    "Batch",
    "ValueScaler",
    "WindowSet",
    "concat_windows",
    "forecast_windows",
    "hold_out_windows",
    "make_batch",
    "relative_times",
    "rolling_windows",
    "scatter_queries",
    "select_windows",
    "training_windows",
    "validation_windows",
]


MAX_TAU = 1e30  # largest |time coordinate| handed to the model (float32 holds 3.4e38)


@dataclass(frozen=True)
class WindowSet:
    """``W`` windows over one ``RaggedSeries``; queries stored flat with CSR offsets.

    Attributes:
        series: (W,) series index of each window.
        hist_start, hist_end: (W,) history time points ``[hist_start, hist_end)`` (flat index).
        cutoff: (W,) cutoff time in native units (int64 ns or float64).
        q_indptr: (W + 1,) offsets into the query arrays.
        q_time: (Q,) query times in native units.
        q_chan: (Q,) int64 channel index of each query.
        q_target: (Q,) float64 raw observed value at the query, NaN when unknown.
        q_futr: optional (Q, n_futr) float64 standardised known-future covariates at each
            query (set when the series carry covariates, ``RaggedSeries.futr``).
    """

    series: np.ndarray
    hist_start: np.ndarray
    hist_end: np.ndarray
    cutoff: np.ndarray
    q_indptr: np.ndarray
    q_time: np.ndarray
    q_chan: np.ndarray
    q_target: np.ndarray
    q_futr: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.series)


def _per_query(name: str) -> bool:
    return name.startswith("q_") and name != "q_indptr"


def select_windows(windows: WindowSet, idx) -> WindowSet:
    """Windows ``idx`` of ``windows`` (their queries carried along)."""
    idx = np.asarray(idx, np.int64)
    qa, qb = windows.q_indptr[idx], windows.q_indptr[idx + 1]
    counts = qb - qa
    q_idx = (
        np.repeat(qa - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        + np.arange(int(counts.sum()))
        if len(idx)
        else np.zeros(0, np.int64)
    )
    fields = {}
    for f in dataclasses.fields(windows):
        v = getattr(windows, f.name)
        if v is None:  # an optional field (e.g. covariates) the windows do not carry
            fields[f.name] = None
        elif f.name == "q_indptr":
            fields[f.name] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        elif _per_query(f.name):
            fields[f.name] = v[q_idx]
        else:
            fields[f.name] = v[idx]
    return WindowSet(**fields)


def concat_windows(parts: list[WindowSet]) -> WindowSet:
    """Windows of ``parts`` one after another (all over the same ragged data)."""
    fields = {}
    for f in dataclasses.fields(parts[0]):
        if f.name == "q_indptr":
            offsets = np.cumsum([0] + [p.q_indptr[-1] for p in parts[:-1]])
            fields[f.name] = np.concatenate(
                [[0]] + [p.q_indptr[1:] + o for p, o in zip(parts, offsets, strict=True)]
            ).astype(np.int64)
        else:
            values = [getattr(p, f.name) for p in parts]
            fields[f.name] = None if values[0] is None else np.concatenate(values)
    return WindowSet(**fields)


def scatter_queries(out: np.ndarray, padded: np.ndarray, windows: WindowSet, idx) -> None:
    """Write the padded per-window values ``padded`` (B, Q, ...) of windows ``idx`` (a batch)
    into ``out``, which is in the flat query order of ``windows``."""
    for j, w in enumerate(idx):
        qa, qb = windows.q_indptr[w], windows.q_indptr[w + 1]
        out[qa:qb] = padded[j, : qb - qa]


def hold_out_windows(
    windows: WindowSet, rng: np.random.Generator, fraction: float = 0.2
) -> tuple[WindowSet, WindowSet | None]:
    """Split windows at random into (train, validation), ``fraction`` of them (at least one)
    held out; no validation under 5 windows."""
    n = len(windows)
    if n < 5:
        return windows, None
    val = np.zeros(n, bool)
    val[rng.permutation(n)[: max(1, round(fraction * n))]] = True
    return select_windows(windows, np.flatnonzero(~val)), select_windows(
        windows, np.flatnonzero(val)
    )


def _targets_windows(
    ragged: RaggedSeries,
    series: np.ndarray,
    hist_start: np.ndarray,
    cut_point: np.ndarray,
    tgt_end: np.ndarray,
) -> WindowSet:
    """Windows whose history ends at point ``cut_point`` (inclusive, the cutoff) and whose
    queries are every observed entry of points ``(cut_point, tgt_end)``."""
    q_time, q_chan, q_target, q_futr, counts = [], [], [], [], []
    for k, e in zip(cut_point, tgt_end, strict=True):
        pts, ch = np.nonzero(ragged.mask[k + 1 : e])
        pts = pts + k + 1
        q_time.append(ragged.times[pts])
        q_chan.append(ch.astype(np.int64))
        q_target.append(ragged.values[pts, ch])
        if ragged.futr is not None:
            q_futr.append(ragged.futr[pts])
        counts.append(len(pts))
    q_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def cat(xs, dt):
        return np.concatenate(xs) if xs else np.zeros(0, dt)

    return WindowSet(
        series=np.asarray(series, np.int64),
        hist_start=np.asarray(hist_start, np.int64),
        hist_end=np.asarray(cut_point, np.int64) + 1,
        cutoff=ragged.times[cut_point] if len(cut_point) else ragged.times[:0],
        q_indptr=q_indptr,
        q_time=cat(q_time, ragged.times.dtype),
        q_chan=cat(q_chan, np.int64),
        q_target=cat(q_target, np.float64),
        q_futr=None
        if ragged.futr is None
        else (np.concatenate(q_futr) if q_futr else np.zeros((0, ragged.futr.shape[1]))),
    )


def validation_windows(ragged: RaggedSeries, horizon: float) -> tuple[WindowSet, np.ndarray]:
    """One window per series at cutoff ``t_end - horizon`` (the last point at or before it).

    Returns the windows and ``train_end`` (S,): the flat index one past the last point that
    training windows may use (their targets never reach into the validation horizon).
    Series too short to give both a history and a target are used for training only.
    """
    series, starts, cuts, ends = [], [], [], []
    train_end = ragged.ends()
    for s in range(ragged.n_series):
        a, b = int(ragged.indptr[s]), int(ragged.indptr[s + 1])
        t = ragged.times[a:b]
        k = int(np.searchsorted(t, t[-1] - horizon, side="right")) - 1  # last point <= cut
        if k < 1 or k >= len(t) - 1:  # need >= 2 history points and >= 1 target point
            continue
        series.append(s)
        starts.append(a)
        cuts.append(a + k)
        ends.append(b)
        train_end[s] = a + k + 1
    return _targets_windows(
        ragged,
        np.array(series),
        np.array(starts),
        np.array(cuts, np.int64),
        np.array(ends, np.int64),
    ), train_end


def rolling_windows(
    ragged: RaggedSeries, horizon: float, per_series: int = 32, late: float = 1.0
) -> WindowSet:
    """Rolling-origin windows over whole series, for scoring predictors that need no training:
    cutoffs at up to ``per_series`` time points of each series, evenly spaced among the points
    with at least one earlier point and a later one within ``horizon`` (deterministic, no
    random draw); the targets are the observed entries in ``(cutoff, cutoff + horizon]``.
    ``late`` < 1: only cutoffs in the last ``late`` fraction of each series' time span (the
    situation of a forecast made at the series' end: most of its history behind it)."""
    series, starts, cuts, tgt_ends = [], [], [], []
    for s in range(ragged.n_series):
        a, b = int(ragged.indptr[s]), int(ragged.indptr[s + 1])
        t = ragged.times[a:b]
        ok = np.nonzero((t[1:] - t[:-1]) <= horizon)[0]
        ok = ok[ok >= 1]  # >= 2 history points, like the validation windows
        if late < 1.0 and len(ok):
            ok = ok[
                relative_times(t[ok], t[0], 1.0) >= (1.0 - late) * relative_times(t[-1], t[0], 1.0)
            ]
        if len(ok) > per_series:
            ok = ok[np.unique(np.round(np.linspace(0, len(ok) - 1, per_series)).astype(int))]
        for k in ok:
            series.append(s)
            starts.append(a)
            cuts.append(a + int(k))
            tgt_ends.append(a + int(np.searchsorted(t, t[k] + horizon, side="right")))
    return _targets_windows(
        ragged,
        np.array(series, np.int64),
        np.array(starts, np.int64),
        np.array(cuts, np.int64),
        np.array(tgt_ends, np.int64),
    )


def training_windows(
    ragged: RaggedSeries,
    horizon: float,
    rng: np.random.Generator,
    per_series: int = 1,
    train_end: np.ndarray | None = None,
    max_history: int | None = None,
) -> WindowSet:
    """Random windows: ``per_series`` cutoffs per series drawn among its time points.

    The cutoff is a time point with at least one later point within ``horizon``; the targets
    are the observed entries in ``(cutoff, cutoff + horizon]``, all before ``train_end``.
    """
    ends = ragged.ends() if train_end is None else train_end
    series, starts, cuts, tgt_ends = [], [], [], []
    for s in range(ragged.n_series):
        a, b = int(ragged.indptr[s]), int(ends[s])
        if b - a < 2:
            continue
        t = ragged.times[a:b]
        # cutoff candidates: points whose successor is within the horizon
        ok = np.nonzero((t[1:] - t[:-1]) <= horizon)[0]
        if len(ok) == 0:
            continue
        for k in rng.choice(ok, size=per_series, replace=len(ok) < per_series):
            e = int(np.searchsorted(t, t[k] + horizon, side="right"))
            start = 0 if max_history is None else max(0, k + 1 - max_history)
            series.append(s)
            starts.append(a + start)
            cuts.append(a + int(k))
            tgt_ends.append(a + e)
    return _targets_windows(
        ragged,
        np.array(series),
        np.array(starts),
        np.array(cuts, np.int64),
        np.array(tgt_ends, np.int64),
    )


def forecast_windows(
    ragged: RaggedSeries,
    q_series: np.ndarray,
    q_time: np.ndarray,
    q_chan: np.ndarray,
    cutoff: np.ndarray | None = None,
    q_target: np.ndarray | None = None,
    q_futr: np.ndarray | None = None,
) -> WindowSet:
    """One window per series: the whole history up to ``cutoff`` (default: its last point),
    queried at the given (series, time, channel) triples (sorted by series); ``q_futr``
    (Q, n_futr): standardised known-future covariates at each query."""
    S = ragged.n_series
    order = np.argsort(q_series, kind="stable")
    q_series, q_time, q_chan = q_series[order], q_time[order], q_chan[order]
    q_futr = None if q_futr is None else np.asarray(q_futr, np.float64)[order]
    q_target = np.full(len(q_time), np.nan) if q_target is None else q_target[order]
    counts = np.bincount(q_series, minlength=S)
    if cutoff is None:
        cutoff = ragged.last_times()
        hist_end = ragged.ends()
    else:
        hist_end = np.array(
            [
                ragged.indptr[s]
                + np.searchsorted(ragged.times[ragged.series(s)], cutoff[s], "right")
                for s in range(S)
            ],
            dtype=np.int64,
        )
    return WindowSet(
        series=np.arange(S, dtype=np.int64),
        hist_start=ragged.starts(),
        hist_end=np.asarray(hist_end, np.int64),
        cutoff=np.asarray(cutoff),
        q_indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        q_time=q_time,
        q_chan=q_chan.astype(np.int64),
        q_target=q_target.astype(np.float64),
        q_futr=q_futr,
    )


@dataclass
class Batch:
    """A padded batch of ``B`` windows (N history points, Q queries, C channels).

    tau (B,N), dtau (B,N), values (B,N,C) scaled, mask (B,N,C), age (B,N,C) log1p time since
    each channel was last seen (0 where never), seen (B,N,C), valid (B,N);
    last_value/last_tau/has_last/hist_mean/hist_count (B,C) per-channel history summaries;
    q_tau (B,Q), q_chan (B,Q), q_valid (B,Q), y (B,Q) scaled targets (0 where unknown).
    Covariates, when the series carry them (else None): static (B, n_static), futr
    (B, N, n_futr) at the history points, q_futr (B, Q, n_futr) at the queries.
    All float32 except the index/bool tensors.
    """

    tau: torch.Tensor
    dtau: torch.Tensor
    values: torch.Tensor
    mask: torch.Tensor
    age: torch.Tensor
    seen: torch.Tensor
    valid: torch.Tensor
    last_value: torch.Tensor
    last_tau: torch.Tensor
    has_last: torch.Tensor
    hist_mean: torch.Tensor
    hist_count: torch.Tensor
    q_tau: torch.Tensor
    q_chan: torch.Tensor
    q_valid: torch.Tensor
    y: torch.Tensor
    y_known: torch.Tensor
    static: torch.Tensor | None = None
    futr: torch.Tensor | None = None
    q_futr: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(**{k: (v if v is None else v.to(device)) for k, v in self.__dict__.items()})


def relative_times(times: np.ndarray, cutoff, unit: float) -> np.ndarray:
    """``(t - cutoff) / unit`` as float64, the difference taken in int64 for ns timestamps;
    ``cutoff``: one, or an array that broadcasts against ``times`` (one per row)."""
    cutoff = np.asarray(cutoff)
    if times.dtype.kind in "iu":
        rel = (times - cutoff.astype(np.int64)).astype(np.float64)
    else:
        rel = times.astype(np.float64) - cutoff.astype(np.float64)
    # beyond +-1e30 time units float32 overflows; such gaps read as "infinitely long ago"
    return np.clip(rel / unit, -MAX_TAU, MAX_TAU)


def make_batch(
    ragged: RaggedSeries,
    windows: WindowSet,
    idx: np.ndarray,
    scaler: ValueScaler,
    unit: float,
    max_history: int | None = None,
) -> Batch:
    """Pad windows ``idx`` of ``windows`` into a model batch (history truncated to the last
    ``max_history`` points)."""
    B, C = len(idx), len(ragged.channels)
    starts = windows.hist_start[idx]
    ends = windows.hist_end[idx]
    if max_history is not None:
        starts = np.maximum(starts, ends - max_history)
    N = max(int((ends - starts).max()) if B else 0, 1)
    qn = windows.q_indptr[idx + 1] - windows.q_indptr[idx]
    Q = max(int(qn.max()) if B else 0, 1)
    n_futr = 0 if ragged.futr is None else ragged.futr.shape[1]
    arr = _zero_batch(B, N, Q, C, n_futr)
    if ragged.static is not None:
        arr["static"] = ragged.static[windows.series[idx]].astype(np.float32)
    for i, w in enumerate(idx):
        cut = windows.cutoff[w]
        _fill_history(arr, i, ragged, int(starts[i]), int(ends[i]), cut, scaler, unit)
        _fill_queries(arr, i, windows, w, cut, scaler, unit)
    return Batch(**{k: None if v is None else torch.from_numpy(v) for k, v in arr.items()})


def _zero_batch(B: int, N: int, Q: int, C: int, n_futr: int) -> dict[str, np.ndarray | None]:
    """The arrays of a :class:`Batch` (its field names, in its order), zero-filled; the
    covariates ``None`` (``futr`` / ``q_futr`` zeros when the series carry ``n_futr``)."""
    f32 = np.float32
    return {
        "tau": np.zeros((B, N), f32),
        "dtau": np.zeros((B, N), f32),
        "values": np.zeros((B, N, C), f32),
        "mask": np.zeros((B, N, C), f32),
        "age": np.zeros((B, N, C), f32),
        "seen": np.zeros((B, N, C), f32),
        "valid": np.zeros((B, N), bool),
        "last_value": np.zeros((B, C), f32),
        "last_tau": np.zeros((B, C), f32),
        "has_last": np.zeros((B, C), f32),
        "hist_mean": np.zeros((B, C), f32),
        "hist_count": np.zeros((B, C), f32),
        "q_tau": np.zeros((B, Q), f32),
        "q_chan": np.zeros((B, Q), np.int64),
        "q_valid": np.zeros((B, Q), bool),
        "y": np.zeros((B, Q), f32),
        "y_known": np.zeros((B, Q), bool),
        "static": None,
        "futr": np.zeros((B, N, n_futr), f32) if n_futr else None,
        "q_futr": np.zeros((B, Q, n_futr), f32) if n_futr else None,
    }


def _fill_history(
    arr: dict, i: int, ragged: RaggedSeries, a: int, b: int, cut, scaler: ValueScaler, unit: float
) -> None:
    """Row ``i`` of the history arrays: points ``a:b`` of ``ragged`` at times relative to
    ``cut``, with each channel's age, last value and history summaries."""
    n = b - a
    if n <= 0:
        return
    C = len(ragged.channels)
    rel = relative_times(ragged.times[a:b], cut, unit)  # (n,) float64
    m = ragged.mask[a:b]  # (n, C)
    v = np.where(m, scaler.transform(ragged.values[a:b]), 0.0)
    arr["tau"][i, :n] = rel
    arr["dtau"][i, 1:n] = np.diff(rel)
    if arr["futr"] is not None:
        arr["futr"][i, :n] = ragged.futr[a:b]
    arr["values"][i, :n] = v
    arr["mask"][i, :n] = m
    arr["valid"][i, :n] = True
    # time since each channel was last observed (at or before each point)
    last_seen = np.where(m, rel[:, None], -np.inf)
    last_seen = np.maximum.accumulate(last_seen, axis=0)
    ever = np.isfinite(last_seen)
    arr["age"][i, :n] = np.log1p(np.where(ever, rel[:, None] - np.where(ever, last_seen, 0), 0))
    arr["seen"][i, :n] = ever
    cnt = m.sum(0)
    has = cnt > 0
    last_idx = n - 1 - np.argmax(m[::-1], axis=0)  # (C,)
    arr["last_value"][i] = np.where(has, v[last_idx, np.arange(C)], 0.0)
    arr["last_tau"][i] = np.where(has, rel[last_idx], 0.0)
    arr["has_last"][i] = has
    arr["hist_mean"][i] = v.sum(0) / np.maximum(cnt, 1)
    arr["hist_count"][i] = np.log1p(cnt)


def _fill_queries(
    arr: dict, i: int, windows: WindowSet, w: int, cut, scaler: ValueScaler, unit: float
) -> None:
    """Row ``i`` of the query arrays: window ``w``'s queries at times relative to ``cut``,
    their scaled targets (0 where unknown) and known-future covariates."""
    qa, qb = int(windows.q_indptr[w]), int(windows.q_indptr[w + 1])
    k = qb - qa
    if not k:
        return
    ch = windows.q_chan[qa:qb]
    arr["q_tau"][i, :k] = relative_times(windows.q_time[qa:qb], cut, unit)
    arr["q_chan"][i, :k] = ch
    arr["q_valid"][i, :k] = True
    tgt = windows.q_target[qa:qb]
    known = np.isfinite(tgt)
    arr["y"][i, :k] = np.where(known, scaler.transform(np.where(known, tgt, 0.0), ch), 0.0)
    arr["y_known"][i, :k] = known
    if arr["q_futr"] is not None:
        if windows.q_futr is None:
            raise ValueError("the series carry known-future covariates: windows need q_futr")
        arr["q_futr"][i, :k] = windows.q_futr[qa:qb]

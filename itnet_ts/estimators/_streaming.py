"""Streaming: fold new observations into stored encoder states with ``ITNet.step``.

``ITNetForecaster.update(df)`` keeps one ``EncoderState`` row per series (a ``StreamCache``):
the first call encodes every series' history once (the last ``max_history`` time points, as
``predict`` would); every later call advances the states of the series that received data,
one new time point at a time and in time order, in O(layers x R x D) per point, and encodes
series it has not seen from their new points. ``predict`` (without ``df=``) then decodes from
the stored states: no refit, no re-encoding.

Time frames. ``step`` and ``decode`` take times relative to a cutoff; the cache keeps native
times (int64 ns / float64) of each series' last point, of each channel's last observation and
of the attention memory, and builds every frame from them in float64 exactly like
``make_batch`` (only then cast to float32), so stepped states agree with re-encoding to float
rounding.

Semantics with ``max_history``: re-encoding reads only the last ``max_history`` time points.
The stored states instead summarise every point since the cache was built (the recurrent
states forget old points through their decays, not by truncation; the per-channel history
mean and count, and each channel's last value, cover the whole stream). The two agree exactly
while a series holds at most ``max_history`` time points (history + updates); beyond that the
state is the streaming summary. The attention decoder's memory keeps the last ``max_history``
tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import (
    ValueScaler,
    WindowSet,
    make_batch,
    relative_times,
    scatter_queries,
)
from itnet_ts.errors import ITNetInputError
from itnet_ts.model.itnet import EncoderState, ITNet

__all__ = ["StreamCache", "build_cache", "merge_history", "predict_from_cache", "step_cache"]


@dataclass
class StreamCache:
    """Encoder states of every series of ``history`` (row s = series s), on the model's device.

    states: per block (S, Sd, D, R); last_value, value_sum, count: (S, C); static (S, n_static)
    and last_futr (S, C, n_futr) or None; ew (S, C, 7) or None (the "mix" start's sums).
    Native times: last_time (S,), last_seen (S, C) valid where ever (S, C).
    Attention decoder: memory[s] (M_s, D) and memory_times[s] (M_s,) per series, else None.
    ``model`` / ``history`` / ``max_history`` say what the cache was built for: it is used only
    while the estimator still holds that very model and history.
    """

    model: ITNet
    history: RaggedSeries
    max_history: int | None
    unit: float
    states: list[Tensor]
    last_value: Tensor
    value_sum: Tensor
    count: Tensor
    static: Tensor | None
    last_futr: Tensor | None
    ew: Tensor | None
    last_time: np.ndarray
    last_seen: np.ndarray
    ever: np.ndarray
    memory: list[Tensor] | None
    memory_times: list[np.ndarray] | None

    def valid_for(self, model: ITNet, history: RaggedSeries | None, max_history) -> bool:
        return self.model is model and self.history is history and self.max_history == max_history


def _device(model: ITNet) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------------------
# building: encode whole histories
# --------------------------------------------------------------------------------------


def _history_windows(ragged: RaggedSeries, series: np.ndarray) -> WindowSet:
    S = len(series)
    ends = ragged.indptr[series + 1]
    nf = 0 if ragged.futr is None else ragged.futr.shape[1]
    return WindowSet(
        series=series.astype(np.int64),
        hist_start=ragged.indptr[series].astype(np.int64),
        hist_end=ends.astype(np.int64),
        cutoff=ragged.times[ends - 1],
        q_indptr=np.zeros(S + 1, np.int64),
        q_time=ragged.times[:0],
        q_chan=np.zeros(0, np.int64),
        q_target=np.zeros(0),
        q_futr=None if ragged.futr is None else np.zeros((0, nf)),
    )


@torch.no_grad()
def _encode(
    model: ITNet,
    ragged: RaggedSeries,
    series: np.ndarray,
    scaler: ValueScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
) -> dict:
    """Encode the histories of ``series`` (the last ``max_history`` points of each)."""
    model.eval()
    device = _device(model)
    windows = _history_windows(ragged, series)
    attn = model.cfg.decoder != "recurrent"
    C = len(ragged.channels)
    keys = ("last_value", "value_sum", "count") + (("last_futr",) if model.cfg.n_futr else ())
    keys += ("ew",) if model.mix is not None else ()
    parts: dict[str, list] = {k: [] for k in ("states", *keys)}
    memory: list[Tensor] = []
    memory_times: list[np.ndarray] = []
    last_seen = np.zeros((len(series), C), ragged.times.dtype)
    ever = np.zeros((len(series), C), bool)
    for i in range(0, len(series), batch_size):
        idx = np.arange(i, min(i + batch_size, len(series)))
        st = model.encode(make_batch(ragged, windows, idx, scaler, unit, max_history).to(device))
        parts["states"].append(st.states)
        for k in keys:
            parts[k].append(getattr(st, k))
        for j, w in enumerate(idx):
            a, b = int(windows.hist_start[w]), int(windows.hist_end[w])
            if max_history is not None:
                a = max(a, b - max_history)
            m = ragged.mask[a:b]  # (n, C)
            has = m.any(0)
            last_idx = (b - a) - 1 - np.argmax(m[::-1], axis=0)
            last_seen[w] = np.where(has, ragged.times[a:b][last_idx], 0)
            ever[w] = has
            if attn:
                memory.append(st.memory[j, : b - a].clone())
                memory_times.append(ragged.times[a:b].copy())
    n_blocks = len(model.blocks)
    states = [torch.cat([p[k] for p in parts["states"]], 0) for k in range(n_blocks)]
    return dict(
        states=states,
        last_value=torch.cat(parts["last_value"], 0),
        value_sum=torch.cat(parts["value_sum"], 0),
        count=torch.cat(parts["count"], 0),
        last_futr=torch.cat(parts["last_futr"], 0) if model.cfg.n_futr else None,
        ew=torch.cat(parts["ew"], 0) if model.mix is not None else None,
        static=None
        if not model.cfg.n_static
        else torch.as_tensor(ragged.static[series], dtype=torch.float32, device=device),
        last_time=ragged.times[ragged.indptr[series + 1] - 1].copy(),
        last_seen=last_seen,
        ever=ever,
        memory=memory if attn else None,
        memory_times=memory_times if attn else None,
    )


def build_cache(
    model: ITNet,
    ragged: RaggedSeries,
    scaler: ValueScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
) -> StreamCache:
    """Encode every series of ``ragged`` into a new cache."""
    enc = _encode(model, ragged, np.arange(ragged.n_series), scaler, unit, batch_size, max_history)
    return StreamCache(model=model, history=ragged, max_history=max_history, unit=unit, **enc)


def _append(cache: StreamCache, enc: dict) -> None:
    """Add encoded new series (rows after the existing ones)."""
    cache.states = [torch.cat([a, b], 0) for a, b in zip(cache.states, enc["states"], strict=True)]
    for k in ("last_value", "value_sum", "count"):
        setattr(cache, k, torch.cat([getattr(cache, k), enc[k]], 0))
    for k in ("static", "last_futr", "ew"):
        if getattr(cache, k) is not None:
            setattr(cache, k, torch.cat([getattr(cache, k), enc[k]], 0))
    for k in ("last_time", "last_seen", "ever"):
        setattr(cache, k, np.concatenate([getattr(cache, k), enc[k]], 0))
    if cache.memory is not None:
        cache.memory += enc["memory"]
        cache.memory_times += enc["memory_times"]


# --------------------------------------------------------------------------------------
# states in a cutoff frame
# --------------------------------------------------------------------------------------


def _state(cache: StreamCache, rows: np.ndarray, cutoff: np.ndarray) -> EncoderState:
    """Encoder states of cache ``rows`` with times relative to ``cutoff`` (native, per row)."""
    dev = cache.last_value.device
    r = torch.as_tensor(rows, dtype=torch.long, device=dev)
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32, device=dev)  # noqa: E731
    tau_last = f32(relative_times(cache.last_time[rows], cutoff, cache.unit).astype(np.float32))
    rel_seen = relative_times(cache.last_seen[rows], cutoff[:, None], cache.unit).astype(np.float32)
    last_seen = f32(np.where(cache.ever[rows], rel_seen, -np.inf))
    st = EncoderState(
        [s[r] for s in cache.states],
        tau_last,
        last_seen,
        cache.last_value[r],
        cache.value_sum[r],
        cache.count[r],
    )
    st.static = None if cache.static is None else cache.static[r]
    st.last_futr = None if cache.last_futr is None else cache.last_futr[r]
    st.ew = None if cache.ew is None else cache.ew[r]
    if cache.memory is not None:
        M = max(len(cache.memory_times[i]) for i in rows)
        D = cache.memory[rows[0]].shape[-1]
        mem = torch.zeros((len(rows), M, D), device=dev)
        mtau = np.zeros((len(rows), M), np.float32)
        valid = np.zeros((len(rows), M), np.float32)
        for j, i in enumerate(rows):
            n = len(cache.memory_times[i])
            mem[j, :n] = cache.memory[i]
            mtau[j, :n] = relative_times(cache.memory_times[i], cutoff[j : j + 1], cache.unit)
            valid[j, :n] = 1.0
        st.memory, st.memory_tau, st.memory_valid = mem, f32(mtau), f32(valid)
    return st


# --------------------------------------------------------------------------------------
# stepping: new time points of known series
# --------------------------------------------------------------------------------------


@torch.no_grad()
def step_cache(
    cache: StreamCache,
    rows: np.ndarray,
    new: RaggedSeries,
    new_series: np.ndarray,
    scaler: ValueScaler,
) -> None:
    """Advance cache ``rows`` by every time point of series ``new_series`` of ``new`` (their
    new observations, all later than what the cache holds), round by round in time order."""
    model = cache.model
    model.eval()
    dev = cache.last_value.device
    starts = new.indptr[new_series]
    counts = new.indptr[new_series + 1] - starts
    attn = cache.memory is not None
    for k in range(int(counts.max()) if len(counts) else 0):
        sel = counts > k
        rws, pts = rows[sel], starts[sel] + k  # cache rows and their k-th new point
        t_new = new.times[pts]
        st = _state(cache, rws, t_new)  # frame: the new point is at tau = 0
        if attn:  # step() appends the new token to the memory; only that token is needed
            st.memory = st.memory[:, :0]
            st.memory_tau, st.memory_valid = st.memory_tau[:, :0], st.memory_valid[:, :0]
        m = new.mask[pts]  # (B, C)
        v = np.where(m, scaler.transform(new.values[pts]), 0.0)
        f32 = lambda x: torch.as_tensor(x, dtype=torch.float32, device=dev)  # noqa: E731
        futr = None if new.futr is None else f32(new.futr[pts])
        out = model.step(st, f32(np.zeros(len(rws))), f32(v), f32(m), futr)
        r = torch.as_tensor(rws, dtype=torch.long, device=dev)
        for s, s_new in zip(cache.states, out.states, strict=True):
            s[r] = s_new
        cache.last_value[r] = out.last_value
        cache.value_sum[r] = out.value_sum
        cache.count[r] = out.count
        if cache.last_futr is not None:
            cache.last_futr[r] = out.last_futr
        if cache.ew is not None:
            cache.ew[r] = out.ew
        cache.last_time[rws] = t_new
        cache.last_seen[rws] = np.where(m, t_new[:, None], cache.last_seen[rws])
        cache.ever[rws] |= m
        if attn:
            for j, i in enumerate(rws):
                mem, mt = cache.memory[i], cache.memory_times[i]
                if cache.max_history is not None:  # keep the last max_history tokens
                    drop = max(0, len(mt) + 1 - cache.max_history)
                    mem, mt = mem[drop:], mt[drop:]
                cache.memory[i] = torch.cat([mem, out.memory[j, -1:]], 0)
                cache.memory_times[i] = np.append(mt, t_new[j])


# --------------------------------------------------------------------------------------
# merging new observations into the history
# --------------------------------------------------------------------------------------


def merge_history(
    history: RaggedSeries | None,
    new: RaggedSeries,
    locate_row,
    fmt_time,
    static_tol: float = 1e-9,
) -> tuple[RaggedSeries, np.ndarray]:
    """``history`` with ``new``'s time points appended (series of ``new`` not in ``history``
    come last, in ``new``'s order), and for every series of ``new`` its row in the result.

    New points must be later than the end of their series' history: otherwise an
    ``ITNetInputError`` naming the row (``locate_row(series_id, time)``), series and times.
    """
    if history is None:
        return new, np.arange(new.n_series)
    index = {k: i for i, k in enumerate(history.ids.tolist())}
    pos = np.array([index.get(k, -1) for k in new.ids.tolist()], np.int64)
    _check_new_points(history, new, pos, locate_row, fmt_time, static_tol)
    # gather: every history series then its new points; then the new series
    order_t: list[tuple[RaggedSeries, int, int]] = []
    by_hist = {int(p): s for s, p in enumerate(pos) if p >= 0}
    lengths = []
    for h in range(history.n_series):
        a, b = int(history.indptr[h]), int(history.indptr[h + 1])
        order_t.append((history, a, b))
        n = b - a
        if h in by_hist:
            s = by_hist[h]
            c, d = int(new.indptr[s]), int(new.indptr[s + 1])
            order_t.append((new, c, d))
            n += d - c
        lengths.append(n)
    fresh = np.nonzero(pos < 0)[0]
    for s in fresh:
        c, d = int(new.indptr[s]), int(new.indptr[s + 1])
        order_t.append((new, c, d))
        lengths.append(d - c)

    def cat(attr):
        parts = [getattr(r, attr)[a:b] for r, a, b in order_t]
        return np.concatenate(parts) if parts else getattr(history, attr)[:0]

    futr = None
    if history.futr is not None and new.futr is not None:
        futr = cat("futr")
    static = None
    if history.static is not None and new.static is not None:
        static = np.concatenate([history.static, new.static[fresh]], 0)
    merged = replace(
        history,
        ids=np.concatenate([history.ids, new.ids[fresh]]).astype(object),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        times=cat("times"),
        values=cat("values"),
        mask=cat("mask"),
        static=static,
        futr=futr,
    )
    rows = np.where(pos >= 0, pos, 0)
    rows[fresh] = history.n_series + np.arange(len(fresh))
    return merged, rows


def _check_new_points(history, new, pos, locate_row, fmt_time, static_tol: float) -> None:
    """New points of known series (``pos`` >= 0: their row in ``history``) must come after
    the series' history, and their statics must be the held ones."""
    known = np.nonzero(pos >= 0)[0]
    if len(known):
        last = history.last_times()[pos[known]]
        first_new = new.first_times()[known]
        bad = np.nonzero(first_new <= last)[0]
        if len(bad):
            j = int(bad[0])
            s = int(known[j])
            a, b = int(new.indptr[s]), int(new.indptr[s + 1])
            t_bad = new.times[a:b][new.times[a:b] <= last[j]]
            sid = new.ids[s]
            row = locate_row(sid, t_bad[0])
            where = f"row {row}" if row is not None else "a row"
            n_bad = sum(
                int((new.times[new.indptr[i] : new.indptr[i + 1]] <= lt).sum())
                for i, lt in zip(known, last, strict=True)
            )
            more = f" ({n_bad} such time points in all)" if n_bad > 1 else ""
            raise ITNetInputError(
                f"update(): {where} (series {sid!r}, time {fmt_time(t_bad[0])}) is not after the "
                f"end of that series' history ({fmt_time(last[j])}){more}. update() folds in "
                "observations later than everything the model holds for the series: drop those "
                "rows, or refit (or predict(df=...)) with the corrected full history."
            )
        if history.static is not None and new.static is not None:
            diff = np.abs(history.static[pos[known]] - new.static[known]).max(1)
            if (diff > static_tol).any():
                sid = new.ids[known[int(np.argmax(diff > static_tol))]]
                raise ITNetInputError(
                    f"update(): static_df gives series {sid!r} other static covariates than the "
                    "model holds for it; static covariates are fixed per series. Drop that row "
                    "from static_df, or refit to change them."
                )


def update_cache(
    cache: StreamCache | None,
    model: ITNet,
    history: RaggedSeries | None,
    merged: RaggedSeries,
    new: RaggedSeries,
    rows: np.ndarray,
    scaler: ValueScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
) -> StreamCache:
    """The cache for ``merged`` (= ``history`` + ``new``; ``rows``: each new series' row)."""
    if cache is None or not cache.valid_for(model, history, max_history) or history is None:
        return build_cache(model, merged, scaler, unit, batch_size, max_history)
    n_old = history.n_series
    old = np.nonzero(rows < n_old)[0]
    if len(old):
        step_cache(cache, rows[old], new, old, scaler)
    fresh = rows >= n_old
    if fresh.any():
        _append(
            cache,
            _encode(
                model,
                merged,
                np.sort(rows[fresh]),
                scaler,
                unit,
                batch_size,
                max_history,
            ),
        )
    cache.history = merged
    return cache


# --------------------------------------------------------------------------------------
# predicting from the cache
# --------------------------------------------------------------------------------------


@torch.no_grad()
def predict_from_cache(cache: StreamCache, windows: WindowSet, batch_size: int) -> np.ndarray:
    """Forecasts (Q, n_outputs) in scaled units for ``windows`` (one per series, cut at the
    series' last point, as ``forecast_windows`` gives), decoded from the stored states."""
    model = cache.model
    model.eval()
    dev = cache.last_value.device
    out = np.zeros((len(windows.q_time), model.cfg.n_outputs), np.float32)
    nf = model.cfg.n_futr
    for i in range(0, len(windows), batch_size):
        idx = np.arange(i, min(i + batch_size, len(windows)))
        qn = windows.q_indptr[idx + 1] - windows.q_indptr[idx]
        if qn.sum() == 0:
            continue
        Q = int(qn.max())
        cutoff = np.asarray(windows.cutoff)[idx]
        q_tau = np.zeros((len(idx), Q), np.float32)
        q_chan = np.zeros((len(idx), Q), np.int64)
        q_futr = np.zeros((len(idx), Q, nf), np.float32) if nf else None
        for j, w in enumerate(idx):
            qa, qb = int(windows.q_indptr[w]), int(windows.q_indptr[w + 1])
            q_tau[j, : qb - qa] = relative_times(
                windows.q_time[qa:qb], cutoff[j : j + 1], cache.unit
            )
            q_chan[j, : qb - qa] = windows.q_chan[qa:qb]
            if nf:
                q_futr[j, : qb - qa] = windows.q_futr[qa:qb]
        st = _state(cache, windows.series[idx], cutoff)
        t = lambda x: None if x is None else torch.as_tensor(x, device=dev)  # noqa: E731
        pred = model.decode(st, t(q_tau), t(q_chan), t(q_futr)).cpu().numpy()
        scatter_queries(out, pred, windows, idx)
    return out

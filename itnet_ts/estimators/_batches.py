"""The batches a fit and a forecast run on: the order of windows in batches, padded batches of
random or stored windows, the per-epoch training batches of one fit (``TrainingBatches``), and
forecasts of many windows a batch at a time (``predict_windows``)."""

from __future__ import annotations

import numpy as np
import torch

from itnet_ts.data._batch_store import BatchStore
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._time import format_duration
from itnet_ts.data._windows import ValueScaler, WindowSet, make_batch, scatter_queries
from itnet_ts.errors import ITNetError, ITNetInputError
from itnet_ts.model.itnet import ITNet

__all__ = [
    "BUCKET",
    "TrainingBatches",
    "batch_order",
    "batches",
    "check_forecasts",
    "predict_windows",
    "stored_batches",
]


#: Pools of ``BUCKET`` batches' worth of shuffled windows, each sorted by history length (then
#: query count), make batches of similar lengths that pad less. 1 (default): plain random
#: batches. On PhysioNet (3 seeds, CPU) pools of 32 trained ~30% faster per epoch but ended
#: 3.9% worse on test MSE (benchmarks/RESULTS.md), so they are off.
BUCKET = 1


def batch_order(
    h_len: np.ndarray,
    q_len: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None,
    bucket: int | None = None,
) -> list[np.ndarray]:
    """Window indices of each batch of one pass.

    With ``rng`` (training): the windows shuffled, cut into pools of ``bucket * batch_size``,
    each pool sorted by (history length, query count) and cut into batches, the batches
    shuffled; every window once per pass. Without ``rng`` (evaluation): sorted by length.
    ``h_len``, ``q_len`` (W,): each window's history points and queries.
    """
    bucket = BUCKET if bucket is None else bucket
    W = len(h_len)
    if rng is None:
        order = np.lexsort((q_len, h_len))
        return [order[i : i + batch_size] for i in range(0, W, batch_size)]
    order = rng.permutation(W)
    if bucket <= 1:
        return [order[i : i + batch_size] for i in range(0, W, batch_size)]
    groups = []
    step = batch_size * bucket
    for a in range(0, W, step):
        pool = order[a : a + step]
        pool = pool[np.lexsort((q_len[pool], h_len[pool]))]
        groups += [pool[j : j + batch_size] for j in range(0, len(pool), batch_size)]
    return [groups[k] for k in rng.permutation(len(groups))]


def _window_lengths(windows: WindowSet, max_history: int | None) -> tuple[np.ndarray, ...]:
    h = windows.hist_end - windows.hist_start
    if max_history is not None:
        h = np.minimum(h, max_history)
    return h, np.diff(windows.q_indptr)


def batches(
    ragged: RaggedSeries,
    windows: WindowSet,
    scaler: ValueScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
    rng: np.random.Generator | None = None,
):
    """Yield padded batches of ``windows`` in ``batch_order`` (shuffled when ``rng`` is given,
    in windows of similar lengths)."""
    h_len, q_len = _window_lengths(windows, max_history)
    for idx in batch_order(h_len, q_len, batch_size, rng):
        yield make_batch(ragged, windows, idx, scaler, unit, max_history)


def stored_batches(store: BatchStore, batch_size: int, rng: np.random.Generator | None = None):
    """The batches ``batches`` would yield for the store's windows (same order for the same
    ``rng``), gathered from a :class:`~itnet_ts.data._batch_store.BatchStore` on its device."""
    for idx in batch_order(store.h_len, store.q_len, batch_size, rng):
        yield store.batch(idx)


def predict_windows(
    model: ITNet,
    ragged: RaggedSeries,
    windows: WindowSet,
    scaler: ValueScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
    device: torch.device,
    progress: bool = False,
) -> np.ndarray:
    """Point forecasts (Q, n_outputs) in scaled units for every query of ``windows``, in the
    windows' query order, ``batch_size`` windows at a time (bounded memory); ``progress``
    shows a bar when there is more than one batch."""
    from tqdm.auto import tqdm

    model.eval()
    out = np.zeros((len(windows.q_time), model.cfg.n_outputs), np.float32)
    starts = range(0, len(windows), batch_size)
    bar = tqdm(starts, desc="forecasting", unit="batch", leave=False,
               disable=not progress or len(starts) < 2)  # fmt: skip
    with torch.no_grad():
        for i in bar:
            idx = np.arange(i, min(i + batch_size, len(windows)))
            b = make_batch(ragged, windows, idx, scaler, unit, max_history).to(device)
            scatter_queries(out, model(b).cpu().numpy(), windows, idx)  # (B, Q, n_out)
    return out


class TrainingBatches:
    """The batches of one fit, on the strategy's device.

    Training: fresh random windows from every series each epoch (from this process's shard
    of the series under DDP), or the fixed windows of ``fit(cutoffs=...)`` packed once and
    reshuffled each epoch. Validation: the validation windows packed once; ``val_store`` holds
    all of them (the baseline check), ``validation`` this process's share."""

    def __init__(self, data, strategy, batch_size: int, max_history: int | None):
        self.data, self.strategy, self.max_history = data, strategy, max_history
        self.batch_size = strategy.local_batch(batch_size)
        self.train_store = None
        if data.fixed is not None:  # fixed windows: the same batches every epoch
            self.train_store = self._store(data.ragged, strategy.shard_windows(data.fixed))
        self.val_store = self._val_shard = None
        if data.val_windows is not None and len(data.val_windows) > 0:
            self.val_store = self._store(data.val_ragged, data.val_windows)
            shard = strategy.shard_windows(data.val_windows)
            same = shard is data.val_windows
            self._val_shard = self.val_store if same else self._store(data.val_ragged, shard)

    def _store(self, ragged: RaggedSeries, windows: WindowSet) -> BatchStore:
        d = self.data
        return BatchStore(
            ragged, windows, d.scaler, d.unit, self.max_history, device=self.strategy.device
        )

    def train(self, epoch: int):
        """The training batches of ``epoch`` (shuffled with the strategy's generator)."""
        d, rng = self.data, self.strategy.rng
        if self.train_store is not None:
            return stored_batches(self.train_store, self.batch_size, rng)
        ws = self.strategy.train_windows(d.ragged, d.train_end, d.horizon, d.per_series, epoch)
        if len(ws) == 0:
            raise ITNetInputError(
                "no training window found: every series needs at least two time points "
                f"less than the horizon ({format_duration(d.horizon, d.spec.time_kind)}) apart; "
                "pass a larger horizon= or more data per series"
            )
        return batches(d.ragged, ws, d.scaler, d.unit, self.batch_size, self.max_history, rng)

    @property
    def validation(self):
        """A function giving this process's validation batches, or None without any."""
        if self._val_shard is None:
            return None
        return lambda: stored_batches(self._val_shard, self.batch_size)

    def all_validation(self):
        """Every validation batch (None without validation windows)."""
        return None if self.val_store is None else stored_batches(self.val_store, self.batch_size)


def check_forecasts(y_hat: np.ndarray, ragged: RaggedSeries, windows, channels) -> None:
    """Never hand back NaN / infinite forecasts silently."""
    bad = np.flatnonzero(~np.isfinite(y_hat))
    if len(bad) == 0:
        return
    q = int(bad[0])
    w = int(np.searchsorted(windows.q_indptr, q, side="right")) - 1
    raise ITNetError(
        f"{len(bad)} forecasts are not finite (first: series "
        f"{ragged.ids[windows.series[w]]!r}, channel {channels[windows.q_chan[q]]!r}); the "
        "values or times are beyond what the model can represent. Check the data for extreme "
        "values or times, and report this if they look ordinary."
    )

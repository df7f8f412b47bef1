"""Model batches built once per fit: the windows' rows packed flat, a batch is a gather.

A training epoch rebuilds every batch of fixed windows with :func:`make_batch` (a Python loop
over windows, ~5 ms per PhysioNet batch of 32). :class:`BatchStore` runs ``make_batch`` once over
all windows, keeps each window's unpadded rows as flat tensors with CSR offsets (history rows,
query rows, per-window summaries), and ``batch(idx)`` pads the windows ``idx`` by one indexed
gather per field (padding reads a zero row): the same :class:`Batch`, bit for bit, as ``make_batch(..., idx, ...)`` (N and Q
are the longest history / query count in ``idx``, at least 1). The flat tensors can live on any
torch device, so a GPU fit gathers its batches on the device without host work per step.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import Batch, ValueScaler, WindowSet, make_batch

__all__ = ["BatchStore"]

# Batch fields by layout: one row per history point, per query, or per window.
_HIST = ("tau", "dtau", "values", "mask", "age", "seen", "valid", "futr")
_QUERY = ("q_tau", "q_chan", "q_valid", "y", "y_known", "q_futr")
_WINDOW = ("last_value", "last_tau", "has_last", "hist_mean", "hist_count", "static")
assert {f.name for f in fields(Batch)} == set(_HIST + _QUERY + _WINDOW)


class BatchStore:
    """The padded batches of ``windows`` for any index set, precomputed.

    ``BatchStore(ragged, windows, scaler, unit, max_history=None, device="cpu")`` packs every
    window once (``make_batch`` over ``chunk`` windows at a time); ``store.batch(idx)`` returns
    ``make_batch(ragged, windows, idx, scaler, unit, max_history)`` moved to ``device``.
    Memory: the unpadded rows of all windows, e.g. 0.2 GB for the PhysioNet training split.
    """

    def __init__(
        self,
        ragged: RaggedSeries,
        windows: WindowSet,
        scaler: ValueScaler,
        unit: float,
        max_history: int | None = None,
        device: torch.device | str = "cpu",
        chunk: int = 256,
    ):
        W = len(windows)
        self.device = torch.device(device)
        starts, ends = windows.hist_start, windows.hist_end
        if max_history is not None:
            starts = np.maximum(starts, ends - max_history)
        self.h_len = (ends - starts).astype(np.int64)
        self.q_len = np.diff(windows.q_indptr).astype(np.int64)
        self.h_off = np.concatenate([[0], np.cumsum(self.h_len)]).astype(np.int64)
        self.q_off = np.concatenate([[0], np.cumsum(self.q_len)]).astype(np.int64)
        parts: dict[str, list[torch.Tensor]] = {}
        template = make_batch(ragged, windows, np.zeros(0, np.int64), scaler, unit, max_history)
        self._none = {f.name for f in fields(Batch) if getattr(template, f.name) is None}
        for a in range(0, W, chunk):
            idx = np.arange(a, min(a + chunk, W))
            b = make_batch(ragged, windows, idx, scaler, unit, max_history)
            hm = torch.from_numpy(np.arange(b.tau.shape[1]) < self.h_len[idx][:, None])
            qm = torch.from_numpy(np.arange(b.q_tau.shape[1]) < self.q_len[idx][:, None])
            for name in _HIST + _QUERY + _WINDOW:
                if name in self._none:
                    continue
                v = getattr(b, name)
                # boolean-mask indexing keeps row-major order: window by window, row by row
                rows = v[hm] if name in _HIST else v[qm] if name in _QUERY else v
                parts.setdefault(name, []).append(rows)
        self._flat: dict[str, torch.Tensor] = {}
        for name in _HIST + _QUERY + _WINDOW:
            if name in self._none:
                continue
            got = parts.get(name)
            if got is None:  # no windows: empty rows of the right trailing shape
                t = getattr(template, name)
                lead = 1 if name in _WINDOW else 2
                got = [t.reshape(0, *t.shape[lead:])]
            if name not in _WINDOW:  # one zero row at the end: the source of every pad slot
                got.append(torch.zeros((1, *got[0].shape[1:]), dtype=got[0].dtype))
            self._flat[name] = torch.cat(got).to(self.device)

    def __len__(self) -> int:
        return len(self.h_len)

    @staticmethod
    def _gather_index(lengths: np.ndarray, offsets: np.ndarray, L: int, zero_row: int):
        """(B * L,) flat source row of every padded slot; ``zero_row`` (all zeros) on padding."""
        slot = np.arange(L)
        src = offsets[:, None] + slot
        return np.where(slot < lengths[:, None], src, zero_row).reshape(-1)

    def batch(self, idx) -> Batch:
        """``make_batch`` of the windows ``idx`` (on the store's device)."""
        idx = np.asarray(idx, np.int64)
        B = len(idx)
        hl, ql = self.h_len[idx], self.q_len[idx]
        N = max(int(hl.max()) if B else 0, 1)
        Q = max(int(ql.max()) if B else 0, 1)
        dev = self.device
        h_src = torch.from_numpy(self._gather_index(hl, self.h_off[idx], N, self.h_off[-1]))
        q_src = torch.from_numpy(self._gather_index(ql, self.q_off[idx], Q, self.q_off[-1]))
        w_idx = torch.from_numpy(idx)
        h_src, q_src, w_idx = h_src.to(dev), q_src.to(dev), w_idx.to(dev)
        out: dict[str, torch.Tensor | None] = {}
        for name in _HIST + _QUERY + _WINDOW:
            if name in self._none:
                out[name] = None
                continue
            flat = self._flat[name]
            if name in _WINDOW:
                out[name] = flat.index_select(0, w_idx)
            elif name in _HIST:
                out[name] = flat.index_select(0, h_src).view(B, N, *flat.shape[1:])
            else:
                out[name] = flat.index_select(0, q_src).view(B, Q, *flat.shape[1:])
        return Batch(**out)

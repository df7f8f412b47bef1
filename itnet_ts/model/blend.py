"""A forecast blended per channel from a network's median and the simple predictors of
:mod:`itnet_ts.model.baselines` (issue 13: a zero-shot network calibrated on the history it
is given).

:class:`PredictorBlend` wraps a network whose ``forward(batch)`` gives raw outputs
``(B, Q, n_outputs)`` with the median at index 0 (``itnet_ts.model.quantiles``: true of
every output layout the models use). Per query on channel ``c`` it forms the components
``[network median, P_0 .. P_{K-1}]`` (``P``: :func:`batch_predictors`) and replaces the
median by their convex combination with channel ``c``'s weights; every other output moves
with the median (a quantile's raw output is read relative to the median's, so the intervals
keep the network's widths).

:func:`simplex_weights` fits those weights: per channel, the convex combination with the
least mean squared error on a set of targets, shrunk towards the weights fitted on all
channels pooled, which are shrunk towards the network alone.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from itnet_ts.data._windows import Batch
from itnet_ts.model.baselines import N_EW, N_PREDICTORS_V2, ew_stats, predictor_values

__all__ = [
    "PredictorBlend",
    "batch_predictors",
    "blend_components",
    "blend_stats",
    "lead_bucket_weights",
    "query_leads",
    "simplex_weights",
]


def batch_predictors(batch: Batch, k: int = N_PREDICTORS_V2) -> Tensor:
    """The first ``k`` simple predictors of :data:`~itnet_ts.model.baselines.PREDICTORS` for
    every query of ``batch`` -> (B, Q, k), scaled units, from the window's history alone
    (the last value and the mean of the channel in the window, as ITNet computes them)."""
    tau_last = _last_tau(batch)
    ew = ew_stats(batch.values, batch.mask, batch.valid, batch.tau, tau_last)  # (B, C, 7)
    q = batch.q_chan
    has = batch.has_last.gather(1, q) > 0
    last_value = torch.where(has, batch.last_value.gather(1, q), 0.0)
    mean = torch.where(has, batch.hist_mean.gather(1, q), 0.0)
    ew = ew.gather(1, q[..., None].expand(-1, -1, N_EW))
    return predictor_values(has, last_value, mean, ew, query_leads(batch, tau_last), k)


def _last_tau(batch: Batch) -> Tensor:
    """(B,) time of each window's last history point (0 for an empty history)."""
    n_valid = batch.valid.sum(1)
    last = (n_valid - 1).clamp(min=0)
    return batch.tau.gather(1, last[:, None])[:, 0] * (n_valid > 0)


def query_leads(batch: Batch, tau_last: Tensor | None = None) -> Tensor:
    """(B, Q) each query's lead after its window's last history point (time units, >= 0)."""
    if tau_last is None:
        tau_last = _last_tau(batch)
    return (batch.q_tau - tau_last[:, None]).clamp(min=0)


def blend_components(network: nn.Module, batch: Batch, k: int, raw: Tensor | None = None):
    """(B, Q, 1 + k): ``network``'s median (``raw``: its outputs on ``batch`` if already
    computed), then the first ``k`` simple predictors."""
    if raw is None:
        raw = network(batch)
    P = batch_predictors(batch, k).to(raw.dtype)
    return torch.cat([raw[..., :1], P], dim=-1)


class PredictorBlend(nn.Module):
    """``network`` with its median replaced by a per-channel convex blend of the median and
    the simple predictors: ``forward(batch) -> (B, Q, n_outputs)`` raw outputs.

    weights (C, M) or (C, L, M) with M = 1 + K: per channel (and lead bucket), the weight of
    the network's median then of the first K predictors (rows on the simplex). lead_edges
    (L - 1,): the buckets' boundaries in lead time (a query of lead ``t`` is in bucket
    ``searchsorted(lead_edges, t)``)."""

    def __init__(self, network: nn.Module, weights: np.ndarray, lead_edges=()):
        super().__init__()
        self.network = network
        self.cfg = network.cfg
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float32)
        if w.ndim == 2:
            w = w[:, None, :]
        edges = torch.as_tensor(np.asarray(lead_edges, dtype=np.float64), dtype=torch.float32)
        if w.ndim != 3 or w.shape[2] < 1 or w.shape[1] != edges.numel() + 1:
            raise ValueError(
                f"weights must be (C, 1 + K) or (C, L, 1 + K) with L - 1 lead edges, got "
                f"{tuple(np.shape(weights))} and {edges.numel()} edges"
            )
        self.register_buffer("weights", w)
        self.register_buffer("lead_edges", edges)

    @property
    def n_predictors(self) -> int:
        return int(self.weights.shape[2]) - 1

    def components(self, batch: Batch, raw: Tensor | None = None) -> Tensor:
        """(B, Q, 1 + K): the network's median, then the K simple predictors."""
        return blend_components(self.network, batch, self.n_predictors, raw)

    def forward(self, batch: Batch) -> Tensor:
        raw = self.network(batch)
        comp = self.components(batch, raw)
        bucket = torch.bucketize(query_leads(batch).float(), self.lead_edges, right=True)
        w = self.weights.to(raw.dtype)[batch.q_chan, bucket]  # (B, Q, 1 + K)
        blended = (w * comp).sum(-1)
        return raw + (blended - raw[..., 0])[..., None]


def blend_stats(comp: np.ndarray, y: np.ndarray, chan: np.ndarray, n_channels: int):
    """Sufficient statistics of the blend's squared error per channel: ``comp`` (T, M) the
    components at T targets ``y`` (T,) of channels ``chan`` (T,) -> (G (C, M, M) = mean of
    comp comp^T, b (C, M) = mean of comp y, yy (C,) = mean of y^2, n (C,) targets), float64;
    zero where a channel has no target."""
    comp = np.asarray(comp, np.float64)
    y = np.asarray(y, np.float64)
    C, M = n_channels, comp.shape[1]
    n = np.bincount(chan, minlength=C).astype(np.float64)
    G = np.zeros((C, M, M))
    np.add.at(G, chan, comp[:, :, None] * comp[:, None, :])
    b = np.zeros((C, M))
    np.add.at(b, chan, comp * y[:, None])
    yy = np.bincount(chan, weights=y * y, minlength=C)
    d = np.maximum(n, 1.0)
    return G / d[:, None, None], b / d[:, None], yy / d, n


def simplex_weights(
    G: np.ndarray, b: np.ndarray, n: np.ndarray, shrink: float = 50.0, iters: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel blend weights on the simplex -> (weights (C, M), pooled weights (M,)).

    Channel ``c`` minimises ``w^T G_c w - 2 b_c^T w`` (its mean squared error up to a
    constant; :func:`blend_stats`) with ``shrink`` pseudo-targets of the pooled problem added
    to its ``n_c`` targets; the pooled problem (all channels' targets) gets ``shrink``
    pseudo-targets of a ridge towards component 0 (the network alone). With few targets the
    weights stay near the network; with many they follow the data. Projected gradient
    descent from component 0, deterministic."""
    Gc, bc, pooled = _channel_problems(G, b, n, shrink, iters)
    return _project_descent(Gc, bc, iters), pooled


def _channel_problems(G, b, n, shrink: float, iters: int = 500):
    """The per-channel problems of :func:`simplex_weights` after shrinkage, and the pooled
    weights -> (Gc (C, M, M), bc (C, M), pooled (M,))."""
    M = b.shape[1]
    n_all = float(n.sum())
    e0 = np.zeros(M)
    e0[0] = 1.0
    Gp = np.einsum("c,cij->ij", n, G) / max(n_all, 1.0)
    bp = np.einsum("c,ci->i", n, b) / max(n_all, 1.0)
    scale = float(np.mean(np.diag(Gp))) if n_all > 0 else 1.0
    scale = scale if scale > 0 else 1.0
    Gp = (n_all * Gp + shrink * scale * np.eye(M)) / (n_all + shrink)
    bp = (n_all * bp + shrink * scale * e0) / (n_all + shrink)
    pooled = _project_descent(Gp[None], bp[None], iters)[0]
    Gc = (n[:, None, None] * G + shrink * Gp) / (n + shrink)[:, None, None]
    bc = (n[:, None] * b + shrink * bp) / (n + shrink)[:, None]
    return Gc, bc, pooled


def lead_bucket_weights(
    comp, y, chan, bucket, n_channels: int, n_buckets: int, shrink: float = 50.0
) -> tuple[np.ndarray, np.ndarray]:
    """Blend weights per channel and lead bucket -> (weights (C, L, M), pooled (M,)): each
    (channel, bucket) cell minimises its squared error with ``shrink`` pseudo-targets of its
    channel's problem (itself shrunk as in :func:`simplex_weights`). ``bucket`` (T,): each
    target's lead bucket in ``[0, n_buckets)``."""
    C, L = n_channels, n_buckets
    G, b, _, n = blend_stats(comp, y, chan, C)
    Gc, bc, pooled = _channel_problems(G, b, n, shrink)
    if L == 1:  # the channel's own weights (simplex_weights)
        return _project_descent(Gc, bc, 500)[:, None, :], pooled
    Gl, bl, _, nl = blend_stats(comp, y, chan * L + bucket, C * L)
    Gc, bc = np.repeat(Gc, L, axis=0), np.repeat(bc, L, axis=0)
    Gl = (nl[:, None, None] * Gl + shrink * Gc) / (nl + shrink)[:, None, None]
    bl = (nl[:, None] * bl + shrink * bc) / (nl + shrink)[:, None]
    w = _project_descent(Gl, bl, 500)
    return w.reshape(C, L, -1), pooled


def _project_descent(G: np.ndarray, b: np.ndarray, iters: int) -> np.ndarray:
    """argmin over the simplex of ``w^T G w - 2 b^T w`` per row: G (C, M, M), b (C, M)."""
    C, M = b.shape
    w = np.zeros((C, M))
    w[:, 0] = 1.0
    lip = 2.0 * np.maximum(np.linalg.eigvalsh(G)[:, -1], 1e-12)  # (C,)
    for _ in range(iters):
        grad = 2.0 * (np.einsum("cij,cj->ci", G, w) - b)
        w = _simplex_projection(w - grad / lip[:, None])
    return w


def _simplex_projection(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` (C, M) onto the probability simplex."""
    M = v.shape[1]
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    k = np.arange(1, M + 1)
    rho = np.sum(u - css / k > 0, axis=1)  # (C,) >= 1
    theta = css[np.arange(len(v)), rho - 1] / rho
    return np.maximum(v - theta[:, None], 0.0)

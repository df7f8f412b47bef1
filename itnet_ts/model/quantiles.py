"""Quantile outputs that never cross, and the pinball loss that trains them.

The network's head gives ``K`` raw outputs per query. Output 0 is the median (persistence plus
a learned correction, like the point forecast); the others are turned into non-negative gaps
with a softplus and accumulated away from the median, downwards for the quantile levels below
0.5 and upwards for those above it. So the quantiles are ordered **by construction**, for any
weights and any input: nothing is sorted after the fact (sorting would hand the gradient of one
quantile's loss to another quantile's output).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["monotone_quantiles", "pinball"]


def monotone_quantiles(raw: Tensor, quantiles: Sequence[float]) -> Tensor:
    """Raw head outputs ``(..., K)`` -> quantiles ``(..., K)`` at the levels ``quantiles``
    (``K`` distinct levels in increasing order, 0.5 among them).

    ``raw[..., 0]`` is the median; with ``n_below`` levels under 0.5, ``raw[..., 1 : 1 +
    n_below]`` give the gaps below the median (nearest level first) and ``raw[..., 1 +
    n_below :]`` the gaps above it (nearest first). A gap is ``softplus(raw_k - raw_0 + c_k)``:
    the head adds the persistence base to every output, so the difference removes it, and the
    constant ``c_k`` makes a zero-initialised head start at the gaps of a standard normal (in
    the channel's standardised units) -- ``[-1.28, 0, 1.28]`` for levels ``[0.1, 0.5, 0.9]``
    around the median. The median ends up at index ``n_below``.
    """
    K = raw.shape[-1]
    q = torch.as_tensor(list(quantiles), dtype=torch.float64)  # (K,)
    if q.numel() != K or not bool((q > 0).all() & (q < 1).all()):
        raise ValueError(f"need {K} quantile levels in (0, 1), got {list(quantiles)}")
    if not bool((q[1:] > q[:-1]).all()) or not bool((q == 0.5).any()):
        raise ValueError(f"quantile levels must increase and include 0.5, got {list(quantiles)}")
    n_below = int((q < 0.5).sum())
    z = torch.special.ndtri(q)  # (K,) standard normal quantiles
    prior = torch.cat(
        [(z[1 : n_below + 1] - z[:n_below]).flip(0), z[n_below + 1 :] - z[n_below:-1]]
    )
    offset = (prior + torch.log(-torch.expm1(-prior))).to(raw)  # (K - 1,) softplus^-1(prior)
    med = raw[..., :1]  # (..., 1)
    gaps = F.softplus(raw[..., 1:] - med + offset)  # (..., K - 1), >= 0
    down = med - torch.cumsum(gaps[..., :n_below], dim=-1)  # (..., n_below), nearest first
    up = med + torch.cumsum(gaps[..., n_below:], dim=-1)  # (..., K - 1 - n_below)
    return torch.cat([down.flip(-1), med, up], dim=-1)  # (..., K)


def pinball(pred: Tensor, y: Tensor, quantiles: Sequence[float]) -> Tensor:
    """Pinball (quantile) loss ``max(q (y - f), (q - 1) (y - f))`` of quantile forecasts
    ``pred (..., K)`` of targets ``y (...)``, averaged over the ``K`` levels -> ``(...)``."""
    q = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)  # (K,)
    diff = y[..., None] - pred  # (..., K)
    return torch.maximum(q * diff, (q - 1) * diff).mean(-1)

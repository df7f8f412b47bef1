"""Monte Carlo integration over a history: the encoder integrates M(N) sampled observations
instead of all N, with importance weights that keep every first-layer sum unbiased.

The transform is a weighted sum over observations, ``sum_j w_j K(., tau_j) v_j``. With each
point kept with probability ``pi_j`` and weighted ``w_j / pi_j`` (Horvitz-Thompson), the sum
over the kept points has the full sum as its expectation. The sample keeps the most recent
``M // 2`` points always (``pi = 1``: the decaying kernels weigh them most) and draws the rest
uniformly without replacement from the older ones (``pi = (M - K) / (N - K)``).
``M(N) = min(N, max(min_points, ceil(factor * sqrt(N))))``: 128 of 256, 512 of 4,096, 8,000
of 1e6 points with the defaults.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mc_points", "mc_subsample"]


def mc_points(n: Tensor, min_points: int = 64, factor: float = 8.0) -> Tensor:
    """(B,) sample sizes M for histories of ``n`` (B,) valid points (M = n for short ones)."""
    m = torch.clamp(torch.ceil(factor * n.double().sqrt()), min=min_points).long()
    return torch.minimum(m, n.long())


def mc_subsample(
    valid: Tensor, m: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Draw ``m[b]`` of the valid (right-padded) points of each series.

    valid (B, N) bool; m (B,) sample sizes (<= the valid counts). Returns idx (B, M) the kept
    positions in increasing order (padded with 0), keep (B, M) bool (False on padding) and
    inv_pi (B, M) the inverse inclusion probabilities (0 on padding).
    """
    B, N = valid.shape
    dev = valid.device
    n = valid.sum(1)  # (B,)
    k = m // 2  # the most recent k points: always kept
    pos = torch.arange(N, device=dev)[None, :]  # (1, N)
    recent = valid & (pos >= (n - k)[:, None])
    u = torch.rand(B, N, generator=generator, device=dev) if N else torch.zeros(B, 0, device=dev)
    key = torch.where(recent, -1.0, torch.where(valid, u, 2.0))  # smallest keys are kept
    M = int(m.max()) if B else 0
    chosen = torch.topk(key, M, dim=1, largest=False).indices  # (B, M)
    keep = torch.arange(M, device=dev)[None, :] < m[:, None]
    idx = torch.sort(torch.where(keep, chosen, N), dim=1).values  # kept first, in order
    keep = idx < N
    idx = torch.where(keep, idx, 0)
    older = (n - k).clamp(min=1).to(torch.float64)
    rate = ((m - k).to(torch.float64) / older).clamp(max=1.0)  # pi of the older points
    is_recent = idx >= (n - k)[:, None]
    pi = torch.where(is_recent, 1.0, rate[:, None].expand_as(idx))
    inv_pi = torch.where(keep, 1.0 / pi.clamp(min=1e-12), 0.0)
    return idx, keep, inv_pi

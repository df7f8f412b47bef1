"""The decoder's closed-form read of the recurrent transform at future coordinates (the spec).

After the last observation the recurrence has no more inputs, so its state evolves in closed
form: a query ``lead`` time units later sees ``state * exp(-lam * lead)`` (rotated by
``omega * lead`` for oscillatory poles, normalised for KWN), contracted with the query's kernel
factors ``Cq`` over the rank.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["read_reference"]


def read_reference(
    state: Tensor,
    lam: Tensor,
    lead: Tensor,
    Cq: Tensor,
    omega: Tensor | None = None,
    kwn: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """Evaluate the transform at ``lead`` after its last observation.

    Args:
        state: (B, S, D, R) final scan state, components re, [im], [z] (see ``scan_reference``).
        lam, omega: (D, R) decay rates (> 0) and oscillation frequencies.
        lead: (B, Q) time from the last observation to each query (>= 0).
        Cq: (B, Q, R) query-side kernel factors.

    Returns:
        (B, Q, D): ``sum_r Cq[b,q,r] * read[b,q,d,r]``.
    """
    lead = lead[:, :, None, None]  # (B, Q, 1, 1)
    a = torch.exp(-lam * lead)  # (B, Q, D, R)
    re = state[:, None, 0]  # (B, 1, D, R)
    if omega is not None:
        theta = omega * lead
        re = a * (torch.cos(theta) * re - torch.sin(theta) * state[:, None, 1])
    else:
        re = a * re
    if kwn:
        re = re / (a * state[:, None, -1] + eps)
    return (Cq[:, :, None, :] * re).sum(-1)

"""The decoder's closed-form read of the recurrent transform at future coordinates (the spec).

After the last observation the recurrence has no more inputs, so its state evolves in closed
form: a query ``lead`` time units later sees ``state * exp(-lam * lead)`` (rotated by
``omega * lead`` for oscillatory poles, normalised for KWN), contracted with the query's kernel
factors ``Cq`` over the rank.

KWN divides by the kernel mass ``z``. Without inputs both ``state`` and ``z`` decay by the same
``exp(-lam * lead)``, so the normalised read is the KWN output at the last observation (rotated
for oscillatory poles) at every lead: the read is ``state / (z + eps)``, not
``a * state / (a * z + eps)``, which drops to 0 where ``a * z`` falls below ``eps`` (a cliff at
long leads).
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
    re = state[:, None, 0]  # (B, 1, D, R)
    if omega is not None:
        theta = omega * lead
        re = torch.cos(theta) * re - torch.sin(theta) * state[:, None, 1]
    if kwn:  # a * re / (a * z): the decay cancels (computed without it: no 0/0 when a underflows)
        re = re / (state[:, None, -1] + eps)
    else:
        re = torch.exp(-lam * lead) * re  # (B, Q, D, R)
    return (Cq[:, :, None, :] * re).sum(-1)

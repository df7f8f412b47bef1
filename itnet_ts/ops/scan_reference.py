"""PyTorch reference of the recurrent-mode integral transform (the spec and test oracle).

The recurrent mode of ITNet evaluates, causally at every observation ``n``,

    y_n = sum_{j<=n} w_j * sum_r C_{n,r} * k_r(tau_n - tau_j) * B_{j,r} * u_j      (per channel d)

with the lag kernel ``k_r(D) = exp(-lam_r D)`` (optionally ``* cos(omega_r D)``: an oscillatory
pole). Because the kernel is exponential in the lag the sum is a linear recurrence over the
observations, one state of shape (D, R) per series::

    delta_{n,d}  = dtau_n * sel_{n,d}                       (elapsed time; sel = 1 if absent)
    a_{n,d,r}    = exp(-lam_{d,r} * delta_{n,d})
    theta_{n,d,r} = omega_{d,r} * delta_{n,d}
    re_n = a * (cos(theta) re_{n-1} - sin(theta) im_{n-1}) + w_n B_{n,r} u_{n,d}
    im_n = a * (sin(theta) re_{n-1} + cos(theta) im_{n-1})            (only with omega)
    z_n  = a * z_{n-1} + w_n                                          (only with kwn)
    y_{n,d} = sum_r C_{n,r} * re_n[d,r] / (z_n[d,r] + eps if kwn else 1) + skip_d * u_{n,d}

State layout (shared by every backend): ``state (B, S, D, R)`` with the components stacked on
axis 1 in the order ``re, [im], [z]`` — ``S = 1 + (omega is not None) + kwn``.

Padding convention: a padded step has ``w = 0`` and ``dtau = 0``, which leaves the state
unchanged, so right-padded batches return each series' state after its last observation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from itnet_ts._scan_signature import check_scan_inputs, state_components

__all__ = ["check_scan_inputs", "scan_reference", "state_components"]


def scan_reference(
    u: Tensor,
    dtau: Tensor,
    w: Tensor,
    Bm: Tensor,
    Cm: Tensor,
    lam: Tensor,
    omega: Tensor | None = None,
    sel: Tensor | None = None,
    s0: Tensor | None = None,
    skip: Tensor | None = None,
    kwn: bool = False,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Recurrent integral transform by an explicit loop over observations.

    Args:
        u: (B, N, D) values to integrate (``V h``).
        dtau: (B, N) elapsed time since the previous observation, >= 0 (0 on padding).
        w: (B, N) importance / quadrature weights (0 on padding).
        Bm: (B, N, R) input projection ``b(h_n)``.
        Cm: (B, N, R) output projection ``a(h_n)``.
        lam: (D, R) decay rates, > 0.
        omega: (D, R) optional angular frequencies of oscillatory poles.
        sel: (B, N, D) optional positive selectivity multiplying the elapsed time.
        s0: (B, S, D, R) optional initial state.
        skip: (D,) optional skip weights: ``y += skip * u``.
        kwn: divide each pole by its kernel mass ``z`` (kernel-weight normalisation).
        eps: added to ``z`` before dividing.

    Returns:
        y: (B, N, D) outputs; state: (B, S, D, R) state after the last step.
    """
    B, N, D, R, S = check_scan_inputs(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn)
    has_omega = omega is not None
    if s0 is None:
        s0 = u.new_zeros(B, S, D, R)
    re = s0[:, 0]  # (B, D, R)
    im = s0[:, 1] if has_omega else None
    z = s0[:, -1] if kwn else None
    ys = []
    for n in range(N):
        delta = dtau[:, n, None].expand(B, D)  # (B, D)
        if sel is not None:
            delta = delta * sel[:, n]
        delta = delta[:, :, None]  # (B, D, 1)
        a = torch.exp(-lam * delta)  # (B, D, R)
        inp = (w[:, n, None, None] * Bm[:, n, None, :]) * u[:, n, :, None]  # (B, D, R)
        if has_omega:
            theta = omega * delta
            cos, sin = torch.cos(theta), torch.sin(theta)
            re, im = a * (cos * re - sin * im) + inp, a * (sin * re + cos * im)
        else:
            re = a * re + inp
        if kwn:
            z = a * z + w[:, n, None, None]
            read = re / (z + eps)
        else:
            read = re
        y = (Cm[:, n, None, :] * read).sum(-1)  # (B, D)
        if skip is not None:
            y = y + skip * u[:, n]
        ys.append(y)
    parts = [re] + ([im] if has_omega else []) + ([z] if kwn else [])
    state = torch.stack(parts, dim=1)  # (B, S, D, R)
    y = torch.stack(ys, dim=1) if ys else u.new_zeros(B, 0, D)
    return y, state

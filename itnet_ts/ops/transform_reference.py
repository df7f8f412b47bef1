"""PyTorch references of the integral transform in its conv and attention modes, and the
direct O(N^2) sum that the recurrent mode evaluates as a linear recurrence.

All three evaluate ``(T h)(tau) = sum_j w_j K(tau, tau_j, ...) v_j`` at query coordinates
``q_tau`` over key observations at ``k_tau``; they differ only in the kernel ``K``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["attention_transform", "conv_transform", "recurrent_direct", "recurrent_quadratic"]

LagKernel = Callable[[Tensor], Tensor]  # (..., 1) lags -> (..., D) or (..., 1)


def conv_transform(
    q_tau: Tensor,
    k_tau: Tensor,
    v: Tensor,
    w: Tensor,
    kernel: LagKernel,
    support: float | None = None,
) -> Tensor:
    """Continuous convolution ``y_m = sum_j w_j k(q_m - tau_j) * v_j``.

    Args:
        q_tau: (B, M) query coordinates; k_tau: (B, N) key coordinates.
        v: (B, N, D) values; w: (B, N) importance weights (0 on padding).
        kernel: maps lags (B, M, N, 1) to kernel values (B, M, N, D) (or (..., 1), broadcast).
        support: kernel is zero where ``|lag| > support`` (finite support), if given.
    Returns:
        (B, M, D)
    """
    lag = q_tau[:, :, None] - k_tau[:, None, :]  # (B, M, N)
    K = kernel(lag[..., None])  # (B, M, N, D)
    if support is not None:
        K = K * (lag.abs() <= support)[..., None]
    return torch.einsum("bmnd,bn,bnd->bmd", K.expand(*lag.shape, v.shape[-1]), w, v)


def attention_transform(
    q_tau: Tensor,
    k_tau: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    w: Tensor,
    lag_kernel: LagKernel | None = None,
) -> Tensor:
    """Content-dependent kernel: ``K = softmax_j(q_m.k_j / sqrt(E) + k(q_m - tau_j) + log w_j)``.

    With ``lag_kernel=None`` (zero lag kernel) and unit weights this is softmax attention.

    Args:
        q_tau: (B, M); k_tau: (B, N); q: (B, M, E); k: (B, N, E); v: (B, N, D);
        w: (B, N) importance weights, 0 excludes a key (padding).
        lag_kernel: maps lags (B, M, N, 1) to additive logits (B, M, N, 1).
    Returns:
        (B, M, D)
    """
    logits = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, M, N)
    if lag_kernel is not None:
        lag = q_tau[:, :, None] - k_tau[:, None, :]
        logits = logits + lag_kernel(lag[..., None])[..., 0]
    logits = logits + torch.log(w)[:, None, :]  # log 0 = -inf drops padded keys
    return torch.softmax(logits, dim=-1) @ v


def recurrent_direct(
    tau: Tensor,
    u: Tensor,
    w: Tensor,
    Bm: Tensor,
    Cm: Tensor,
    lam: Tensor,
    omega: Tensor | None = None,
    kwn: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """The causal sum the recurrent scan computes, evaluated directly in O(N^2) on the
    coordinates ``tau`` (``recurrent_quadratic`` without selectivity or skip).

    Causal by index (``j <= n``), so observations sharing a timestamp enter in order.

    ``y_{n,d} = sum_r C_{n,r} * [sum_{j<=n} w_j k_{d,r}(tau_n - tau_j) B_{j,r} u_{j,d}]
    (/ [sum_{j<=n} w_j exp(-lam_{d,r} (tau_n - tau_j)) + eps] with kwn)`` with
    ``k(L) = exp(-lam L) [cos(omega L)]``.

    Args: tau (B, N) sorted coordinates; u (B, N, D); w (B, N); Bm, Cm (B, N, R); lam,
    omega (D, R). Returns (B, N, D).
    """
    dtau = torch.diff(tau, dim=1, prepend=tau[:, :1])  # lags tau_n - tau_j on this clock
    return recurrent_quadratic(u, dtau, w, Bm, Cm, lam, omega=omega, kwn=kwn, eps=eps)[0]


def recurrent_quadratic(
    u: Tensor,
    dtau: Tensor,
    w: Tensor,
    Bm: Tensor,
    Cm: Tensor,
    lam: Tensor,
    omega: Tensor | None = None,
    sel: Tensor | None = None,
    skip: Tensor | None = None,
    kwn: bool = False,
    eps: float = 1e-6,
    max_elements: int = 1 << 24,
) -> tuple[Tensor, Tensor]:
    """The recurrent transform (``scan_reference`` without ``s0``) in attention form: every
    output as a causal weighted sum over all earlier observations, O(N^2 D R) time.

    ``y_n = sum_r C_{n,r} sum_{j<=n} w_j exp(-lam L_nj) [cos(omega L_nj)] B_{j,r} u_j``
    (``/ (sum_{j<=n} w_j exp(-lam L_nj) + eps)`` with KWN) ``+ skip * u_n``, with the lag
    ``L_nj = T_n - T_j`` on the clock ``T_n = sum_{k<=n} dtau_k [* sel_k]``. The final state
    is the same sum at ``n = N - 1`` (re, [im: the sine part], [z: the kernel mass]).
    Outputs are computed in row blocks of at most ``max_elements`` (B, rows, N, D, R) kernel
    entries; with autograd on each block is recomputed in the backward pass (checkpointing),
    so memory stays O(block) instead of O(N^2 D R). Lags are differences of the cumulative
    clock, so in float32 they lose precision on very long clocks (the scan does not).

    Args: as ``scan_reference``: u (B, N, D), dtau (B, N), w (B, N), Bm, Cm (B, N, R), lam,
    omega (D, R), sel (B, N, D), skip (D,). Returns y (B, N, D), state (B, S, D, R).
    """
    B, N, D = u.shape
    R = lam.shape[1]
    delta = dtau[..., None].expand(B, N, D) if sel is None else dtau[..., None] * sel
    clock = torch.cumsum(delta, dim=1)  # (B, N, D)
    inp = (w[..., None] * Bm)[:, :, None, :] * u[..., None]  # (B, N, D, R): w_j B_j u_j
    pos = torch.arange(N, device=u.device)

    def sums(rows: Tensor, clock, inp, w):
        """Per output row n in ``rows``: the causal sums re, im, z, each (B, rows, D, R)."""
        lag = clock[:, rows, None, :] - clock[:, None, :, :]  # (B, c, N, D)
        causal = (pos[None, :] <= rows[:, None]).to(u.dtype)  # (c, N)
        lag = lag.clamp(min=0)[..., None]  # (B, c, N, D, 1)
        env = torch.exp(-lam * lag) * causal[None, :, :, None, None]  # (B, c, N, D, R)
        out = [((env * torch.cos(omega * lag) if omega is not None else env) * inp[:, None])]
        if omega is not None:
            out.append(env * torch.sin(omega * lag) * inp[:, None])
        if kwn:
            out.append(env * w[:, None, :, None, None])
        return [x.sum(2) for x in out]

    def block(rows: Tensor, clock, inp, w, Cm_rows, u_rows):
        parts = sums(rows, clock, inp, w)
        read = parts[0] / (parts[-1] + eps) if kwn else parts[0]
        y = (Cm_rows[:, :, None, :] * read).sum(-1)  # (B, c, D)
        if skip is not None:
            y = y + skip * u_rows
        return y

    step = max(1, max_elements // max(B * N * D * R, 1))
    ys = []
    for a in range(0, N, step):
        rows = pos[a : a + step]
        args = (rows, clock, inp, w, Cm[:, a : a + step], u[:, a : a + step])
        if torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            ys.append(checkpoint(block, *args, use_reentrant=False))
        else:
            ys.append(block(*args))
    y = torch.cat(ys, dim=1) if ys else u.new_zeros(B, 0, D)
    if N == 0:
        S = 1 + int(omega is not None) + int(kwn)
        return y, u.new_zeros(B, S, D, R)
    state = torch.stack(sums(pos[-1:], clock, inp, w), dim=1)[:, :, 0]  # (B, S, D, R)
    return y, state

"""Numba CPU kernel of the decoder read (plain poles: no ``omega``, no KWN), forward + backward.

Same result as :func:`itnet_ts.ops.read_reference.read_reference` without materialising the
(B, Q, D, R) decay tensor the reference builds (for a PhysioNet batch, 32 x 600 x 64 x 16 floats
per intermediate). Queries of a row that share their lead (one time, several channels: about
four on PhysioNet) share one (R, D) block of decays ``exp(-lam * lead)`` and decayed state, so
``exp`` runs once per distinct consecutive lead, in the forward and again in the backward. Tasks
are batch rows, run on ``torch.get_num_threads()`` threads. Inner loops run over the model
dimension D (contiguous, vectorised); sums over the rank are per-lane sequential sums and sums
over D pairwise in a fixed order, so ``fastmath`` is not needed (the backward's former
sequential sums over D were latency bound: 13 ms -> 4.4 ms per PhysioNet batch with both).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit
from torch import Tensor
from torch.autograd.function import once_differentiable

from itnet_ts.ops.scan_numba import _INLINE, _JIT, _exp, _lane_sums, _np, _run_tasks

__all__ = ["read_numba"]


@njit(**_INLINE)
def _decays(st_b, nlam, t, E, P):
    """E[r, d] = exp(-lam[d, r] t); P = E * st_b (the decayed state at lead t)."""
    R, D = nlam.shape
    for r in range(R):
        for d in range(D):
            e = _exp(nlam[r, d] * t)
            E[r, d] = e
            P[r, d] = e * st_b[r, d]


@njit(**_JIT)
def _read_forward(st, nlam, lead, cq, lo, hi, out):
    """st (B, R, D), nlam = -lam (R, D), lead (B, Q), cq (B, Q, R) -> out (B, Q, D).

    Queries of a row that share their lead (one time, several channels) share the decays: the
    ``exp`` runs once per distinct consecutive lead, not once per query."""
    R, D = nlam.shape
    Q = lead.shape[1]
    E = np.empty((R, D), st.dtype)
    P = np.empty((R, D), st.dtype)
    for b in range(lo, hi):
        have = False
        t_prev = lead.dtype.type(0)
        for q in range(Q):
            t = lead[b, q]
            if not have or t != t_prev:
                _decays(st[b], nlam, t, E, P)
                have = True
                t_prev = t
            acc = out[b, q]
            for d in range(D):
                acc[d] = 0
            for r in range(R):
                c = cq[b, q, r]
                for d in range(D):
                    acc[d] += c * P[r, d]


@njit(**_INLINE)
def _flush_group(G, E, P, t, gst_b, gnlam_b):
    """Add a group's sum_q cq[q, r] g[q, d] (G, reset to 0) to the state and lam grads."""
    R, D = E.shape
    for r in range(R):
        for d in range(D):
            g = G[r, d]
            gst_b[r, d] += g * E[r, d]
            gnlam_b[r, d] += (g * P[r, d]) * t
            G[r, d] = 0


@njit(**_JIT)
def _read_backward(st, nlam, lead, cq, g, lo, hi, gst, gnlam, gcq, glead):
    """Adjoint of ``_read_forward``; gnlam (B, R, D) per-row partial sums of d/d(-lam).

    Per query only products and fixed-order sums: dout/dcq[r] = sum_d g[d] P[r, d], dout/dlead
    = sum_d g[d] sum_r cq[r] P[r, d] nlam[r, d]; the state and lam grads are accumulated per
    group of queries sharing a lead (``sum_q cq g``) and applied once per group."""
    R, D = nlam.shape
    Q = lead.shape[1]
    dt = st.dtype
    E = np.empty((R, D), dt)
    P = np.empty((R, D), dt)
    PN = np.empty((R, D), dt)  # P * nlam
    G = np.zeros((R, D), dt)  # sum over the group's queries of cq[r] * g[d]
    Dp = 4  # the row sums' width: a power of two >= D, zero beyond D
    while Dp < D:
        Dp *= 2
    X = np.empty((R, Dp), dt)
    gl = np.empty((1, Dp), dt)
    sums = np.empty(R, dt)
    one = np.empty(1, dt)
    for r in range(R):
        for j in range(D, Dp):
            X[r, j] = 0
    for j in range(Dp):
        gl[0, j] = 0
    for b in range(lo, hi):
        gst[b] = 0
        gnlam[b] = 0
        have = False
        t_prev = lead.dtype.type(0)
        for q in range(Q):
            t = lead[b, q]
            if not have or t != t_prev:
                if have:
                    _flush_group(G, E, P, t_prev, gst[b], gnlam[b])
                _decays(st[b], nlam, t, E, P)
                for r in range(R):
                    for d in range(D):
                        PN[r, d] = P[r, d] * nlam[r, d]
                have = True
                t_prev = t
            gq = g[b, q]
            for d in range(D):
                gl[0, d] = 0
            for r in range(R):
                c = cq[b, q, r]
                for d in range(D):
                    gd = gq[d]
                    X[r, d] = gd * P[r, d]
                    G[r, d] += c * gd
                    gl[0, d] += c * (gd * PN[r, d])
            _lane_sums(X, sums)
            for r in range(R):
                gcq[b, q, r] = sums[r]
            _lane_sums(gl, one)
            glead[b, q] = one[0]
        if have:
            _flush_group(G, E, P, t_prev, gst[b], gnlam[b])


class _ReadNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, state, lam, lead, Cq):
        st = _np(state[:, 0].transpose(1, 2))  # (B, R, D)
        nlam = _np(-lam.t())  # (R, D)
        lead_, cq = _np(lead), _np(Cq)
        B, Q = lead_.shape
        out = np.empty((B, Q, st.shape[2]), st.dtype)
        _run_tasks(_read_forward, B, (st, nlam, lead_, cq), (out,))
        ctx.arrays = (st, nlam, lead_, cq)
        ctx.S = state.shape[1]
        ctx.save_for_backward(state, lam, lead, Cq)  # version checks only
        return torch.from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        ctx.saved_tensors  # noqa: B018  (raises if an input was modified in place)
        st, nlam, lead, cq = ctx.arrays
        B, R, D = st.shape
        g = _np(grad_out.to(torch.from_numpy(st).dtype))
        gst = np.empty((B, R, D), st.dtype)
        gnlam = np.empty((B, R, D), st.dtype)
        gcq = np.empty(cq.shape, st.dtype)
        glead = np.empty(lead.shape, st.dtype)
        _run_tasks(_read_backward, B, (st, nlam, lead, cq, g), (gst, gnlam, gcq, glead))
        need = ctx.needs_input_grad
        gstate = None
        if need[0]:
            gstate = torch.zeros((B, ctx.S, D, R), dtype=grad_out.dtype)
            gstate[:, 0] = torch.from_numpy(gst).transpose(1, 2)
        glam = -torch.from_numpy(gnlam.sum(0)).t().contiguous() if need[1] else None
        return (
            gstate,
            glam,
            torch.from_numpy(glead) if need[2] else None,
            torch.from_numpy(gcq) if need[3] else None,
        )


def read_numba(state: Tensor, lam: Tensor, lead: Tensor, Cq: Tensor) -> Tensor:
    """``read_reference(state, lam, lead, Cq)`` (no omega, no KWN) on CPU with numba.

    state (B, S, D, R); lam (D, R); lead (B, Q); Cq (B, Q, R); one dtype, float32 or float64.
    Returns (B, Q, D).
    """
    tensors = {"state": state, "lam": lam, "lead": lead, "Cq": Cq}
    dtype = state.dtype
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"read_numba supports float32 and float64, got state.dtype={dtype}")
    bad = {k: v.dtype for k, v in tensors.items() if v.dtype != dtype}
    if bad:
        raise TypeError(f"read_numba: every input must be {dtype}; got {bad}")
    off = [k for k, v in tensors.items() if v.device.type != "cpu"]
    if off:
        raise ValueError(f"read_numba runs on CPU tensors; {off} are not on the CPU")
    B, _, D, R = state.shape
    if lam.shape != (D, R) or lead.shape[0] != B or Cq.shape != (*lead.shape, R):
        raise ValueError(
            f"read_numba: shapes state {tuple(state.shape)}, lam {tuple(lam.shape)}, lead "
            f"{tuple(lead.shape)}, Cq {tuple(Cq.shape)} do not match (B,S,D,R), (D,R), (B,Q), "
            "(B,Q,R)"
        )
    return _ReadNumba.apply(state, lam, lead, Cq)

"""Numba CPU kernel of the decoder read (plain poles: no ``omega``, no KWN), forward + backward.

Same result as :func:`itnet_ts.ops.read_reference.read_reference` without materialising the
(B, Q, D, R) decay tensor the reference builds (for a PhysioNet batch, 32 x 600 x 64 x 16 floats
per intermediate): each ``exp(-lam * lead)`` is computed in registers, in the forward and again
in the backward. Tasks are batch rows, run on ``torch.get_num_threads()`` threads. Inner loops
run over the model dimension D (contiguous, vectorised; the sum over the rank is a per-lane
sequential sum, so ``fastmath`` is not needed).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit
from torch import Tensor
from torch.autograd.function import once_differentiable

from itnet_ts.ops.scan_numba import _JIT, _exp, _np, _run_tasks

__all__ = ["read_numba"]


@njit(**_JIT)
def _read_forward(st, nlam, lead, cq, lo, hi, out):
    """st (B, R, D), nlam = -lam (R, D), lead (B, Q), cq (B, Q, R) -> out (B, Q, D)."""
    R, D = nlam.shape
    Q = lead.shape[1]
    for b in range(lo, hi):
        for q in range(Q):
            t = lead[b, q]
            acc = out[b, q]
            acc[:] = 0
            for r in range(R):
                c = cq[b, q, r]
                for d in range(D):
                    acc[d] += c * _exp(nlam[r, d] * t) * st[b, r, d]


@njit(**_JIT)
def _read_backward(st, nlam, lead, cq, g, lo, hi, gst, gnlam, gcq, glead):
    """Adjoint of ``_read_forward``; gnlam (B, R, D) per-row partial sums of d/d(-lam)."""
    R, D = nlam.shape
    Q = lead.shape[1]
    tmp = np.empty(D, st.dtype)
    gl = np.empty(D, st.dtype)
    for b in range(lo, hi):
        gst[b] = 0
        gnlam[b] = 0
        for q in range(Q):
            t = lead[b, q]
            gq = g[b, q]
            gl[:] = 0
            for r in range(R):
                c = cq[b, q, r]
                for d in range(D):
                    ge = gq[d] * _exp(nlam[r, d] * t)
                    x = ge * st[b, r, d]  # d out / d cq[r], per d
                    gst[b, r, d] += c * ge
                    tmp[d] = x
                    gnlam[b, r, d] += c * x * t
                    gl[d] += c * x * nlam[r, d]
                s = tmp.dtype.type(0)
                for d in range(D):
                    s += tmp[d]
                gcq[b, q, r] = s
            s = gl.dtype.type(0)
            for d in range(D):
                s += gl[d]
            glead[b, q] = s


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

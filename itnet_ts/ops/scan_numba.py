"""Numba CPU backend of the recurrent scan: forward and backward kernels.

Same signature and semantics as :func:`itnet_ts.ops.scan_reference.scan_reference` (the spec),
differentiable w.r.t. every tensor input through a ``torch.autograd.Function``.

Layout of the kernels. The work is split into tasks ``(b, block of LANES channels)`` run in
parallel (``prange``). Inside a task the state of the block is kept lane-major, ``(S, R, LANES)``,
so the innermost loop runs over the contiguous channel lanes: every step is a set of
branch-free loops that LLVM vectorises, and the output ``y = sum_r C * read`` is a per-lane
(vertical) sum, so no floating-point reassociation is needed (``fastmath=False``). The decay
uses a branch-free ``exp`` (Cephes polynomial, <= 2 ulp, exactly 0 below the normal range) that
vectorises; ``cos``/``sin`` of oscillatory poles call libm.

The backward recomputes the states: the forward saves the state every ``CHUNK`` steps; the
backward replays each chunk (keeping its states and decays) and runs the adjoint recurrence
backwards in time. Reductions over channels (grads of Bm, Cm, dtau, w) are summed per task and
the per-block partial results are added in torch; grads of lam, omega, skip are summed over
the batch the same way.

Only this module imports numba; it is imported lazily by the dispatcher's loader.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload
from torch import Tensor
from torch.autograd.function import once_differentiable

from itnet_ts.ops.scan_reference import check_scan_inputs

__all__ = ["CHUNK", "scan_numba"]

CHUNK = 32  # steps between saved states (backward recomputes each chunk)
_LANES = {np.dtype(np.float32): 32, np.dtype(np.float64): 16}  # channels per task (vector lanes)

_JIT = {"cache": True, "fastmath": False, "nogil": True}


# --------------------------------------------------------------------------------------------
# exp that vectorises (no SVML here): Cephes range reduction + polynomial, scale by 2**k built
# from its bits. Below the normal range it returns exactly 0 (huge gaps decay to 0, no NaN).
# --------------------------------------------------------------------------------------------
@intrinsic
def _f32_from_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _f64_from_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


def _exp_f32(x):
    lo = np.float32(-87.33654)
    hi = np.float32(88.37626)
    xc = min(max(x, lo), hi)
    k = np.floor(xc * np.float32(1.44269504088896341) + np.float32(0.5))
    r = xc - k * np.float32(0.693359375)
    r = r - k * np.float32(-2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * (r * r) + r + np.float32(1.0)
    res = p * _f32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
    if x < lo:
        res = np.float32(0.0)
    if x > hi:
        res = np.float32(np.inf)
    if x != x:
        res = x
    return res


def _exp_f64(x):
    lo = -708.3
    hi = 709.0
    xc = min(max(x, lo), hi)
    k = np.floor(xc * 1.4426950408889634073599 + 0.5)
    r = xc - k * 6.93145751953125e-1
    r = r - k * 1.42860682030941723212e-6
    rr = r * r
    p = ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 1.0) * r
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr) * rr
    q = q + 2.27265548208155028766e-1 * rr + 2.0
    e = 1.0 + 2.0 * (p / (q - p))
    res = e * _f64_from_bits((np.int64(k) + np.int64(1023)) << np.int64(52))
    if x < lo:
        res = 0.0
    if x > hi:
        res = np.inf
    if x != x:
        res = x
    return res


def _exp(x):
    """``exp`` in the dtype of ``x`` (the jitted version vectorises)."""
    return math.exp(x)


@overload(_exp, jit_options={"fastmath": False})
def _exp_overload(x):
    if x == types.float32:
        return _exp_f32
    if x == types.float64:
        return _exp_f64
    return None


# --------------------------------------------------------------------------------------------
# One step of the recurrence on a lane block. Shapes: state (S, R, L), coefficients (R, L).
# --------------------------------------------------------------------------------------------
@njit(**_JIT)
def _load_params(lam, omega, has_omega, d0, width, nlam, om):
    """nlam[r, j] = -lam[d0 + j, r], om[r, j] = omega[d0 + j, r]; padded lanes get 0."""
    R, L = nlam.shape
    for r in range(R):
        for j in range(L):
            nlam[r, j] = 0
            om[r, j] = 0
        for j in range(width):
            nlam[r, j] = -lam[d0 + j, r]
            if has_omega:
                om[r, j] = omega[d0 + j, r]


@njit(**_JIT)
def _load_row(u, dtau, sel, has_sel, b, n, d0, width, uu, delta):
    """uu[j] = u[b, n, d0 + j]; delta[j] = dtau[b, n] * sel[b, n, d0 + j]; padded lanes 0."""
    L = uu.shape[0]
    dt = dtau[b, n]
    for j in range(L):
        uu[j] = 0
        delta[j] = 0
    for j in range(width):
        uu[j] = u[b, n, d0 + j]
        delta[j] = dt * sel[b, n, d0 + j] if has_sel else dt


@njit(**_JIT)
def _coefficients(nlam, om, delta, has_omega, a, cs, sn):
    """Decay a = exp(-lam * delta) and rotation cos/sin(omega * delta); all (R, L)."""
    R, L = a.shape
    for r in range(R):
        for j in range(L):
            a[r, j] = _exp(nlam[r, j] * delta[j])
    if has_omega:
        for r in range(R):
            for j in range(L):
                theta = om[r, j] * delta[j]
                cs[r, j] = math.cos(theta)
                sn[r, j] = math.sin(theta)


@njit(**_JIT)
def _advance(prev, new, a, cs, sn, bw, wn, uu, has_omega, kwn):
    """new = step(prev): rotate+decay, add the input (w B)[r] * u[j]; z = a z + w."""
    R, L = a.shape
    if has_omega:
        for r in range(R):
            br = bw[r]
            for j in range(L):
                re = prev[0, r, j]
                im = prev[1, r, j]
                c = cs[r, j]
                s = sn[r, j]
                new[0, r, j] = a[r, j] * (c * re - s * im) + br * uu[j]
                new[1, r, j] = a[r, j] * (s * re + c * im)
    else:
        for r in range(R):
            br = bw[r]
            for j in range(L):
                new[0, r, j] = a[r, j] * prev[0, r, j] + br * uu[j]
    if kwn:
        zi = prev.shape[0] - 1
        for r in range(R):
            for j in range(L):
                new[zi, r, j] = a[r, j] * prev[zi, r, j] + wn


@njit(**_JIT)
def _readout(st, cm, eps, kwn, acc):
    """acc[j] = sum_r cm[r] * re[r, j] / (z[r, j] + eps if kwn else 1)."""
    R, L = st.shape[1], st.shape[2]
    zi = st.shape[0] - 1
    for j in range(L):
        acc[j] = 0
    for r in range(R):
        c = cm[r]
        if kwn:
            for j in range(L):
                acc[j] += c * (st[0, r, j] / (st[zi, r, j] + eps))
        else:
            for j in range(L):
                acc[j] += c * st[0, r, j]


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------
@njit(**_JIT)
def _forward_task(
    u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip,
    has_omega, has_sel, has_s0, has_skip, kwn, eps, b, blk, chunk,
    y, state, ckpt,
):  # fmt: skip
    """Scan series ``b``, channels ``[blk * L, blk * L + L)``; write y, state and checkpoints."""
    N, D = u.shape[1], u.shape[2]
    R = lam.shape[1]
    S, L = ckpt.shape[3], ckpt.shape[5]
    d0 = blk * L
    width = min(L, D - d0)
    dtype = u.dtype
    nlam = np.empty((R, L), dtype)
    om = np.empty((R, L), dtype)
    _load_params(lam, omega, has_omega, d0, width, nlam, om)
    st = np.zeros((2, S, R, L), dtype)  # current / next state
    if has_s0:
        for s in range(S):
            for j in range(width):
                for r in range(R):
                    st[0, s, r, j] = s0[b, s, d0 + j, r]
    a = np.empty((R, L), dtype)
    cs = np.empty((R, L), dtype)
    sn = np.empty((R, L), dtype)
    uu = np.empty(L, dtype)
    delta = np.empty(L, dtype)
    acc = np.empty(L, dtype)
    bw = np.empty(R, dtype)
    cur = 0
    for n in range(N):
        if n % chunk == 0:
            ckpt[b, blk, n // chunk] = st[cur]
        _load_row(u, dtau, sel, has_sel, b, n, d0, width, uu, delta)
        wn = w[b, n]
        for r in range(R):
            bw[r] = wn * Bm[b, n, r]
        _coefficients(nlam, om, delta, has_omega, a, cs, sn)
        _advance(st[cur], st[1 - cur], a, cs, sn, bw, wn, uu, has_omega, kwn)
        cur = 1 - cur
        _readout(st[cur], Cm[b, n], eps, kwn, acc)
        for j in range(width):
            y[b, n, d0 + j] = acc[j] + skip[d0 + j] * uu[j] if has_skip else acc[j]
    for s in range(S):
        for j in range(width):
            for r in range(R):
                state[b, s, d0 + j, r] = st[cur, s, r, j]


@njit(parallel=True, **_JIT)
def _forward_kernel(
    u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip,
    has_omega, has_sel, has_s0, has_skip, kwn, eps, chunk,
    y, state, ckpt,
):  # fmt: skip
    """Parallel over (batch, channel block): y (B, N, D), state (B, S, D, R), ckpt."""
    B = u.shape[0]
    nblk = ckpt.shape[1]
    for task in prange(B * nblk):
        b = task // nblk
        blk = task - b * nblk
        _forward_task(
            u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip,
            has_omega, has_sel, has_s0, has_skip, kwn, eps, b, blk, chunk,
            y, state, ckpt,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Backward (adjoint recurrence). G (S, R, L) is the adjoint of the state after step n.
# --------------------------------------------------------------------------------------------
@njit(**_JIT)
def _readout_adjoint(st, cm, gy, eps, kwn, G, xc):
    """Add dy/dstate to G; xc[r, j] = gy[j] * read[r, j] (summed over j gives grad Cm)."""
    R, L = st.shape[1], st.shape[2]
    zi = st.shape[0] - 1
    one = st.dtype.type(1)
    for r in range(R):
        c = cm[r]
        if kwn:
            for j in range(L):
                q = one / (st[zi, r, j] + eps)
                read = st[0, r, j] * q
                g = gy[j] * c * q
                G[0, r, j] += g
                G[zi, r, j] -= g * read
                xc[r, j] = gy[j] * read
        else:
            for j in range(L):
                G[0, r, j] += gy[j] * c
                xc[r, j] = gy[j] * st[0, r, j]


@njit(**_JIT)
def _input_adjoint(G, bw, uu, gu, xu):
    """inp = (w B)[r] u[j]: gu[j] += sum_r G_re bw[r]; xu[r, j] = G_re[r, j] * u[j]."""
    R, L = xu.shape
    for j in range(L):
        gu[j] = 0
    for r in range(R):
        br = bw[r]
        for j in range(L):
            g = G[0, r, j]
            gu[j] += g * br
            xu[r, j] = g * uu[j]


@njit(**_JIT)
def _transition_adjoint(prev, a, cs, sn, nlam, om, delta, has_omega, kwn, G, ga, glam, gom, gdel):
    """Propagate G through the step (G becomes the adjoint of ``prev``) and accumulate the
    grads of lam, omega (per lane) and of delta (gdel[j], summed over r)."""
    R, L = a.shape
    if has_omega:
        for r in range(R):
            for j in range(L):
                c = cs[r, j]
                s = sn[r, j]
                ar = a[r, j]
                pre = prev[0, r, j]
                pim = prev[1, r, j]
                gre = G[0, r, j]
                gim = G[1, r, j]
                P = c * pre - s * pim
                Q = s * pre + c * pim
                ga[r, j] = gre * P + gim * Q  # dL/da
                gth = ar * (gim * P - gre * Q)  # dL/dtheta
                gP = ar * gre
                gQ = ar * gim
                G[0, r, j] = c * gP + s * gQ  # rotation transposed
                G[1, r, j] = c * gQ - s * gP
                gom[r, j] += delta[j] * gth
                gdel[j] += om[r, j] * gth
    else:
        for r in range(R):
            for j in range(L):
                gre = G[0, r, j]
                ga[r, j] = gre * prev[0, r, j]
                G[0, r, j] = a[r, j] * gre
    if kwn:
        zi = prev.shape[0] - 1
        for r in range(R):
            for j in range(L):
                gz = G[zi, r, j]
                ga[r, j] += gz * prev[zi, r, j]
                G[zi, r, j] = a[r, j] * gz
    for r in range(R):
        for j in range(L):
            aga = a[r, j] * ga[r, j]  # a = exp(-lam delta): da = -a (delta dlam + lam ddelta)
            gdel[j] += nlam[r, j] * aga
            glam[r, j] -= delta[j] * aga


@njit(**_JIT)
def _lane_sums(x, width, out):
    """out[r] = sum_{j < width} x[r, j] (pairwise halving, fixed order)."""
    R, L = x.shape
    for r in range(R):
        acc = x[r, 0] - x[r, 0]
        for j in range(width):
            acc += x[r, j]
        out[r] = acc


@njit(**_JIT)
def _backward_task(
    u, dtau, w, Bm, Cm, lam, omega, sel, skip,
    has_omega, has_sel, has_skip, kwn, eps, b, blk, chunk, N,
    gy_all, gstate, ckpt,
    gu, gsel, gB, gC, gdtau, gw, glam, gom, gskip, gs0,
):  # fmt: skip
    """Adjoint scan for series ``b`` and channel block ``blk`` (see ``_forward_task``)."""
    D = u.shape[2]
    R = lam.shape[1]
    S, L = ckpt.shape[3], ckpt.shape[5]
    d0 = blk * L
    width = min(L, D - d0)
    dtype = u.dtype
    nlam = np.empty((R, L), dtype)
    om = np.empty((R, L), dtype)
    _load_params(lam, omega, has_omega, d0, width, nlam, om)
    T_osc = chunk if has_omega else 1
    ST = np.empty((chunk + 1, S, R, L), dtype)  # states of the chunk, ST[0] = checkpoint
    A = np.empty((chunk, R, L), dtype)  # decays of the chunk
    CS = np.empty((T_osc, R, L), dtype)
    SN = np.empty((T_osc, R, L), dtype)
    DEL = np.empty((chunk, L), dtype)
    G = np.zeros((S, R, L), dtype)
    for s in range(S):
        for j in range(width):
            for r in range(R):
                G[s, r, j] = gstate[b, s, d0 + j, r]
    glam_l = np.zeros((R, L), dtype)
    gom_l = np.zeros((R, L), dtype)
    gskip_l = np.zeros(L, dtype)
    ga = np.empty((R, L), dtype)
    xc = np.empty((R, L), dtype)
    xu = np.empty((R, L), dtype)
    sums = np.empty(R, dtype)
    uu = np.empty(L, dtype)
    gyr = np.zeros(L, dtype)
    gur = np.empty(L, dtype)
    gdel = np.empty(L, dtype)
    bw = np.empty(R, dtype)
    n_chunks = (N + chunk - 1) // chunk
    for k in range(n_chunks - 1, -1, -1):
        n0 = k * chunk
        T = min(chunk, N - n0)
        ST[0] = ckpt[b, blk, k]
        for t in range(T):  # replay the chunk
            n = n0 + t
            _load_row(u, dtau, sel, has_sel, b, n, d0, width, uu, DEL[t])
            wn = w[b, n]
            for r in range(R):
                bw[r] = wn * Bm[b, n, r]
            to = t if has_omega else 0
            _coefficients(nlam, om, DEL[t], has_omega, A[t], CS[to], SN[to])
            _advance(ST[t], ST[t + 1], A[t], CS[to], SN[to], bw, wn, uu, has_omega, kwn)
        for t in range(T - 1, -1, -1):  # adjoint, backwards in time
            n = n0 + t
            to = t if has_omega else 0
            _load_row(u, dtau, sel, has_sel, b, n, d0, width, uu, DEL[t])
            for j in range(width):
                gyr[j] = gy_all[b, n, d0 + j]
            wn = w[b, n]
            for r in range(R):
                bw[r] = wn * Bm[b, n, r]
            _readout_adjoint(ST[t + 1], Cm[b, n], gyr, eps, kwn, G, xc)
            _lane_sums(xc, width, sums)
            for r in range(R):
                gC[blk, b, n, r] = sums[r]
            _input_adjoint(G, bw, uu, gur, xu)
            _lane_sums(xu, width, sums)
            gwn = dtype.type(0)
            for r in range(R):
                gB[blk, b, n, r] = wn * sums[r]
                gwn += Bm[b, n, r] * sums[r]
            if kwn:
                zi = S - 1
                for r in range(R):
                    for j in range(width):
                        gwn += G[zi, r, j]
            gw[blk, b, n] = gwn
            for j in range(L):
                gdel[j] = 0
            _transition_adjoint(
                ST[t], A[t], CS[to], SN[to], nlam, om, DEL[t], has_omega, kwn,
                G, ga, glam_l, gom_l, gdel,
            )  # fmt: skip
            dt = dtau[b, n]
            gdt = dtype.type(0)
            for j in range(width):
                d = d0 + j
                if has_sel:
                    gdt += gdel[j] * sel[b, n, d]
                    gsel[b, n, d] = gdel[j] * dt
                else:
                    gdt += gdel[j]
                if has_skip:
                    gu[b, n, d] = gur[j] + gyr[j] * skip[d]
                    gskip_l[j] += gyr[j] * uu[j]
                else:
                    gu[b, n, d] = gur[j]
            gdtau[blk, b, n] = gdt
    for j in range(width):
        d = d0 + j
        for s in range(S):
            for r in range(R):
                gs0[b, s, d, r] = G[s, r, j]
        for r in range(R):
            glam[b, d, r] = glam_l[r, j]
            gom[b, d, r] = gom_l[r, j]
        gskip[b, d] = gskip_l[j]


@njit(parallel=True, **_JIT)
def _backward_kernel(
    u, dtau, w, Bm, Cm, lam, omega, sel, skip,
    has_omega, has_sel, has_skip, kwn, eps, chunk,
    gy_all, gstate, ckpt,
    gu, gsel, gB, gC, gdtau, gw, glam, gom, gskip, gs0,
):  # fmt: skip
    """Parallel over (batch, channel block). Partial sums: gB, gC (nblk, B, N, R),
    gdtau, gw (nblk, B, N); glam, gom (B, D, R), gskip (B, D)."""
    B, N = u.shape[0], u.shape[1]
    nblk = ckpt.shape[1]
    for task in prange(B * nblk):
        b = task // nblk
        blk = task - b * nblk
        _backward_task(
            u, dtau, w, Bm, Cm, lam, omega, sel, skip,
            has_omega, has_sel, has_skip, kwn, eps, b, blk, chunk, N,
            gy_all, gstate, ckpt,
            gu, gsel, gB, gC, gdtau, gw, glam, gom, gskip, gs0,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# torch glue
# --------------------------------------------------------------------------------------------
def _np(t: Tensor) -> np.ndarray:
    """Zero-copy numpy view of a contiguous CPU tensor (copies only if not contiguous)."""
    return t.detach().contiguous().numpy()


class _ScanNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, eps):
        B, N, D = u.shape
        R = lam.shape[1]
        S = 1 + int(omega is not None) + int(kwn)
        dtype = _np(u).dtype
        lanes = _LANES[dtype]
        nblk = max(1, -(-D // lanes))
        dummy2 = np.zeros((1, 1), dtype)
        eps_ = dtype.type(eps)
        arrays = [_np(t) for t in (u, dtau, w, Bm, Cm, lam)]
        omega_ = _np(omega) if omega is not None else dummy2
        sel_ = _np(sel) if sel is not None else np.zeros((1, 1, 1), dtype)
        s0_ = _np(s0) if s0 is not None else np.zeros((1, 1, 1, 1), dtype)
        skip_ = _np(skip) if skip is not None else np.zeros(1, dtype)
        y = np.empty((B, N, D), dtype)  # (B, N, D)
        state = np.empty((B, S, D, R), dtype)  # (B, S, D, R)
        ckpt = np.empty((B, nblk, -(-N // CHUNK), S, R, lanes), dtype)
        _forward_kernel(
            *arrays, omega_, sel_, s0_, skip_,
            omega is not None, sel is not None, s0 is not None, skip is not None, bool(kwn),
            eps_, CHUNK, y, state, ckpt,
        )  # fmt: skip
        ctx.flags = (omega is not None, sel is not None, s0 is not None, skip is not None, kwn)
        ctx.eps = eps_
        ctx.numpy_inputs = (*arrays, omega_, sel_, skip_)
        ctx.ckpt = ckpt
        return torch.from_numpy(y), torch.from_numpy(state)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_state):
        has_omega, has_sel, has_s0, has_skip, kwn = ctx.flags
        u, dtau, w, Bm, Cm, lam, omega_, sel_, skip_ = ctx.numpy_inputs
        ckpt = ctx.ckpt
        B, N, D = u.shape
        R = lam.shape[1]
        S, nblk = ckpt.shape[3], ckpt.shape[1]
        dtype = u.dtype
        gy = _np(grad_y.to(torch.from_numpy(u).dtype))
        gst = _np(grad_state.to(torch.from_numpy(u).dtype))
        gu = np.empty((B, N, D), dtype)
        gsel = np.empty((B, N, D) if has_sel else (1, 1, 1), dtype)
        gB = np.empty((nblk, B, N, R), dtype)
        gC = np.empty((nblk, B, N, R), dtype)
        gdtau = np.empty((nblk, B, N), dtype)
        gw = np.empty((nblk, B, N), dtype)
        glam = np.empty((B, D, R), dtype)
        gom = np.empty((B, D, R), dtype)
        gskip = np.empty((B, D), dtype)
        gs0 = np.empty((B, S, D, R), dtype)
        _backward_kernel(
            u, dtau, w, Bm, Cm, lam, omega_, sel_, skip_,
            has_omega, has_sel, has_skip, bool(kwn), ctx.eps, CHUNK,
            gy, gst, ckpt,
            gu, gsel, gB, gC, gdtau, gw, glam, gom, gskip, gs0,
        )  # fmt: skip
        need = ctx.needs_input_grad
        t = torch.from_numpy
        return (
            t(gu) if need[0] else None,
            t(gdtau).sum(0) if need[1] else None,
            t(gw).sum(0) if need[2] else None,
            t(gB).sum(0) if need[3] else None,
            t(gC).sum(0) if need[4] else None,
            t(glam).sum(0) if need[5] else None,
            t(gom).sum(0) if has_omega and need[6] else None,
            t(gsel) if has_sel and need[7] else None,
            t(gs0) if has_s0 and need[8] else None,
            t(gskip).sum(0) if has_skip and need[9] else None,
            None,
            None,
        )


def scan_numba(
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
    """Recurrent integral transform on CPU with numba (signature of ``scan_reference``).

    Args:
        u: (B, N, D); dtau, w: (B, N); Bm, Cm: (B, N, R); lam, omega: (D, R);
        sel: (B, N, D); s0: (B, S, D, R); skip: (D,); all CPU, one dtype (float32 or float64).

    Returns:
        y: (B, N, D) outputs; state: (B, S, D, R) state after the last step.
    """
    check_scan_inputs(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn)
    named = {"u": u, "dtau": dtau, "w": w, "Bm": Bm, "Cm": Cm, "lam": lam}
    named.update(
        (k, v) for k, v in {"omega": omega, "sel": sel, "s0": s0, "skip": skip}.items() if v is not None
    )
    dtype = u.dtype
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"scan_numba supports float32 and float64 tensors, got u.dtype={dtype}")
    bad = {k: v.dtype for k, v in named.items() if v.dtype != dtype}
    if bad:
        raise TypeError(
            f"scan_numba needs every tensor in one dtype; u is {dtype} but "
            + ", ".join(f"{k} is {d}" for k, d in bad.items())
        )
    off_cpu = [k for k, v in named.items() if v.device.type != "cpu"]
    if off_cpu:
        raise ValueError(f"scan_numba runs on CPU tensors; {off_cpu} are not on the CPU")
    return _ScanNumba.apply(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, bool(kwn), float(eps))

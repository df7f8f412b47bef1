"""Numba CPU backend of the recurrent scan: forward and backward kernels.

Same signature and semantics as :func:`itnet_ts.ops.scan_reference.scan_reference` (the spec),
differentiable w.r.t. every tensor input through a ``torch.autograd.Function``.

Layout. The work is split into tasks ``(b, block of L channels)`` (L = 64 lanes in float32, 32 in
float64; a ragged last block is zero-padded). Inside a task the state is kept lane-major,
``(S, R, L)``, so the innermost loops run over contiguous channel lanes: each step is a few
branch-free loops that LLVM vectorises, and ``y = sum_r C * read`` is a per-lane (vertical) sum,
so no floating-point reassociation is needed (``fastmath=False``). The decay uses a branch-free
``exp`` (Cephes, <= 1.3 ulp, exactly 0 below the normal range) that vectorises without SVML;
``cos``/``sin`` of oscillatory poles call libm.

Parallelism. The task loops are ``nogil`` njit functions run on ``torch.get_num_threads()``
Python threads, each on a contiguous range of tasks (batch x channel blocks). This replaces
``parallel=True``/``prange``, whose gufunc wrapper re-optimises the whole inlined kernel and
doubled to tripled the cold compile time (measured: 14 s -> 5 s of CPU for one forward kernel).

Backward. The forward saves the state every ``CHUNK`` steps; the backward replays each chunk
from its checkpoint (keeping its states and decays, so ``exp`` runs once per element in each
pass) and runs the adjoint recurrence backwards in time. Reductions over channels (grads of Bm,
Cm, dtau, w) are summed per task, then over the channel blocks in numpy; grads of lam, omega
and skip are summed over the batch the same way.

Only this module imports numba; the dispatcher's loader imports it lazily.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload
from torch import Tensor
from torch.autograd.function import once_differentiable

from itnet_ts._scan_signature import check_scan_inputs

__all__ = ["CHUNK", "scan_numba"]

CHUNK = 32  # steps between saved states (backward recomputes each chunk)
# channels per task (vector lanes); powers of two (see _lane_sums), long enough to vectorise
_LANES = {np.dtype(np.float32): 64, np.dtype(np.float64): 32}

# error_model="numpy": x / 0 gives inf like torch (no ZeroDivisionError check, which would also
# stop LLVM from vectorising the loop).
_JIT = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}  # task loops
_INLINE = {"inline": "always", "fastmath": False, "error_model": "numpy"}  # inlined helpers


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
    r = (xc - k * np.float32(0.693359375)) - k * np.float32(-2.12194440e-4)
    # Cephes expf polynomial, evaluated by Estrin's scheme (a shorter dependency chain than
    # Horner's: the vectorised loop is latency bound); <= 1.3 ulp on the normal range
    r2 = r * r
    r4 = r2 * r2
    a0 = np.float32(5.0000001201e-1) + np.float32(1.6666665459e-1) * r
    a1 = np.float32(4.1665795894e-2) + np.float32(8.3334519073e-3) * r
    a2 = np.float32(1.3981999507e-3) + np.float32(1.9875691500e-4) * r
    e = (np.float32(1.0) + r) + ((a0 + r2 * a1) + r4 * a2) * r2
    res = e * _f32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
    if x < lo:
        res = np.float32(0.0)
    if (x > hi) | (x != x):  # overflow -> inf, NaN -> NaN
        res = x * np.float32(np.inf)
    return res


def _exp_f64(x):
    lo = -708.3
    hi = 709.0
    xc = min(max(x, lo), hi)
    k = np.floor(xc * 1.4426950408889634073599 + 0.5)
    r = (xc - k * 6.93145751953125e-1) - k * 1.42860682030941723212e-6
    # Cephes exp: Pade form 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)), about 1 ulp
    rr = r * r
    p = ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 1.0) * r
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr) * rr
    q = q + 2.27265548208155028766e-1 * rr + 2.0
    e = 1.0 + 2.0 * (p / (q - p))
    # via int32: AVX2 has no packed float64 -> int64 conversion (the loop would not vectorise)
    res = e * _f64_from_bits(np.int64(np.int32(k) + np.int32(1023)) << np.int64(52))
    if x < lo:
        res = 0.0
    if (x > hi) | (x != x):  # overflow -> inf, NaN -> NaN
        res = x * np.inf
    return res


def _exp(x):
    """``exp`` in the dtype of ``x`` (the jitted version vectorises)."""
    return math.exp(x)


@overload(_exp, jit_options={"fastmath": False, "error_model": "numpy"})
def _exp_overload(x):
    if x == types.float32:
        return _exp_f32
    if x == types.float64:
        return _exp_f64
    return None


# --------------------------------------------------------------------------------------------
# One step of the recurrence on a lane block. Shapes: state (S, R, L), coefficients (R, L).
# --------------------------------------------------------------------------------------------
@njit(**_INLINE)
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


@njit(**_INLINE)
def _all_finite(nlam, om):
    """Whether every -lam and omega of the lane block is finite."""
    R, L = nlam.shape
    ok = True
    for r in range(R):
        for j in range(L):
            ok &= np.isfinite(nlam[r, j]) & np.isfinite(om[r, j])
    return ok


@njit(**_INLINE)
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


@njit(**_INLINE)
def _copy_state(src, dst):
    """dst[...] = src for (S, R, L) arrays (explicit loops compile faster than slicing)."""
    S, R, L = src.shape
    for s in range(S):
        for r in range(R):
            for j in range(L):
                dst[s, r, j] = src[s, r, j]


@njit(**_INLINE)
def _load_state(src, has_src, b, d0, width, dst):
    """dst[s, r, j] = src[b, s, d0 + j, r] (0 on padded lanes, or everywhere if not has_src)."""
    S, R, L = dst.shape
    for s in range(S):
        for r in range(R):
            for j in range(L):
                dst[s, r, j] = 0
        if has_src:
            for j in range(width):
                for r in range(R):
                    dst[s, r, j] = src[b, s, d0 + j, r]


@njit(**_INLINE)
def _coefficients(nlam, om, delta, has_omega, a, cs, sn, finite):
    """Decay a = exp(-lam * delta) and rotation cos/sin(omega * delta); all (R, L).

    A step with no elapsed time (delta 0 on every lane: right padding, or a series' first
    point) has a = 1, cos = 1, sin = 0 exactly; with ``finite`` (every -lam and omega finite,
    so no 0 * inf) those are written without calling ``exp`` / ``cos`` / ``sin``: on padded
    PhysioNet batches 40% of the steps."""
    R, L = a.shape
    if finite:
        still = True
        for j in range(L):
            still &= delta[j] == 0
        if still:
            for r in range(R):
                for j in range(L):
                    a[r, j] = 1
            if has_omega:
                for r in range(R):
                    for j in range(L):
                        cs[r, j] = 1
                        sn[r, j] = 0
            return
    for r in range(R):
        for j in range(L):
            a[r, j] = _exp(nlam[r, j] * delta[j])
    if has_omega:
        for r in range(R):
            for j in range(L):
                theta = om[r, j] * delta[j]
                cs[r, j] = math.cos(theta)
                sn[r, j] = math.sin(theta)


@njit(**_INLINE)
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


@njit(**_INLINE)
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
def _forward_tasks(
    u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip,
    has_omega, has_sel, has_s0, has_skip, kwn, eps, chunk, lo, hi,
    y, state, ckpt,
):  # fmt: skip
    """Scan tasks ``lo..hi-1``; task = (series b, channels [blk * L, blk * L + L)).

    Writes y (B, N, D), state (B, S, D, R) and ckpt (B, nblk, K, S, R, L): the state before
    steps 0, chunk, 2 chunk, ... in lane layout.
    """
    N, D = u.shape[1], u.shape[2]
    R = lam.shape[1]
    nblk, S, L = ckpt.shape[1], ckpt.shape[3], ckpt.shape[5]
    dtype = u.dtype
    nlam = np.empty((R, L), dtype)  # -lam, lane layout
    om = np.empty((R, L), dtype)
    st = np.empty((2, S, R, L), dtype)  # current / next state
    a = np.empty((R, L), dtype)
    cs = np.empty((R, L), dtype)
    sn = np.empty((R, L), dtype)
    uu = np.empty(L, dtype)
    delta = np.empty(L, dtype)
    acc = np.empty(L, dtype)
    bw = np.empty(R, dtype)
    for task in range(lo, hi):
        b = task // nblk
        blk = task - b * nblk
        d0 = blk * L
        width = min(L, D - d0)
        _load_params(lam, omega, has_omega, d0, width, nlam, om)
        finite = _all_finite(nlam, om)
        _load_state(s0, has_s0, b, d0, width, st[0])
        cur = 0
        for n in range(N):
            if n % chunk == 0:
                _copy_state(st[cur], ckpt[b, blk, n // chunk])
            _load_row(u, dtau, sel, has_sel, b, n, d0, width, uu, delta)
            wn = w[b, n]
            for r in range(R):
                bw[r] = wn * Bm[b, n, r]
            _coefficients(nlam, om, delta, has_omega, a, cs, sn, finite)
            _advance(st[cur], st[1 - cur], a, cs, sn, bw, wn, uu, has_omega, kwn)
            cur = 1 - cur
            _readout(st[cur], Cm[b, n], eps, kwn, acc)
            for j in range(width):
                y[b, n, d0 + j] = acc[j] + skip[d0 + j] * uu[j] if has_skip else acc[j]
        for s in range(S):
            for j in range(width):
                for r in range(R):
                    state[b, s, d0 + j, r] = st[cur, s, r, j]


# --------------------------------------------------------------------------------------------
# Backward (adjoint recurrence). G (S, R, L) is the adjoint of the state after step n.
# --------------------------------------------------------------------------------------------
@njit(**_INLINE)
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


@njit(**_INLINE)
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


@njit(**_INLINE)
def _transition_adjoint(prev, a, cs, sn, nlam, om, delta, has_omega, kwn, G, ga, glam, gom, gdel):
    """Propagate G through the step (G becomes the adjoint of ``prev``) and accumulate the
    grads of lam, omega (per lane, accumulated) and of delta (gdel[j], summed over r)."""
    R, L = a.shape
    for j in range(L):
        gdel[j] = 0
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


@njit(**_INLINE)
def _plain_adjoint(st0, st1, a, cm, gy, bw, uu, nlam, delta, G, xc, xu, gu, gdel, glam):
    """Fused readout + input + transition adjoint without omega and kwn (see the three above):
    G is the adjoint of st1 (after step n) on entry and of st0 (before it) on exit."""
    R, L = a.shape
    for j in range(L):
        gu[j] = 0
        gdel[j] = 0
    for r in range(R):
        c = cm[r]
        br = bw[r]
        for j in range(L):
            g = G[0, r, j] + gy[j] * c
            xc[r, j] = gy[j] * st1[0, r, j]
            gu[j] += g * br
            xu[r, j] = g * uu[j]
            ar = a[r, j]
            aga = ar * (g * st0[0, r, j])
            gdel[j] += nlam[r, j] * aga
            glam[r, j] -= delta[j] * aga
            G[0, r, j] = ar * g


@njit(**_INLINE)
def _lane_sums(x, out):
    """out[r] = sum_j x[r, j] by pairwise halving, in a fixed order (vectorises without
    fastmath); overwrites x. L is a power of two >= 4; padded lanes of x hold 0."""
    R, L = x.shape
    for r in range(R):
        h = L // 2
        while h >= 4:
            for j in range(h):
                x[r, j] += x[r, j + h]
            h //= 2
        out[r] = (x[r, 0] + x[r, 2]) + (x[r, 1] + x[r, 3])


@njit(**_JIT)
def _backward_tasks(
    u, dtau, w, Bm, Cm, lam, omega, sel, skip,
    has_omega, has_sel, has_skip, kwn, eps, chunk, lo, hi,
    gy_all, gstate, ckpt,
    gu, gsel, gB, gC, gdtau, gw, glam, gom, gskip, gs0,
):  # fmt: skip
    """Adjoint scan of tasks ``lo..hi-1`` (see ``_forward_tasks``); replays each chunk from
    its checkpoint, then runs the adjoint backwards in time.

    Writes gu, gsel (B, N, D), gs0 (B, S, D, R) and partial sums: gB, gC (nblk, B, N, R),
    gdtau, gw (nblk, B, N) (to sum over blocks); glam, gom (B, D, R), gskip (B, D) (over b).
    """
    N, D = u.shape[1], u.shape[2]
    R = lam.shape[1]
    nblk, S, L = ckpt.shape[1], ckpt.shape[3], ckpt.shape[5]
    dtype = u.dtype
    zero = dtype.type(0)
    nlam = np.empty((R, L), dtype)
    om = np.empty((R, L), dtype)
    n_osc = chunk if has_omega else 1
    ST = np.empty((chunk + 1, S, R, L), dtype)  # states of the chunk, ST[0] = checkpoint
    A = np.empty((chunk, R, L), dtype)  # decays of the chunk
    CS = np.empty((n_osc, R, L), dtype)
    SN = np.empty((n_osc, R, L), dtype)
    DEL = np.empty((chunk, L), dtype)  # delta of the chunk
    UU = np.empty((chunk, L), dtype)  # u of the chunk
    G = np.empty((S, R, L), dtype)  # adjoint of the state
    glam_l = np.empty((R, L), dtype)
    gom_l = np.empty((R, L), dtype)
    gskip_l = np.empty(L, dtype)
    ga = np.empty((R, L), dtype)
    xc = np.empty((R, L), dtype)
    xu = np.empty((R, L), dtype)
    sums = np.empty(R, dtype)
    gyr = np.empty(L, dtype)
    gur = np.empty(L, dtype)
    gdel = np.empty(L, dtype)
    bw = np.empty(R, dtype)
    n_chunks = (N + chunk - 1) // chunk
    for task in range(lo, hi):
        b = task // nblk
        blk = task - b * nblk
        d0 = blk * L
        width = min(L, D - d0)
        _load_params(lam, omega, has_omega, d0, width, nlam, om)
        finite = _all_finite(nlam, om)
        _load_state(gstate, True, b, d0, width, G)
        for r in range(R):
            for j in range(L):
                glam_l[r, j] = 0
                gom_l[r, j] = 0
        for j in range(L):
            gskip_l[j] = 0
            gyr[j] = 0
        for k in range(n_chunks - 1, -1, -1):
            n0 = k * chunk
            T = min(chunk, N - n0)
            _copy_state(ckpt[b, blk, k], ST[0])
            for t in range(T):  # replay the chunk
                n = n0 + t
                _load_row(u, dtau, sel, has_sel, b, n, d0, width, UU[t], DEL[t])
                wn = w[b, n]
                for r in range(R):
                    bw[r] = wn * Bm[b, n, r]
                to = t if has_omega else 0
                _coefficients(nlam, om, DEL[t], has_omega, A[t], CS[to], SN[to], finite)
                _advance(ST[t], ST[t + 1], A[t], CS[to], SN[to], bw, wn, UU[t], has_omega, kwn)
            for t in range(T - 1, -1, -1):  # adjoint, backwards in time
                n = n0 + t
                to = t if has_omega else 0
                uu = UU[t]
                for j in range(width):
                    gyr[j] = gy_all[b, n, d0 + j]
                wn = w[b, n]
                for r in range(R):
                    bw[r] = wn * Bm[b, n, r]
                gwn = zero
                if not has_omega and not kwn:  # the common case in one fused pass
                    _plain_adjoint(
                        ST[t], ST[t + 1], A[t], Cm[b, n], gyr, bw, uu, nlam, DEL[t],
                        G, xc, xu, gur, gdel, glam_l,
                    )  # fmt: skip
                else:
                    _readout_adjoint(ST[t + 1], Cm[b, n], gyr, eps, kwn, G, xc)
                    _input_adjoint(G, bw, uu, gur, xu)
                    if kwn:  # z_n = a z_{n-1} + w_n
                        for r in range(R):
                            for j in range(width):
                                gwn += G[S - 1, r, j]
                    _transition_adjoint(
                        ST[t], A[t], CS[to], SN[to], nlam, om, DEL[t], has_omega, kwn,
                        G, ga, glam_l, gom_l, gdel,
                    )  # fmt: skip
                _lane_sums(xc, sums)
                for r in range(R):
                    gC[blk, b, n, r] = sums[r]
                _lane_sums(xu, sums)
                for r in range(R):
                    gB[blk, b, n, r] = wn * sums[r]
                    gwn += Bm[b, n, r] * sums[r]
                gw[blk, b, n] = gwn
                dt = dtau[b, n]
                gdt = zero
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


# --------------------------------------------------------------------------------------------
# torch glue
# --------------------------------------------------------------------------------------------
def _np(t: Tensor) -> np.ndarray:
    """Zero-copy numpy view of a contiguous CPU tensor (copies only if not contiguous)."""
    return t.detach().contiguous().numpy()


_POOL: list = [None, -1]  # [executor, pid that created it]


def _run_tasks(kernel, n_tasks: int, head: tuple, tail: tuple) -> None:
    """Run ``kernel(*head, lo, hi, *tail)`` over ``range(n_tasks)`` on ``torch.get_num_threads()``
    threads (the kernels release the GIL); a few contiguous pieces per thread balance the load."""
    threads = min(torch.get_num_threads(), n_tasks)
    if threads <= 1:
        kernel(*head, 0, n_tasks, *tail)
        return
    pool, pid = _POOL
    if pool is None or pid != os.getpid() or pool._max_workers < threads:  # or forked
        if pool is not None and pid == os.getpid():
            pool.shutdown(wait=False)
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="itnet-scan")
        _POOL[:] = [pool, os.getpid()]
    pieces = min(n_tasks, 4 * threads)
    bounds = [n_tasks * i // pieces for i in range(pieces + 1)]
    futures = [
        pool.submit(kernel, *head, lo, hi, *tail)
        for lo, hi in itertools.pairwise(bounds)
        if hi > lo
    ]
    for f in futures:
        f.result()


class _ScanNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, eps):
        B, N, D = u.shape
        R = lam.shape[1]
        S = 1 + int(omega is not None) + int(kwn)
        arrays = [_np(t) for t in (u, dtau, w, Bm, Cm, lam)]
        dtype = arrays[0].dtype
        lanes = _LANES[dtype]
        nblk = max(1, -(-D // lanes))
        omega_ = _np(omega) if omega is not None else np.zeros((1, 1), dtype)
        sel_ = _np(sel) if sel is not None else np.zeros((1, 1, 1), dtype)
        s0_ = _np(s0) if s0 is not None else np.zeros((1, 1, 1, 1), dtype)
        skip_ = _np(skip) if skip is not None else np.zeros(1, dtype)
        flags = (omega is not None, sel is not None, s0 is not None, skip is not None, bool(kwn))
        eps_ = dtype.type(eps)
        y = np.empty((B, N, D), dtype)  # (B, N, D)
        state = np.empty((B, S, D, R), dtype)  # (B, S, D, R)
        ckpt = np.empty((B, nblk, -(-N // CHUNK), S, R, lanes), dtype)
        head = (*arrays, omega_, sel_, s0_, skip_, *flags, eps_, CHUNK)
        _run_tasks(_forward_tasks, B * nblk, head, (y, state, ckpt))
        ctx.save_for_backward(u, dtau, w, Bm, Cm, lam, omega, sel, skip)  # version checks
        ctx.flags = flags
        ctx.dtype = u.dtype
        ctx.eps = eps_
        ctx.arrays = (*arrays, omega_, sel_, skip_)
        ctx.ckpt = ckpt
        return torch.from_numpy(y), torch.from_numpy(state)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_state):
        ctx.saved_tensors  # noqa: B018  (raises if an input was modified in place)
        has_omega, has_sel, has_s0, has_skip, kwn = ctx.flags
        u, dtau, w, Bm, Cm, lam, omega_, sel_, skip_ = ctx.arrays
        ckpt = ctx.ckpt
        B, N, D = u.shape
        R = lam.shape[1]
        nblk, S = ckpt.shape[1], ckpt.shape[3]
        dtype = u.dtype
        gy = _np(grad_y.to(ctx.dtype))  # (B, N, D)
        gst = _np(grad_state.to(ctx.dtype))  # (B, S, D, R)
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
        _run_tasks(
            _backward_tasks,
            B * nblk,
            (u, dtau, w, Bm, Cm, lam, omega_, sel_, skip_,
             has_omega, has_sel, has_skip, kwn, ctx.eps, CHUNK),
            (gy, gst, ckpt, gu, gsel, gB, gC, gdtau, gw, glam, gom, gskip, gs0),
        )  # fmt: skip
        need = ctx.needs_input_grad

        def out(g, reduce=False):  # sum partial results in numpy (no torch thread wake-up)
            return torch.from_numpy(g.sum(0) if reduce else g)

        return (
            out(gu) if need[0] else None,
            out(gdtau, True) if need[1] else None,
            out(gw, True) if need[2] else None,
            out(gB, True) if need[3] else None,
            out(gC, True) if need[4] else None,
            out(glam, True) if need[5] else None,
            out(gom, True) if has_omega and need[6] else None,
            out(gsel) if has_sel and need[7] else None,
            out(gs0) if has_s0 and need[8] else None,
            out(gskip, True) if has_skip and need[9] else None,
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
        (k, v)
        for k, v in {"omega": omega, "sel": sel, "s0": s0, "skip": skip}.items()
        if v is not None
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

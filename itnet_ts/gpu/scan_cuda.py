"""CUDA backend of the recurrent scan: fused CuPy ``RawModule`` kernels from ``scan.cu``.

``scan_cuda`` has the signature and semantics of ``itnet_ts.ops.scan_reference.scan_reference``
and is differentiable: the forward stores the state every ``CK`` steps (only when a gradient is
needed) and the backward kernel recomputes the states of each ``CK``-step tile from them.

The backward is parallel over time by default: ``scan_bwd_sum`` (per ``CK``-step chunk, the
adjoint before it given a zero adjoint after it, and the chunk's transition), ``scan_bwd_carry``
(a short sequential pass over the chunk summaries: the adjoint after every chunk), then
``scan_bwd_chunk`` (the serial kernel's body) with every segment of chunks in its own block.
``ITNET_SCAN_BWD=serial`` (or ``mode="serial"`` of the internal ``_backward``) launches the serial
``scan_bwd``, one block walking all N steps of a series (the backward before issue 14, same
code), kept for side-by-side timing.  ``ITNET_SCAN_FWD=chunked`` does the same for the forward
(``scan_fwd_sum`` / ``scan_fwd_carry`` / ``scan_fwd_chunk``: the carries are the states at the
chunk starts, i.e. the backward's checkpoints); the serial ``scan_fwd`` stays the default until a
GPU timing says otherwise.

Kernels are compiled once per (dtype, configuration) and launched zero-copy on torch's current
CUDA stream.  ``Bm`` / ``Cm`` may be strided views with contiguous rows (the model's ``chunk`` of
one projection): the kernels take their series and step strides, so they are not copied.  The launch plan (tile sizes, shared memory) is pure Python so the CPU emulation in
``tests/gpu/_emulate.py`` can run the same plan and the same kernel source on the host.
"""

from __future__ import annotations

import functools
import itertools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from itnet_ts._scan_signature import check_scan_inputs, empty_scan

try:  # only ``load_scan_cuda`` imports this module, after checking that cupy imports
    import cupy
except ImportError:  # pragma: no cover - the emulation tests run the plan without cupy
    cupy = None

__all__ = [
    "BWD_MODES",
    "FWD_MODES",
    "all_kernel_names",
    "bwd_mode",
    "chunk_segments",
    "fwd_mode",
    "kernel_name",
    "plan_backward",
    "plan_forward",
    "scan_cuda",
]

RT = 4  # poles per thread (ITNET_RT in scan.cu)
CK = 32  # time tile == checkpoint interval (ITNET_CK)
MAX_THREADS = 256  # block-size bound (ITNET_MAX_THREADS)
MAX_R = 128  # largest pole count the kernels are planned for
BWD_SMEM_TARGET = 110 * 1024  # two backward blocks per H100 SM
BWD_TARGET_BLOCKS = 2048  # chunked backward: segments of chunks so the grid has about this many
BWD_CHUNK_SMEM_TARGET = BWD_SMEM_TARGET  # chunked backward's budget (untuned: needs a GPU sweep)
BWD_MODES = ("chunked", "serial")  # ITNET_SCAN_BWD: the backward kernels (chunked: default)
FWD_MODES = ("serial", "chunked")  # ITNET_SCAN_FWD: the forward kernels (serial: default)
FWD_TARGET_BLOCKS = 2048  # chunked forward: as BWD_TARGET_BLOCKS
KINDS = ("fwd", "bwd", "bwd_sum", "bwd_carry", "bwd_chunk", "fwd_sum", "fwd_carry", "fwd_chunk")
SOURCE = Path(__file__).with_name("scan.cu")

_CTYPES = {torch.float32: "float", torch.float64: "double"}
_POISON_OUTPUTS = False  # tests: allocate outputs and scratch filled with NaN


def kernel_name(kind: str, dtype: torch.dtype, has_omega: bool, has_sel: bool, kwn: bool) -> str:
    """C++ name expression of a kernel instantiation, e.g. ``scan_fwd<float,true,false,false>``.

    ``s0`` and ``skip`` are runtime options of every instantiation (null pointer when absent).
    """
    flags = ",".join("true" if f else "false" for f in (has_omega, has_sel, kwn))
    return f"scan_{kind}<{_CTYPES[dtype]},{flags}>"


def all_kernel_names() -> list[str]:
    """Every kernel instantiation (2 dtypes x 8 configurations x the ``KINDS``)."""
    return [
        kernel_name(kind, dtype, *flags)
        for dtype in _CTYPES
        for flags in itertools.product((False, True), repeat=3)
        for kind in KINDS
    ]


def bwd_mode() -> str:
    """The backward kernels to use: ``ITNET_SCAN_BWD`` (``chunked``, the default, or ``serial``)."""
    mode = os.environ.get("ITNET_SCAN_BWD", "").strip().lower() or "chunked"
    if mode not in BWD_MODES:
        raise ValueError(f"ITNET_SCAN_BWD={mode!r}: expected one of {', '.join(BWD_MODES)}")
    return mode


def fwd_mode() -> str:
    """The forward kernels to use: ``ITNET_SCAN_FWD`` (``serial``, the default, or ``chunked``)."""
    mode = os.environ.get("ITNET_SCAN_FWD", "").strip().lower() or "serial"
    if mode not in FWD_MODES:
        raise ValueError(f"ITNET_SCAN_FWD={mode!r}: expected one of {', '.join(FWD_MODES)}")
    return mode


def chunk_segments(nc: int, ndt: int, B: int, target: int | None = None) -> tuple[int, int]:
    """(chunks per segment, segments) of the chunked backward: the fewest chunks per segment
    that keep its grid (ndt * segments, B) within about ``target`` (``BWD_TARGET_BLOCKS``)."""
    target = BWD_TARGET_BLOCKS if target is None else target
    segc = max(1, -(-nc * ndt * B // max(1, target)))
    segc = min(segc, max(1, nc))
    return segc, -(-nc // segc)


def _pow2_ceil(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


@dataclass(frozen=True)
class FwdPlan:
    """Forward launch: grid (ceil(D / dt), B), block ``nt = g * dt``, ``smem`` bytes."""

    dt: int
    g: int
    smem: int

    @property
    def nt(self) -> int:
        return self.g * self.dt


@dataclass(frozen=True)
class BwdPlan:
    """Backward launch: as ``FwdPlan`` plus the recompute sub-tile ``ts`` (divides ``CK``)."""

    dt: int
    g: int
    ts: int
    smem: int

    @property
    def nt(self) -> int:
        return self.g * self.dt


def fwd_smem_elems(dt: int, g: int, has_sel: bool) -> int:
    """Forward dynamic shared memory in elements (mirrors ``scan_fwd``)."""
    tile = CK * dt * (2 if has_sel else 1) + 2 * CK * g * RT + 2 * CK
    return 2 * tile + CK * g * dt


def bwd_smem_elems(
    dt: int, g: int, ts: int, S: int, has_sel: bool, kwn: bool, chunked: bool = False
) -> int:
    """Backward dynamic shared memory in elements (mirrors ``scan_bwd`` / ``scan_bwd_chunk``:
    ``chunked`` adds the states at the sub-tile starts)."""
    nt, ss, np_ = g * dt, max(S, 2), 3 if kwn else 2
    inputs = CK * (dt * (3 if has_sel else 2) + 2 * g * RT + 2)
    bounds = (CK // ts - 1) * S * RT * nt if chunked else 0
    return inputs + ts * (ss * RT * nt + np_ * nt + 2 * dt) + bounds


def _check_r(R: int) -> int:
    if R > MAX_R:
        raise ValueError(f"the CUDA scan supports R <= {MAX_R} poles, got R={R}")
    return -(-R // RT)


def _check_b(B: int) -> None:
    if B > 65535:  # grid.y
        raise ValueError(f"the CUDA scan supports batches of up to 65535 series, got B={B}")


@functools.lru_cache(maxsize=256)
def plan_forward(D: int, R: int, has_sel: bool, itemsize: int, smem_limit: int) -> FwdPlan:
    """Largest channel tile (power of two <= 32) within the block and shared-memory limits."""
    g = _check_r(R)
    dt = min(32, _pow2_ceil(D))
    while dt > 1 and (
        g * dt > MAX_THREADS or fwd_smem_elems(dt, g, has_sel) * itemsize > smem_limit
    ):
        dt //= 2
    smem = fwd_smem_elems(dt, g, has_sel) * itemsize
    if g * dt > MAX_THREADS or smem > smem_limit:
        raise ValueError(f"R={R} needs {smem} bytes of shared memory, the device has {smem_limit}")
    return FwdPlan(dt, g, smem)


def plan_backward(
    D: int,
    R: int,
    S: int,
    has_sel: bool,
    kwn: bool,
    itemsize: int,
    smem_limit: int,
    budget: int | None = None,
    chunked: bool = False,
) -> BwdPlan:
    """Widest channel tile first, then the longest sub-tile, within ``budget`` bytes of shared
    memory (default ``BWD_SMEM_TARGET``) and the device's limit; ``chunked``: the layout of
    ``scan_bwd_chunk``."""
    budget = BWD_SMEM_TARGET if budget is None else budget
    return _plan_backward(D, R, S, has_sel, kwn, itemsize, min(smem_limit, budget), chunked)


@functools.lru_cache(maxsize=256)
def _plan_backward(
    D: int, R: int, S: int, has_sel: bool, kwn: bool, itemsize: int, budget: int, chunked: bool
) -> BwdPlan:
    g = _check_r(R)
    dt = min(32, _pow2_ceil(D))
    while dt >= 1:
        if g * dt <= MAX_THREADS:
            for ts in (32, 16, 8, 4):
                smem = bwd_smem_elems(dt, g, ts, S, has_sel, kwn, chunked) * itemsize
                if smem <= budget:
                    return BwdPlan(dt, g, ts, smem)
        dt //= 2
    raise ValueError(f"R={R} does not fit the backward kernel's shared memory ({budget} bytes)")


class Launcher(Protocol):
    """Runs one kernel: ``launcher(name, grid, block, smem_bytes, args)``."""

    def smem_limit(self, device: torch.device) -> int: ...

    def __call__(
        self, name: str, grid: tuple[int, int], block: int, smem: int, args: list
    ) -> None: ...


# Kernels compiled together: what one mode of the forward or the backward launches (NVRTC time
# grows with every kernel of a module, and a run needs only its modes' kernels).
GROUPS = (
    ("fwd",),
    ("bwd",),
    ("fwd_sum", "fwd_carry", "fwd_chunk"),
    ("bwd_sum", "bwd_carry", "bwd_chunk"),
)
_GROUP_OF = {kind: group for group in GROUPS for kind in group}


@functools.cache
def _module(ctype: str, flags: tuple[bool, ...], kinds: tuple[str, ...]):
    """RawModule with the kernels ``kinds`` (one of ``GROUPS``) of one configuration."""
    dtype = {"float": torch.float32, "double": torch.float64}[ctype]
    names = [kernel_name(kind, dtype, *flags) for kind in kinds]
    return cupy.RawModule(code=SOURCE.read_text(), options=("-std=c++17",), name_expressions=names)


@functools.cache
def _smem_optin(index: int) -> int:
    return int(cupy.cuda.Device(index).attributes["MaxSharedMemoryPerBlockOptin"])


class _CupyLauncher:
    """Compiles (cached) and launches on torch's current stream of the inputs' device."""

    def __init__(self) -> None:
        self._kernels: dict[str, object] = {}
        self._smem_set: dict[tuple[str, int], int] = {}

    def smem_limit(self, device: torch.device) -> int:
        return _smem_optin(device.index)

    def _kernel(self, name: str):
        if name not in self._kernels:
            ctype = name[name.index("<") + 1 : name.index(",")]
            flags = tuple(f == "true" for f in name[name.index(",") + 1 : -1].split(","))
            kinds = _GROUP_OF[name[len("scan_") : name.index("<")]]
            self._kernels[name] = _module(ctype, flags, kinds).get_function(name)
        return self._kernels[name]

    def __call__(self, name, grid, block, smem, args, *, device: torch.device) -> None:
        torch_stream = torch.cuda.current_stream(device)
        with cupy.cuda.Device(device.index), _cupy_stream(torch_stream, device.index):
            kernel = self._kernel(name)
            if smem > 48 * 1024 and self._smem_set.get((name, device.index), 0) < smem:
                kernel.max_dynamic_shared_size_bytes = smem
                self._smem_set[(name, device.index)] = smem
            kernel(grid, (block,), tuple(args), shared_mem=smem)


_STREAMS: dict[tuple[int, int], object] = {}


def _cupy_stream(torch_stream, device_index: int):
    """CuPy view of torch's stream (``Stream.from_external`` where CuPy and torch support it),
    cached per (device, stream handle): a launch costs no new CuPy stream object."""
    key = (device_index, int(torch_stream.cuda_stream))
    got = _STREAMS.get(key)
    if got is not None:
        return got
    if hasattr(cupy.cuda.Stream, "from_external") and hasattr(torch_stream, "__cuda_stream__"):
        got = cupy.cuda.Stream.from_external(torch_stream)
    else:
        with warnings.catch_warnings():  # deprecated since CuPy 14, the only way before it
            warnings.simplefilter("ignore", DeprecationWarning)
            got = cupy.cuda.ExternalStream(torch_stream.cuda_stream, device_index)
    if len(_STREAMS) < 64:
        _STREAMS[key] = got
    return got


class _BoundCupy:
    """The CuPy launcher bound to one device (what the autograd function carries)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def smem_limit(self, device: torch.device) -> int:
        return _CUPY.smem_limit(device)

    def __call__(self, name, grid, block, smem, args) -> None:
        _CUPY(name, grid, block, smem, args, device=self.device)


_CUPY = _CupyLauncher()


def _ptr(t: Tensor | None) -> int:
    return 0 if t is None else t.data_ptr()


def _new(shape, like: Tensor) -> Tensor:
    if _POISON_OUTPUTS:
        return torch.full(shape, float("nan"), dtype=like.dtype, device=like.device)
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def _scalar(x: float, dtype: torch.dtype):
    return np.float32(x) if dtype == torch.float32 else np.float64(x)


def _flags(omega, sel, kwn) -> tuple[bool, ...]:
    return (omega is not None, sel is not None, bool(kwn))


VEC_U, VEC_BC, VEC_Y = 1, 2, 4  # ITNET_VEC_* of scan.cu


def _aligned(*ts: Tensor | None) -> bool:
    return all(t is None or t.data_ptr() % 16 == 0 for t in ts)


def _row_strides(t: Tensor) -> list:
    """Series and step strides of a (B, N, R) tensor with contiguous rows, as kernel arguments."""
    return [np.int64(t.stride(0)), np.int64(t.stride(1))]


def vec_flags(D: int, R: int, dt: int, itemsize: int, u, sel, Bm, Cm, y) -> int:
    """Which rows the forward may move in 16-byte pieces (sizes and alignment allow it)."""
    v = 16 // itemsize
    flags = 0
    rows_ok = D % v == 0 and dt % v == 0
    if rows_ok and _aligned(u, sel):
        flags |= VEC_U
    if rows_ok and _aligned(y):
        flags |= VEC_Y
    if (
        R % v == 0
        and all(s % v == 0 for t in (Bm, Cm) for s in t.stride()[:2])
        and _aligned(Bm, Cm)
    ):
        flags |= VEC_BC
    return flags


def _forward(
    launch: Launcher,
    u,
    dtau,
    w,
    Bm,
    Cm,
    lam,
    omega,
    sel,
    s0,
    skip,
    kwn,
    eps,
    save_ckpt,
    mode: str | None = None,
):
    """Launch the forward kernels (``mode``: ``serial`` or ``chunked``, default ``fwd_mode()``);
    return ``(y, state, ckpt)`` (ckpt (B, NC, S, R, D) or None)."""
    B, N, D, R, S = check_scan_inputs(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn)
    _check_b(B)
    mode = fwd_mode() if mode is None else mode
    if mode not in FWD_MODES:
        raise ValueError(f"forward mode {mode!r}: expected one of {', '.join(FWD_MODES)}")
    plan = plan_forward(D, R, sel is not None, u.element_size(), launch.smem_limit(u.device))
    nc = -(-N // CK)
    ndt = -(-D // plan.dt)
    y = _new((B, N, D), u)
    state = _new((B, S, D, R), u)
    # the chunked forward needs the chunk-start states whether or not a gradient follows
    ckpt = _new((B, nc, S, R, D), u) if save_ckpt or mode == "chunked" else None
    strides = _row_strides(Bm) + _row_strides(Cm)
    ldt = np.int32(plan.dt.bit_length() - 1)
    vec = np.int32(vec_flags(D, R, plan.dt, u.element_size(), u, sel, Bm, Cm, y))
    flags = _flags(omega, sel, kwn)
    if mode == "serial":
        args = [_ptr(t) for t in (u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, y, state, ckpt)]
        args += strides + [np.int32(v) for v in (N, D, R)] + [ldt, np.int32(plan.g), vec]
        args.append(_scalar(eps, u.dtype))
        launch(kernel_name("fwd", u.dtype, *flags), (ndt, B), plan.nt, plan.smem, args)
        return y, state, ckpt
    P = (3 if kwn else 2) if omega is not None else 1
    psi = _new((B, nc, P, R, D), u)
    args = [_ptr(t) for t in (u, dtau, w, Bm, lam, omega, sel, ckpt, psi)] + strides[:2]
    args += [np.int32(v) for v in (N, D, R)] + [ldt]
    launch(kernel_name("fwd_sum", u.dtype, *flags), (ndt * nc, B), plan.nt, 0, args)
    nt2 = min(128, _pow2_ceil(R * D))
    args = [_ptr(t) for t in (s0, psi, ckpt, state)] + [np.int32(v) for v in (N, D, R)]
    launch(kernel_name("fwd_carry", u.dtype, *flags), (-(-R * D // nt2), B), nt2, 0, args)
    segc, nseg = chunk_segments(nc, ndt, B, FWD_TARGET_BLOCKS)
    args = [_ptr(t) for t in (u, dtau, w, Bm, Cm, lam, omega, sel, ckpt, skip, y)] + strides
    args += [np.int32(v) for v in (N, D, R)] + [ldt, np.int32(plan.g), vec, np.int32(segc)]
    args.append(_scalar(eps, u.dtype))
    launch(kernel_name("fwd_chunk", u.dtype, *flags), (ndt * nseg, B), plan.nt, plan.smem, args)
    return y, state, ckpt if save_ckpt else None


def _backward(launch: Launcher, saved, gy, gstate, kwn, eps, mode: str | None = None):
    """Launch the backward kernels (``mode``: ``chunked`` or ``serial``, default ``bwd_mode()``);
    return the gradients of (u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip)."""
    u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, ckpt = saved
    mode = bwd_mode() if mode is None else mode
    if mode not in BWD_MODES:
        raise ValueError(f"backward mode {mode!r}: expected one of {', '.join(BWD_MODES)}")
    B, N, D, R, S = check_scan_inputs(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn)
    budget = BWD_CHUNK_SMEM_TARGET if mode == "chunked" else BWD_SMEM_TARGET
    limit = launch.smem_limit(u.device)
    chunked = mode == "chunked"
    plan = plan_backward(D, R, S, sel is not None, kwn, u.element_size(), limit, budget, chunked)
    ndt = -(-D // plan.dt)
    nc = -(-N // CK)
    segc, nseg = chunk_segments(nc, ndt, B) if mode == "chunked" else (nc, 1)
    gy = torch.zeros_like(u) if gy is None else gy.to(u.dtype).contiguous()
    gstate = None if gstate is None else gstate.to(u.dtype).contiguous()
    du = _new((B, N, D), u)
    dsel = _new((B, N, D), u) if sel is not None else None
    dBp, dCp = _new((ndt, B, N, R), u), _new((ndt, B, N, R), u)
    ddtp, dwp = _new((B, N, ndt), u), _new((B, N, ndt), u)
    dlamp = _new((B, nseg, D, R), u)
    domp = _new((B, nseg, D, R), u) if omega is not None else None
    dskipp = _new((B, nseg, D), u) if skip is not None else None
    ds0 = _new((B, S, D, R), u) if s0 is not None else None
    strides = _row_strides(Bm) + _row_strides(Cm)
    ldt, lts = np.int32(plan.dt.bit_length() - 1), np.int32(plan.ts.bit_length() - 1)
    flags = _flags(omega, sel, kwn)
    if mode == "serial":
        tensors = (u, dtau, w, Bm, Cm, lam, omega, sel, skip, ckpt, gy, gstate)
        outs = (du, dsel, dBp, dCp, ddtp, dwp, dlamp, domp, dskipp, ds0)
        args = [_ptr(t) for t in tensors + outs] + strides
        args += [np.int32(v) for v in (N, D, R)] + [ldt, np.int32(plan.g), lts]
        args.append(_scalar(eps, u.dtype))
        launch(kernel_name("bwd", u.dtype, *flags), (ndt, B), plan.nt, plan.smem, args)
    else:
        P = (3 if kwn else 2) if omega is not None else 1
        carry = _new((B, nc, S, R, D), u)  # chunk summaries, then the carries (in place)
        phi = _new((B, nc, P, R, D), u)
        tensors = (u, dtau, w, Bm, Cm, lam, omega, sel, ckpt, gy, carry, phi)
        args = [_ptr(t) for t in tensors] + strides
        args += [np.int32(v) for v in (N, D, R)] + [ldt, _scalar(eps, u.dtype)]
        launch(kernel_name("bwd_sum", u.dtype, *flags), (ndt * nc, B), plan.nt, 0, args)
        nt2 = min(128, _pow2_ceil(R * D))
        args = [_ptr(t) for t in (gstate, phi, carry, ds0)] + [np.int32(v) for v in (N, D, R)]
        launch(kernel_name("bwd_carry", u.dtype, *flags), (-(-R * D // nt2), B), nt2, 0, args)
        tensors = (u, dtau, w, Bm, Cm, lam, omega, sel, skip, ckpt, gy, carry)
        outs = (du, dsel, dBp, dCp, ddtp, dwp, dlamp, domp, dskipp)
        args = [_ptr(t) for t in tensors + outs] + strides
        args += [np.int32(v) for v in (N, D, R)] + [ldt, np.int32(plan.g), lts, np.int32(segc)]
        args.append(_scalar(eps, u.dtype))
        name = kernel_name("bwd_chunk", u.dtype, *flags)
        launch(name, (ndt * nseg, B), plan.nt, plan.smem, args)
    return (
        du,
        ddtp.sum(-1),
        dwp.sum(-1),
        dBp.sum(0),
        dCp.sum(0),
        dlamp.sum((0, 1)),
        None if domp is None else domp.sum((0, 1)),
        dsel,
        ds0,
        None if dskipp is None else dskipp.sum((0, 1)),
    )


class _ScanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, launch, kwn, eps, u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip):
        need = any(ctx.needs_input_grad[3:])
        y, state, ckpt = _forward(
            launch, u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, eps, save_ckpt=need
        )
        ctx.launch, ctx.kwn, ctx.eps = launch, kwn, eps
        ctx.set_materialize_grads(False)
        if need:
            ctx.save_for_backward(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, ckpt)
        return y, state

    @staticmethod
    @once_differentiable
    def backward(ctx, gy, gstate):
        if gy is None and gstate is None:
            return (None,) * 13
        grads = _backward(ctx.launch, ctx.saved_tensors, gy, gstate, ctx.kwn, ctx.eps)
        needs = ctx.needs_input_grad[3:]
        grads = tuple(g if need else None for g, need in zip(grads, needs, strict=True))
        return (None, None, None, *grads)


def _prepare(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, want_cuda: bool):
    """Validate shapes, dtypes and devices; return the tensors made contiguous (``Bm``, ``Cm``:
    only their rows; a strided view with contiguous rows is passed as it is)."""
    check_scan_inputs(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn)
    named = dict(u=u, dtau=dtau, w=w, Bm=Bm, Cm=Cm, lam=lam, omega=omega, sel=sel, s0=s0, skip=skip)
    if u.dtype not in _CTYPES:
        raise TypeError(f"scan_cuda supports float32 and float64, got u.dtype={u.dtype}")
    for k, t in named.items():
        if t is None:
            continue
        if t.dtype != u.dtype:
            raise TypeError(f"{k}.dtype={t.dtype} does not match u.dtype={u.dtype}")
        if t.device != u.device:
            raise ValueError(f"{k} is on {t.device} but u is on {u.device}")
    if want_cuda and u.device.type != "cuda":
        raise ValueError(f"scan_cuda needs CUDA tensors, got u on {u.device}")
    out = [None if t is None else t.contiguous() for t in named.values()]
    for i, t in ((3, Bm), (4, Cm)):
        if t.dim() == 3 and (t.stride(-1) == 1 or t.shape[-1] <= 1):
            out[i] = t if t.stride(-1) == 1 else t.contiguous()
    return out


def _scan(launch: Launcher, u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, eps, want_cuda):
    tensors = _prepare(u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, want_cuda)
    B, N, D = u.shape
    if min(B, N, D, lam.shape[1]) == 0:  # nothing to launch
        u, _, _, _, _, lam, omega, _, s0, skip = tensors
        return empty_scan(u, lam, s0, skip, bool(kwn), omega is not None)
    return _ScanFunction.apply(launch, bool(kwn), float(eps), *tensors)


def scan_cuda(
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
    """Recurrent scan on CUDA (signature and semantics of ``scan_reference``).

    Args: u (B,N,D), dtau (B,N), w (B,N), Bm (B,N,R), Cm (B,N,R), lam (D,R), omega (D,R),
    sel (B,N,D), s0 (B,S,D,R), skip (D,): float32 or float64 CUDA tensors of one dtype.

    Returns:
        y: (B, N, D); state: (B, S, D, R).
    """
    if cupy is None:
        raise RuntimeError("scan_cuda needs cupy")
    launch = _BoundCupy(u.device)
    return _scan(launch, u, dtau, w, Bm, Cm, lam, omega, sel, s0, skip, kwn, eps, True)

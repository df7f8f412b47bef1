"""CUDA scan backend against the float64 reference: outputs, final state and every gradient.

Two runners share one test matrix:

* ``TestCuda`` (``pytestmark = pytest.mark.gpu``): the real kernels through ``scan_cuda``; needs
  cupy and a CUDA device, skipped cleanly otherwise (run with ``pytest -m gpu tests/gpu``).
* the module-level tests (not gpu-marked, CPU only): the same ``scan.cu`` source compiled by the
  host C++ compiler and run in the CPU emulation of ``_emulate.py`` (real threads per block,
  barriers, NaN-filled shared memory with an overrun guard, inputs and outputs surrounded by NaN
  guards), through the same launch plan, partial reductions and autograd wiring.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path

import pytest
import torch

from itnet_ts.gpu import scan_cuda as sc
from itnet_ts.ops.scan_reference import scan_reference

_spec = importlib.util.spec_from_file_location(
    "_itnet_emulate", Path(__file__).with_name("_emulate.py")
)
emu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(emu)

NAMES = ("u", "dtau", "w", "Bm", "Cm", "lam", "omega", "sel", "s0", "skip")
COMBOS = list(itertools.product((False, True), repeat=5))  # omega, sel, kwn, skip, s0
OPTIONS = ("omega", "sel", "kwn", "skip", "s0")
COMBO_IDS = ["+".join(o for o, f in zip(OPTIONS, c, strict=True) if f) or "plain" for c in COMBOS]
TOL = {torch.float64: (1e-10, 1e-9), torch.float32: (1e-4, 1e-3)}  # (outputs, gradients)


def make_case(B, N, D, R, combo, *, seed=0, gaps=None):
    """float64 CPU inputs of one configuration; ``gaps``: "zero", "huge", "pad" or None."""
    omega, sel, kwn, skip, s0 = combo
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64

    def randn(*s):
        return torch.randn(*s, generator=g, dtype=f64)

    def rand(*s):
        return torch.rand(*s, generator=g, dtype=f64)

    S = 1 + int(omega) + int(kwn)
    case = dict(
        u=randn(B, N, D),
        dtau=rand(B, N) * 1.5,
        w=rand(B, N) + 0.1,
        Bm=randn(B, N, R),
        Cm=randn(B, N, R) / math.sqrt(R),
        lam=rand(D, R) * 1.5 + 0.05,
        omega=randn(D, R) * 2 if omega else None,
        sel=rand(B, N, D) + 0.5 if sel else None,
        s0=randn(B, S, D, R) if s0 else None,
        skip=randn(D) if skip else None,
    )
    if s0 and kwn:
        case["s0"][:, -1] = case["s0"][:, -1].abs() + 0.5
    if gaps == "zero":
        case["dtau"][:, ::3] = 0.0
        case["dtau"][:, 0] = 0.0
    elif gaps == "huge":
        case["dtau"][:, N // 3] = 1e6
        case["dtau"][:, (2 * N) // 3] = 1e30
    elif gaps == "pad":  # series b has its last 1 + 5 b steps padded (w = 0, dtau = 0)
        for b in range(B):
            n_valid = max(0, N - 1 - 5 * b)
            case["w"][b, n_valid:] = 0.0
            case["dtau"][b, n_valid:] = 0.0
    return case, kwn


TIME_AXIS = ("u", "dtau", "w", "Bm", "Cm", "sel")


def check_gap_semantics(case, kwn, gaps, st, dtype):
    """pad: each series' state is its state after its last observation; huge: the state after
    the last huge gap forgets everything before it (exactly zero decay)."""
    B, N = case["dtau"].shape
    if gaps == "pad":
        for b in range(B):
            n_valid = max(0, N - 1 - 5 * b)
            sub = {
                k: (v[b : b + 1] if k in (*TIME_AXIS, "s0") and v is not None else v)
                for k, v in case.items()
            }
            sub = {
                k: (v[:, :n_valid] if k in TIME_AXIS and v is not None else v)
                for k, v in sub.items()
            }
            _, st_b = scan_reference(**sub, kwn=kwn)
            assert rel_err(st[b : b + 1], st_b) <= TOL[dtype][0]
    elif gaps == "huge":
        n = (2 * N) // 3
        cut = {k: (v[:, n:] if k in TIME_AXIS and v is not None else v) for k, v in case.items()}
        _, st_cut = scan_reference(**dict(cut, s0=None), kwn=kwn)
        assert rel_err(st, st_cut) <= TOL[dtype][0]


def rel_err(a, b):
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def check(run, case, kwn, dtype, device, *, seed=1, eps=1e-6, prep=None):
    """Compare ``run`` (scan signature) with the float64 reference; outputs and all gradients."""
    tol_y, tol_g = TOL[dtype]
    present = [k for k in NAMES if case[k] is not None]
    ref_in = {k: (case[k].clone().requires_grad_(True) if k in present else None) for k in NAMES}
    yr, sr = scan_reference(**ref_in, kwn=kwn, eps=eps)
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(yr.shape, generator=g, dtype=torch.float64)
    gs = torch.randn(sr.shape, generator=g, dtype=torch.float64)
    grads_ref = torch.autograd.grad((yr * gy).sum() + (sr * gs).sum(), [ref_in[k] for k in present])

    test_in = {}
    for k in NAMES:
        if case[k] is None:
            test_in[k] = None
            continue
        t = case[k].to(dtype)
        t = prep(t) if prep is not None else t.to(device)
        test_in[k] = t.detach().requires_grad_(True)
    y, st = run(**test_in, kwn=kwn, eps=eps)
    assert y.shape == yr.shape and st.shape == sr.shape
    assert y.dtype == dtype and st.dtype == dtype
    assert torch.isfinite(y).all() and torch.isfinite(st).all()
    assert rel_err(y, yr) <= tol_y, ("y", rel_err(y, yr))
    assert rel_err(st, sr) <= tol_y, ("state", rel_err(st, sr))
    loss = (y * gy.to(y)).sum() + (st * gs.to(st)).sum()
    grads = torch.autograd.grad(loss, [test_in[k] for k in present])
    for k, ga, gr in zip(present, grads, grads_ref, strict=True):
        assert ga.shape == gr.shape, k
        assert torch.isfinite(ga).all(), k
        assert rel_err(ga, gr) <= tol_g, (k, rel_err(ga, gr))
    return y, st


# ---------------------------------------------------------------------------------------------
# CPU emulation of the kernels (not gpu-marked)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu_dll(tmp_path_factory):
    if emu.compiler() is None:
        pytest.skip("no host C++ compiler for the CPU emulation")
    return emu.build(emu.shared_workdir(tmp_path_factory))


@pytest.fixture
def emu_run(emu_dll, monkeypatch):
    """Runner on CPU tensors through the emulated kernels, with guarded outputs."""
    alloc = emu.GuardedAlloc()
    monkeypatch.setattr(sc, "_new", alloc)
    launcher = emu.EmuLauncher(emu_dll)

    def run(**kw):
        return sc._scan(launcher, **kw, want_cuda=False)

    run.launcher, run.alloc = launcher, alloc
    yield run
    alloc.check()


def _emu_check(emu_run, case, kwn, dtype=torch.float64, **kw):
    return check(emu_run, case, kwn, dtype, "cpu", prep=emu.guarded, **kw)


KERNELS = {
    "serial": {"scan_fwd"},
    "chunked": {"scan_fwd_sum", "scan_fwd_carry", "scan_fwd_chunk"},
}
BWD_KERNELS = {
    "chunked": {"scan_bwd_sum", "scan_bwd_carry", "scan_bwd_chunk"},
    "serial": {"scan_bwd"},
}
MODES = [("serial", "chunked"), ("serial", "serial"), ("chunked", "chunked")]  # (fwd, bwd)


SERIAL_COMBOS = [(False,) * 5, (True,) * 5, (True, False, True, False, False)]
# (dtype, (fwd, bwd), combo): every combination with the default modes (both dtypes) and both
# kernels chunked; the serial kernels (before issue 14, unchanged) on three combinations
MATRIX = [
    (dtype, modes, combo)
    for dtype, modes in [
        (torch.float64, MODES[0]),
        (torch.float32, MODES[0]),
        (torch.float64, MODES[2]),
        (torch.float64, MODES[1]),
    ]
    for combo in COMBOS
    if modes != MODES[1] or combo in SERIAL_COMBOS
]
MATRIX_IDS = [
    f"{'f64' if d == torch.float64 else 'f32'}-{'-'.join(m)}-{COMBO_IDS[COMBOS.index(c)]}"
    for d, m, c in MATRIX
]


@pytest.mark.parametrize("dtype,modes,combo", MATRIX, ids=MATRIX_IDS)
def test_emulated_every_option_combination(emu_run, monkeypatch, combo, dtype, modes):
    """The kernels of ITNET_SCAN_FWD / ITNET_SCAN_BWD: the default (serial forward, chunked
    backward) in float64 and float32, both chunked, and both serial."""
    monkeypatch.setenv("ITNET_SCAN_FWD", modes[0])
    monkeypatch.setenv("ITNET_SCAN_BWD", modes[1])
    case, kwn = make_case(2, 45, 5, 6, combo, seed=sum(combo))
    _emu_check(emu_run, case, kwn, dtype)
    names = {name.split("<")[0] for name, *_ in emu_run.launcher.launches}
    assert names == KERNELS[modes[0]] | BWD_KERNELS[modes[1]]


@pytest.mark.parametrize(
    "B,N,D,R",
    [
        (1, 1, 1, 1),
        (2, 31, 3, 4),
        (1, 32, 2, 5),
        (2, 33, 7, 3),
        (1, 63, 33, 17),
        (2, 65, 40, 9),
        (1, 40, 9, 128),
    ],
)
def test_emulated_odd_sizes(emu_run, B, N, D, R):
    case, kwn = make_case(B, N, D, R, (True, True, True, True, True), seed=N)
    _emu_check(emu_run, case, kwn)


@pytest.mark.parametrize("gaps", ["zero", "huge", "pad"])
@pytest.mark.parametrize("combo", [(False,) * 5, (True, True, True, True, True)], ids=["-", "all"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_emulated_gaps_and_padding(emu_run, gaps, combo, dtype):
    case, kwn = make_case(3, 40, 4, 5, combo, gaps=gaps)
    _, st = _emu_check(emu_run, case, kwn, dtype)
    check_gap_semantics(case, kwn, gaps, st, dtype)


@pytest.mark.parametrize("bwd", sc.BWD_MODES)
@pytest.mark.parametrize("budget", [9000, 16000, 30000, 60000, 200000])
def test_emulated_backward_subtiles(emu_run, monkeypatch, budget, bwd):
    """Small shared-memory budgets force narrow channel tiles and recompute sub-tiles < CK."""
    monkeypatch.setenv("ITNET_SCAN_BWD", bwd)
    monkeypatch.setattr(sc, "BWD_SMEM_TARGET", budget)
    monkeypatch.setattr(sc, "BWD_CHUNK_SMEM_TARGET", budget)
    case, kwn = make_case(2, 77, 37, 6, (True, True, True, True, True), seed=3)
    _emu_check(emu_run, case, kwn)
    plan = sc.plan_backward(37, 6, 3, True, True, 8, budget, chunked=bwd == "chunked")
    assert emu_run.launcher.launches[-1][2:] == (plan.nt, plan.smem)


def test_emulated_small_forward_smem_limit(emu_dll, monkeypatch):
    alloc = emu.GuardedAlloc()
    monkeypatch.setattr(sc, "_new", alloc)
    launcher = emu.EmuLauncher(emu_dll, smem_limit=12 * 1024)
    case, kwn = make_case(2, 50, 37, 6, (False, True, False, True, False), seed=4)
    check(
        lambda **kw: sc._scan(launcher, **kw, want_cuda=False),
        case,
        kwn,
        torch.float64,
        "cpu",
        prep=emu.guarded,
    )
    assert launcher.launches[0][2] < 32  # the plan shrank the channel tile
    alloc.check()


def test_emulated_noncontiguous_inputs(emu_run):
    case, kwn = make_case(2, 37, 6, 5, (True, True, True, True, True), seed=5)

    def noncontig(t):
        t = emu.guarded(t)
        if t.dim() >= 2:
            t = t.transpose(0, -1).contiguous().transpose(0, -1)
        else:
            t = torch.stack([t, t], -1)[:, 0]
        assert not t.is_contiguous() or t.numel() <= 1
        return t

    check(emu_run, case, kwn, torch.float64, "cpu", prep=noncontig)


def as_views(run, offset: int = 0):
    """Runner passing ``Bm`` / ``Cm`` as column views of one (B, N, offset + 2R) tensor (what
    the model's ``chunk`` produces); ``offset`` > 0 misaligns their rows."""

    def wrapped(**kw):
        Bm, Cm = kw["Bm"], kw["Cm"]
        pad = Bm.new_zeros(*Bm.shape[:2], offset)
        both = torch.cat([pad, Bm, Cm], -1)
        R = Bm.shape[-1]
        kw["Bm"], kw["Cm"] = both[..., offset : offset + R], both[..., offset + R :]
        assert not kw["Bm"].is_contiguous()
        return run(**kw)

    return wrapped


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("combo", [(False,) * 5, (True,) * 5], ids=["-", "all"])
@pytest.mark.parametrize(
    "B,N,D,R,offset",
    [(2, 70, 64, 8, 0), (2, 41, 36, 4, 0), (1, 45, 12, 16, 0), (2, 50, 40, 8, 1)],
)
def test_emulated_vectorised_rows_and_strided_factors(emu_run, dtype, combo, B, N, D, R, offset):
    """16-byte row pieces (D, R multiples of 4; partial channel tiles) and Bm / Cm as strided
    views (aligned: 16-byte path; offset 1: element path), outputs and gradients."""
    case, kwn = make_case(B, N, D, R, combo, seed=B * N + D)
    check(as_views(emu_run, offset), case, kwn, dtype, "cpu", prep=emu.guarded)
    plan = sc.plan_forward(D, R, combo[1], dtype.itemsize, 227 * 1024)
    u = torch.zeros(B, N, D, dtype=dtype)
    both = torch.zeros(B, N, offset + 2 * R, dtype=dtype)
    Bm, Cm = both[..., offset : offset + R], both[..., offset + R :]
    flags = sc.vec_flags(D, R, plan.dt, dtype.itemsize, u, None, Bm, Cm, u)
    assert flags & sc.VEC_U and flags & sc.VEC_Y
    assert bool(flags & sc.VEC_BC) == (offset == 0)


def test_strided_factors_are_not_copied():
    case, kwn = make_case(2, 9, 8, 4, (True, True, True, True, True))
    both = torch.cat([case["Bm"], case["Cm"]], -1)
    Bm, Cm = both.chunk(2, -1)
    out = sc._prepare(**dict(case, Bm=Bm, Cm=Cm), kwn=kwn, want_cuda=False)
    assert out[3].data_ptr() == Bm.data_ptr() and out[4].data_ptr() == Cm.data_ptr()
    col = case["Bm"].transpose(1, 2).contiguous().transpose(1, 2)  # rows not contiguous
    out = sc._prepare(**dict(case, Bm=col), kwn=kwn, want_cuda=False)
    assert out[3].is_contiguous()


def test_float32_sincos_polynomial_accuracy(emu_dll):
    """The float32 rotation (Cody-Waite + polynomials) in the host build of the kernel source: a
    long scan of slowly decaying oscillatory poles, angles up to ~300 rad per step, against
    float64 on the same (float32-rounded) inputs."""
    B, N, D, R = 1, 600, 4, 8
    g = torch.Generator().manual_seed(11)
    case = dict(
        u=torch.randn(B, N, D, generator=g),
        dtau=torch.rand(B, N, generator=g) * 3,
        w=torch.ones(B, N),
        Bm=torch.ones(B, N, R),
        Cm=torch.ones(B, N, R) / R,
        lam=torch.full((D, R), 0.05),
        omega=-torch.logspace(-2, 2, D * R).reshape(D, R),
    )
    launcher = emu.EmuLauncher(emu_dll)
    with torch.no_grad():
        kw = {k: case.get(k) for k in NAMES}
        y, st = sc._scan(launcher, **kw, kwn=False, eps=1e-6, want_cuda=False)
        yr, sr = scan_reference(**{k: v.double() for k, v in case.items()})
    assert rel_err(y, yr) <= 1e-4 and rel_err(st, sr) <= 1e-4, (rel_err(y, yr), rel_err(st, sr))


@pytest.mark.parametrize(
    "combo", [(True, True, True, True, True), (False, False, True, False, True)]
)
def test_emulated_autograd_gradcheck(emu_dll, combo):
    launcher = emu.EmuLauncher(emu_dll)
    case, kwn = make_case(2, 35, 3, 5, combo, seed=6)
    present = [k for k in NAMES if case[k] is not None]

    def fn(*ts):
        kw = dict(zip(present, ts, strict=True))
        return sc._scan(
            launcher, **{k: kw.get(k) for k in NAMES}, kwn=kwn, eps=1e-6, want_cuda=False
        )

    inputs = tuple(case[k].clone().requires_grad_(True) for k in present)
    assert torch.autograd.gradcheck(fn, inputs, fast_mode=True)


def test_emulated_degenerate_sizes(emu_run):
    for B, N, D, R in [(2, 0, 3, 4), (0, 5, 3, 4), (2, 5, 3, 0)]:
        case, kwn = make_case(B, N, D, R, (True, False, True, True, True))
        y, st = emu_run(**case, kwn=kwn, eps=1e-6)
        yr, sr = scan_reference(**case, kwn=kwn)
        assert y.shape == yr.shape and st.shape == sr.shape
        torch.testing.assert_close(y, yr)
        torch.testing.assert_close(st, sr)
    assert emu_run.launcher.launches == []


def test_input_validation_errors():
    case, kwn = make_case(2, 5, 3, 4, (True, True, False, True, False))
    bad = dict(case, Bm=case["Bm"].float())
    with pytest.raises(TypeError, match=r"Bm\.dtype"):
        sc._prepare(**bad, kwn=kwn, want_cuda=False)
    with pytest.raises(TypeError, match="float32 and float64"):
        sc._prepare(
            **{k: (v.half() if v is not None else v) for k, v in case.items()},
            kwn=kwn,
            want_cuda=False,
        )
    with pytest.raises(ValueError, match="CUDA"):
        sc._prepare(**case, kwn=kwn, want_cuda=True)
    with pytest.raises(ValueError, match="shape"):
        sc._prepare(**dict(case, w=case["w"][:, :-1]), kwn=kwn, want_cuda=False)
    with pytest.raises(ValueError, match="R <= 128"):
        sc.plan_forward(8, 129, False, 4, 227 * 1024)


def test_plans_respect_limits():
    for D, R, sel, kwn, S, item in itertools.product(
        [1, 7, 32, 128, 300], [1, 5, 16, 64, 128], [False, True], [False, True], [1, 3], [4, 8]
    ):
        f = sc.plan_forward(D, R, sel, item, 227 * 1024)
        assert f.nt <= sc.MAX_THREADS and f.smem <= 227 * 1024
        for chunked in (False, True):
            b = sc.plan_backward(D, R, S, sel, kwn, item, 227 * 1024, chunked=chunked)
            assert b.nt <= sc.MAX_THREADS and b.smem <= sc.BWD_SMEM_TARGET and sc.CK % b.ts == 0
    target = sc.plan_forward(128, 16, False, 4, 227 * 1024)  # the H100 roofline shape
    assert (target.dt, target.g, target.nt) == (32, 4, 128)


# ---------------------------------------------------------------------------------------------
# The real kernels on a CUDA device (gpu-marked)
# ---------------------------------------------------------------------------------------------


DEV = "cuda"  # the device of TestCuda (a CPU dry run of the test logic can point it elsewhere)


def _cuda_available() -> bool:
    return sc.cupy is not None and torch.cuda.is_available()


@pytest.fixture
def cuda_run():
    if not _cuda_available():
        pytest.skip("needs cupy and a CUDA device")
    return sc.scan_cuda


class TestCuda:
    pytestmark = pytest.mark.gpu

    @pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
    def test_every_option_combination(self, cuda_run, combo, dtype):
        case, kwn = make_case(3, 70, 5, 6, combo, seed=sum(combo))
        check(cuda_run, case, kwn, dtype, DEV)

    @pytest.mark.parametrize(
        "B,N,D,R",
        [
            (1, 1, 1, 1),
            (2, 31, 3, 4),
            (1, 32, 2, 5),
            (2, 33, 7, 3),
            (3, 63, 33, 17),
            (2, 65, 40, 9),
            (2, 130, 130, 16),
            (1, 40, 9, 128),
        ],
    )
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
    def test_odd_sizes(self, cuda_run, B, N, D, R, dtype):
        case, kwn = make_case(B, N, D, R, (True, True, True, True, True), seed=N)
        check(cuda_run, case, kwn, dtype, DEV)
        case, kwn = make_case(B, N, D, R, (False,) * 5, seed=N + 1)
        check(cuda_run, case, kwn, dtype, DEV)

    @pytest.mark.parametrize("gaps", ["zero", "huge", "pad"])
    @pytest.mark.parametrize("combo", [(False,) * 5, (True,) * 5], ids=["-", "all"])
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
    def test_gaps_and_padding(self, cuda_run, gaps, combo, dtype):
        case, kwn = make_case(3, 100, 6, 5, combo, gaps=gaps)
        _, st = check(cuda_run, case, kwn, dtype, DEV)
        check_gap_semantics(case, kwn, gaps, st, dtype)

    def test_noncontiguous_inputs(self, cuda_run):
        case, kwn = make_case(2, 77, 6, 5, (True, True, True, True, True), seed=5)

        def noncontig(t):
            t = t.to(DEV)
            if t.dim() >= 2:
                return t.transpose(0, -1).contiguous().transpose(0, -1)
            return torch.stack([t, t], -1)[:, 0]

        for dtype in (torch.float64, torch.float32):
            check(cuda_run, case, kwn, dtype, DEV, prep=noncontig)

    def test_outputs_fully_overwritten(self, cuda_run, monkeypatch):
        """NaN-filled outputs / scratch (and a NaN-filled allocator cache) must be overwritten."""
        junk = torch.full((64 << 20,), float("nan"), device=DEV)
        del junk  # its blocks go back to the caching allocator, NaN-filled
        monkeypatch.setattr(sc, "_POISON_OUTPUTS", True)
        for combo in [(False,) * 5, (True,) * 5, (True, False, True, False, True)]:
            case, kwn = make_case(2, 67, 37, 7, combo, seed=7)
            check(cuda_run, case, kwn, torch.float32, DEV)

    @pytest.mark.parametrize("combo", [(True,) * 5, (False, True, True, True, False)])
    def test_gradcheck(self, cuda_run, combo):
        case, kwn = make_case(2, 35, 3, 5, combo, seed=6)
        present = [k for k in NAMES if case[k] is not None]

        def fn(*ts):
            kw = dict(zip(present, ts, strict=True))
            return cuda_run(**{k: kw.get(k) for k in NAMES}, kwn=kwn, eps=1e-6)

        inputs = tuple(case[k].to(DEV).requires_grad_(True) for k in present)
        assert torch.autograd.gradcheck(fn, inputs)

    def test_side_stream_and_errors(self, cuda_run):
        case, kwn = make_case(2, 50, 8, 6, (True, True, True, True, True), seed=8)
        cu = {k: (v.to(DEV) if v is not None else None) for k, v in case.items()}
        y0, s0 = cuda_run(**cu, kwn=kwn)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            y1, s1 = cuda_run(**cu, kwn=kwn)
        torch.cuda.current_stream().wait_stream(stream)
        torch.testing.assert_close(y1, y0, rtol=0, atol=0)
        torch.testing.assert_close(s1, s0, rtol=0, atol=0)
        with pytest.raises(ValueError, match="CUDA"):
            cuda_run(**case, kwn=kwn)
        with pytest.raises(TypeError, match="dtype"):
            cuda_run(**dict(cu, u=cu["u"].float()), kwn=kwn)

    @pytest.mark.parametrize("offset", [0, 1])
    @pytest.mark.parametrize("combo", [(False,) * 5, (True,) * 5], ids=["-", "all"])
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
    def test_vectorised_rows_and_strided_factors(self, cuda_run, dtype, combo, offset):
        case, kwn = make_case(3, 150, 68, 8, combo, seed=offset + 2 * sum(combo))
        check(as_views(cuda_run, offset), case, kwn, dtype, DEV)

    @pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
    def test_float32_accuracy_against_float64(self, cuda_run, combo):
        """float32 on the hardware (ex2.approx, fast reciprocal, polynomial sin / cos) against
        the float64 kernel on a long, wide case: outputs, state and every gradient."""
        case, kwn = make_case(4, 1500, 64, 16, combo, seed=100 + sum(combo))
        present = [k for k in NAMES if case[k] is not None]
        g = torch.Generator().manual_seed(3)
        S = 1 + int(combo[0]) + int(kwn)
        gy = torch.randn(4, 1500, 64, generator=g, dtype=torch.float64).to(DEV)
        gs = torch.randn(4, S, 64, 16, generator=g, dtype=torch.float64).to(DEV)
        outs = {}
        for dtype in (torch.float64, torch.float32):
            ins = {k: case[k].to(DEV, dtype).requires_grad_(True) for k in present}
            y, st = cuda_run(**{k: ins.get(k) for k in NAMES}, kwn=kwn)
            loss = (y * gy.to(dtype)).sum() + (st * gs.to(dtype)).sum()
            grads = torch.autograd.grad(loss, [ins[k] for k in present])
            outs[dtype] = (y, st, *grads)
        names = ("y", "state", *present)
        errs = {
            n: rel_err(a, b)
            for n, a, b in zip(names, outs[torch.float32], outs[torch.float64], strict=True)
        }
        assert errs["y"] <= 1e-4 and errs["state"] <= 1e-4, errs
        assert max(errs.values()) <= 1e-3, errs

    @pytest.mark.parametrize("target", [2, 10**9], ids=["segments", "one-chunk-segments"])
    @pytest.mark.parametrize("combo", [(False,) * 5, (True,) * 5], ids=["-", "all"])
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
    def test_kernel_modes(self, cuda_run, monkeypatch, dtype, combo, target):
        """The chunked kernels (several chunks per segment, and one) and the serial ones against
        the reference, on a series of 11 chunks: (forward, backward) = the default (serial,
        chunked), (serial, serial), (chunked, chunked)."""
        monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", target)
        monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", target)
        case, kwn = make_case(2, 350, 40, 9, combo, seed=13 + sum(combo))
        for fwd, bwd in MODES:
            monkeypatch.setenv("ITNET_SCAN_FWD", fwd)
            monkeypatch.setenv("ITNET_SCAN_BWD", bwd)
            check(cuda_run, case, kwn, dtype, DEV)

    def test_target_shape_runs(self, cuda_run):
        """The roofline shape (B=64, N=2048, D=128, R=16, float32): finite, matches float64."""
        g = torch.Generator(device=DEV).manual_seed(0)
        B, N, D, R = 64, 2048, 128, 16
        kw = dict(
            u=torch.randn(B, N, D, device=DEV, generator=g),
            dtau=torch.rand(B, N, device=DEV, generator=g),
            w=torch.rand(B, N, device=DEV, generator=g),
            Bm=torch.randn(B, N, R, device=DEV, generator=g),
            Cm=torch.randn(B, N, R, device=DEV, generator=g) / 4,
            lam=torch.rand(D, R, device=DEV, generator=g) + 0.1,
        )
        y, st = cuda_run(**kw)
        y64, st64 = cuda_run(**{k: v.double() for k, v in kw.items()})
        assert rel_err(y, y64) <= 1e-4 and rel_err(st, st64) <= 1e-4

"""The numba CPU scan against the float64 PyTorch reference (the spec): outputs, final state and
the gradient of every input, for every option combination, odd sizes and awkward inputs."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("numba")

import itnet_ts.ops.scan_numba as scan_numba_module
from itnet_ts.ops import resolve_backend
from itnet_ts.ops.dispatch import get_backend, recurrent_scan
from itnet_ts.ops.scan_numba import CHUNK, scan_numba
from itnet_ts.ops.scan_reference import scan_reference

OPTION_NAMES = ("omega", "sel", "s0", "skip", "kwn")
OPTIONS = list(itertools.product([False, True], repeat=5))  # in the order of OPTION_NAMES
OPTION_IDS = ["-".join(n for n, on in zip(OPTION_NAMES, o, strict=True) if on) or "plain"
              for o in OPTIONS]  # fmt: skip
TOL = {torch.float32: 5e-5, torch.float64: 1e-10}


def make_inputs(B, N, D, R, *, omega=False, sel=False, s0=False, skip=False, kwn=False,
                dtype=torch.float64, seed=0):  # fmt: skip
    """Random scan inputs (well conditioned: w >= 0.5 and z > 0 so that KWN divides safely)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    def rand(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=torch.float64)

    S = 1 + int(omega) + int(kwn)
    x = {
        "u": randn(B, N, D),
        "dtau": rand(B, N, hi=1.5),
        "w": rand(B, N, lo=0.5, hi=1.5),
        "Bm": randn(B, N, R),
        "Cm": randn(B, N, R),
        "lam": rand(D, R, lo=0.1, hi=2.0),
    }
    if omega:
        x["omega"] = 2 * randn(D, R)
    if sel:
        x["sel"] = rand(B, N, D, lo=0.3, hi=2.0)
    if s0:
        x["s0"] = randn(B, S, D, R)
        if kwn:
            x["s0"][:, -1] = rand(B, D, R, lo=0.5, hi=2.0)
    if skip:
        x["skip"] = randn(D)
    return {k: v.to(dtype) for k, v in x.items()}


def run(fn, x, kwn, gy=None, gs=None, dtype=None):
    """Outputs, state and grads of every tensor input (inputs cast to ``dtype`` first)."""
    leaves = {k: v.detach().to(dtype or v.dtype).requires_grad_() for k, v in x.items()}
    y, state = fn(**leaves, kwn=kwn)
    if gy is None:
        return y.detach(), state.detach(), {}
    loss = (y * gy.to(y.dtype)).sum() + (state * gs.to(y.dtype)).sum()
    if loss.requires_grad:  # the reference leaves unused inputs (N = 0) out of the graph
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    else:
        grads = [None] * len(leaves)
    grads = [
        torch.zeros_like(v) if g is None else g for v, g in zip(leaves.values(), grads, strict=True)
    ]
    return y.detach(), state.detach(), dict(zip(leaves, grads, strict=True))


def assert_close(got, want, tol, what):
    got, want = got.double(), want.double()
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert torch.isfinite(got).all(), f"{what}: non-finite values"
    scale = want.abs().max().item() if want.numel() else 0.0
    err = (got - want).abs().max().item() if want.numel() else 0.0
    assert err <= tol * (1.0 + scale), f"{what}: max abs err {err:.3g} (scale {scale:.3g})"


def check_against_reference(x, kwn, dtype, seed=1, tol=None):
    """numba in ``dtype`` vs the reference in float64 (same upstream grads)."""
    tol = TOL[dtype] if tol is None else tol
    B, N, D = x["u"].shape
    R = x["lam"].shape[1]
    S = 1 + int("omega" in x) + int(kwn)
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(B, N, D, generator=g, dtype=torch.float64)
    gs = torch.randn(B, S, D, R, generator=g, dtype=torch.float64)
    yr, sr, gr = run(scan_reference, x, kwn, gy, gs, dtype=torch.float64)
    y, s, gn = run(scan_numba, x, kwn, gy, gs, dtype=dtype)
    assert y.dtype == dtype and s.dtype == dtype
    assert_close(y, yr, tol, "y")
    assert_close(s, sr, tol, "state")
    for k in gr:
        assert gn[k] is not None, f"no grad for {k}"
        assert gn[k].dtype == dtype, f"grad {k} has dtype {gn[k].dtype}"
        assert_close(gn[k], gr[k], tol, f"grad {k}")
    return y, s, gn


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
def test_matches_reference_every_option(opts, dtype):
    omega, sel, s0, skip, kwn = opts
    x = make_inputs(2, CHUNK + 5, 5, 3, omega=omega, sel=sel, s0=s0, skip=skip, kwn=kwn)
    check_against_reference(x, kwn, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N", sorted({0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 63, 2 * CHUNK + 1}))
@pytest.mark.parametrize("full", [False, True], ids=["plain", "all-options"])
def test_odd_sizes(N, full, dtype):
    # D = 70 spans several lane blocks (64 lanes in float32, 32 in float64) with a ragged tail
    x = make_inputs(3, N, 70, 3, omega=full, sel=full, s0=full, skip=full, kwn=full, seed=N)
    check_against_reference(x, full, dtype)


@pytest.mark.parametrize("D,R", [(1, 1), (5, 1), (2, 7)])
def test_tiny_channels_and_poles(D, R):
    x = make_inputs(1, 9, D, R, omega=True, skip=True)
    check_against_reference(x, False, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kwn", [False, True])
def test_right_padding_keeps_last_state(dtype, kwn):
    B, N, D, R = 3, CHUNK + 9, 6, 4
    x = make_inputs(B, N, D, R, omega=True, sel=True, skip=True, kwn=kwn)
    lengths = [N, N - 1, 7]
    for b, n in enumerate(lengths):  # right-pad series b after n observations
        x["w"][b, n:] = 0
        x["dtau"][b, n:] = 0
    _, state, _ = check_against_reference(x, kwn, dtype)
    for b, n in enumerate(lengths):
        xb = {k: (v[b : b + 1, :n] if v.dim() >= 2 and k not in ("lam", "omega") else v)
              for k, v in x.items()}  # fmt: skip
        _, sb = scan_reference(**xb, kwn=kwn)
        assert_close(state[b : b + 1], sb, TOL[dtype], f"state of series {b}")


def test_empty_batch_and_channels():
    for B, D in [(0, 3), (2, 0)]:
        x = make_inputs(B, 5, D, 2, omega=True, s0=True, skip=True, kwn=True)
        check_against_reference(x, True, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_zero_gaps(dtype):
    x = make_inputs(2, 40, 5, 3, omega=True, sel=True, kwn=True)
    x["dtau"][:, ::3] = 0  # simultaneous observations
    x["dtau"][1] = 0
    check_against_reference(x, True, dtype)


@pytest.mark.parametrize("omega", [False, True], ids=["plain", "omega"])
def test_zero_gap_shortcut_keeps_nonfinite_poles_like_reference(omega):
    """Steps with no elapsed time skip ``exp`` (decay exactly 1) only while every pole is
    finite: an infinite lam still gives the reference's 0 * inf = NaN on such steps."""
    x = make_inputs(2, 12, 5, 3, omega=omega)
    x["dtau"][:, 0] = 0
    x["dtau"][1, 6:] = 0  # right padding
    x["w"][1, 6:] = 0
    for lam_bad in (None, torch.inf):
        xi = {k: v.clone() for k, v in x.items()}
        if lam_bad is not None:
            xi["lam"][1, 2] = lam_bad
        y, st = scan_numba(**xi)
        yr, sr = scan_reference(**xi)
        torch.testing.assert_close(y, yr, equal_nan=True)
        torch.testing.assert_close(st, sr, equal_nan=True)
        assert torch.isnan(y).any() == (lam_bad is not None)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("opts", [(False, False, False), (True, True, True)], ids=["plain", "all"])
def test_huge_gaps_decay_to_exactly_zero(dtype, opts):
    omega, sel, kwn = opts
    x = make_inputs(2, 20, 5, 3, omega=omega, sel=sel, s0=True, skip=True, kwn=kwn)
    x["dtau"][:, 4] = 1e5  # lam * dtau far above 88 (and above 745 in float64)
    x["dtau"][0, 11] = 1e30
    x["dtau"][1, 0] = 500.0
    y, state, grads = check_against_reference(x, kwn, dtype)
    for name, t in [("y", y), ("state", state), *grads.items()]:
        assert torch.isfinite(t).all(), f"{name} is not finite"
    # after a huge gap the old state is forgotten exactly: same y as restarting from zero there
    xs = {k: (v[:, 4:] if v.dim() >= 2 and k not in ("lam", "omega", "s0") else v)
          for k, v in x.items() if k != "s0"}  # fmt: skip
    y_restart, _ = scan_numba(**{k: v.to(dtype) for k, v in xs.items()}, kwn=kwn)
    torch.testing.assert_close(y[:, 4:], y_restart, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_non_contiguous_inputs(dtype):
    B, N, D, R = 2, CHUNK + 3, 6, 3
    x = make_inputs(B, N, D, R, omega=True, sel=True, s0=True, skip=True, kwn=True)

    def strided(t, order):  # same values, memory laid out in dimension order ``order``
        inverse = sorted(range(t.dim()), key=order.__getitem__)
        return t.permute(*order).contiguous().permute(*inverse)

    views = {
        "u": strided(x["u"], (0, 2, 1)),  # (B, N, D) stored as (B, D, N)
        "dtau": strided(x["dtau"], (1, 0)),
        "w": torch.stack([x["w"], x["w"]], -1)[..., 0],  # stride 2
        "Bm": strided(x["Bm"], (2, 0, 1)),
        "Cm": strided(x["Cm"], (1, 0, 2)),
        "lam": strided(x["lam"], (1, 0)),
        "omega": strided(x["omega"], (1, 0)),
        "sel": strided(x["sel"], (2, 1, 0)),
        "s0": strided(x["s0"], (3, 2, 1, 0)),
        "skip": torch.stack([x["skip"], x["skip"]], -1)[:, 1],
    }
    for k, v in views.items():
        assert not v.is_contiguous(), k
        torch.testing.assert_close(v, x[k], rtol=0, atol=0)
    check_against_reference(views, True, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_outputs_fully_written_under_nan_poisoning(monkeypatch, dtype):
    """Every buffer the kernels fill is allocated with np.empty: poison it with NaN."""
    x = make_inputs(2, 2 * CHUNK + 3, 70, 3, omega=True, sel=True, s0=True, skip=True, kwn=True)
    check_against_reference(x, True, dtype)  # compiles before the patch

    class PoisonedNumpy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def empty(shape, dtype=float):
            return np.full(shape, np.nan, dtype)

    monkeypatch.setattr(scan_numba_module, "np", PoisonedNumpy())
    for opts in [(False, False, False, False, False), (True, True, True, True, True)]:
        omega, sel, s0, skip, kwn = opts
        x = make_inputs(2, 2 * CHUNK + 3, 70, 3, omega=omega, sel=sel, s0=s0, skip=skip, kwn=kwn)
        check_against_reference(x, kwn, dtype)  # asserts every output and grad is finite


@pytest.mark.parametrize(
    "opts",
    [(False, False, False, False, False), (True, True, True, True, True),
     (True, False, False, False, True), (False, True, True, True, False)],
    ids=["plain", "all", "omega-kwn", "sel-s0-skip"],
)  # fmt: skip
def test_gradcheck_float64(opts):
    omega, sel, s0, skip, kwn = opts
    x = make_inputs(2, 6, 3, 2, omega=omega, sel=sel, s0=s0, skip=skip, kwn=kwn, seed=3)
    leaves = [v.requires_grad_() for v in x.values()]

    def fn(*args):
        return scan_numba(**dict(zip(x, args, strict=True)), kwn=kwn)

    assert torch.autograd.gradcheck(fn, leaves)


@pytest.mark.parametrize("opts", OPTIONS[::3], ids=OPTION_IDS[::3])
def test_gradcheck_float64_across_chunks_fast(opts):
    omega, sel, s0, skip, kwn = opts
    x = make_inputs(2, CHUNK + 2, 3, 2, omega=omega, sel=sel, s0=s0, skip=skip, kwn=kwn, seed=4)
    leaves = [v.requires_grad_() for v in x.values()]

    def fn(*args):
        return scan_numba(**dict(zip(x, args, strict=True)), kwn=kwn)

    assert torch.autograd.gradcheck(fn, leaves, fast_mode=True)


def test_only_some_inputs_require_grad():
    x = make_inputs(2, 10, 4, 3, omega=True, skip=True)
    lam = x["lam"].clone().requires_grad_()
    y, state = scan_numba(**{**x, "lam": lam})
    (g,) = torch.autograd.grad(y.sum() + state.sum(), [lam])
    lam_r = x["lam"].clone().requires_grad_()
    yr, sr = scan_reference(**{**x, "lam": lam_r})
    (gr,) = torch.autograd.grad(yr.sum() + sr.sum(), [lam_r])
    assert_close(g, gr, 1e-10, "grad lam")
    with torch.no_grad():
        y2, _ = scan_numba(**x)
    assert not y2.requires_grad
    torch.testing.assert_close(y2, y.detach(), rtol=0, atol=0)


def test_mixed_dtypes_raise_type_error():
    x = make_inputs(1, 4, 2, 2)
    with pytest.raises(TypeError, match="one dtype"):
        scan_numba(**{**x, "lam": x["lam"].float()})
    with pytest.raises(TypeError, match="float32 and float64"):
        scan_numba(**{k: v.half() for k, v in x.items()})


def test_bad_shapes_raise_value_error():
    x = make_inputs(1, 4, 2, 2)
    with pytest.raises(ValueError, match="Bm"):
        scan_numba(**{**x, "Bm": x["Bm"][..., :1]})


def test_dispatcher_picks_numba_on_cpu(monkeypatch):
    monkeypatch.delenv("ITNET_BACKEND", raising=False)
    assert resolve_backend(torch.device("cpu")) == "numba"
    assert get_backend("numba") is scan_numba
    x = make_inputs(2, 7, 3, 2, skip=True)
    y, s = recurrent_scan(**x)
    yn, sn = scan_numba(**x)
    torch.testing.assert_close(y, yn, rtol=0, atol=0)
    torch.testing.assert_close(s, sn, rtol=0, atol=0)
    monkeypatch.setenv("ITNET_BACKEND", "reference")
    assert resolve_backend(torch.device("cpu")) == "reference"
    yr, _ = recurrent_scan(**x)
    assert_close(yr, yn, 1e-10, "y via ITNET_BACKEND=reference")


def test_same_result_for_any_thread_count():
    x = make_inputs(5, CHUNK + 7, 70, 3, omega=True, sel=True, s0=True, skip=True, kwn=True)
    x = {k: v.float() for k, v in x.items()}
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append(run(scan_numba, x, True, torch.ones(5, CHUNK + 7, 70),
                               torch.ones(5, 3, 70, 3)))  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    for y, s, g in results[1:]:
        torch.testing.assert_close(y, results[0][0], rtol=0, atol=0)
        torch.testing.assert_close(s, results[0][1], rtol=0, atol=0)
        for k in g:
            torch.testing.assert_close(g[k], results[0][2][k], rtol=0, atol=0)


def test_in_place_change_of_an_input_is_detected():
    x = {k: v.requires_grad_() for k, v in make_inputs(1, 5, 2, 2).items()}
    u = x["u"].clone()
    y, _ = scan_numba(**{**x, "u": u})
    u.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_import_itnet_ts_does_not_import_numba():
    code = "import sys, itnet_ts, itnet_ts.ops; assert 'numba' not in sys.modules, 'numba imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])

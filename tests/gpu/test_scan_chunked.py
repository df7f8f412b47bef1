"""The chunked (time-parallel) CUDA kernels in the CPU emulation, beyond the shared option matrix
of ``test_scan_cuda.py``: the chunked backward (the default) after the serial or the chunked
forward (``ITNET_SCAN_FWD=chunked``), with several chunks per segment, N not a multiple of the
chunk, N = 1, a long series, padded tails spanning whole chunks, huge gaps, one-sided upstream
gradients (only ``y`` or only the final state), agreement with the serial kernels, and the
segment plan.

Every run goes through ``scan_cuda._scan`` with the emulated launcher, NaN-guarded inputs and
NaN-filled outputs / scratch (``_emulate.GuardedAlloc``: every element of every output and
scratch buffer written, nothing written out of bounds).  Not gpu-marked: part of the default
suite (a few seconds).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from itnet_ts.gpu import scan_cuda as sc
from itnet_ts.ops.scan_reference import scan_reference

_HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_itnet_emulate_chunked", _HERE / "_emulate.py")
emu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(emu)
_spec = importlib.util.spec_from_file_location("_itnet_scan_cases", _HERE / "test_scan_cuda.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

ALL = (True, True, True, True, True)  # omega, sel, kwn, skip, s0
PLAIN = (False,) * 5


@pytest.fixture(scope="module")
def dll(tmp_path_factory):
    if emu.compiler() is None:
        pytest.skip("no host C++ compiler for the CPU emulation")
    return emu.build(emu.shared_workdir(tmp_path_factory))


@pytest.fixture
def run(dll, monkeypatch):
    alloc = emu.GuardedAlloc()
    monkeypatch.setattr(sc, "_new", alloc)
    launcher = emu.EmuLauncher(dll)

    def fn(**kw):
        return sc._scan(launcher, **kw, want_cuda=False)

    fn.launcher, fn.alloc = launcher, alloc
    yield fn
    alloc.check()


def _grids(launcher) -> tuple[int, int]:
    """grid.x of the last ``scan_bwd_chunk`` and ``scan_bwd_sum`` launches."""
    name, grid, *_ = launcher.launches[-1]
    assert name.startswith("scan_bwd_chunk<"), name
    _, sum_grid, *_ = next(x for x in launcher.launches if x[0].startswith("scan_bwd_sum"))
    return grid[0], sum_grid[0]


@pytest.fixture(params=sc.FWD_MODES)
def fwd(request, monkeypatch):
    """Both forward kernels (the chunked backward follows either)."""
    monkeypatch.setenv("ITNET_SCAN_FWD", request.param)
    return request.param


@pytest.mark.parametrize("target", [1, 3])
@pytest.mark.parametrize("combo", [PLAIN, ALL], ids=["plain", "all"])
@pytest.mark.parametrize("N", [97, 160])
def test_segments_of_several_chunks(run, monkeypatch, fwd, N, combo, target):
    """target 1: one segment of every chunk; 3: a few segments of several chunks (the last one
    short).  (One chunk per segment, N = 1: the small cases of ``test_scan_cuda.py`` and
    ``test_odd_sizes_both_chunked``.)"""
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", target)
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", target)
    case, kwn = cases.make_case(2, N, 3, 5, combo, seed=N + sum(combo))
    cases.check(run, case, kwn, torch.float64, "cpu", prep=emu.guarded)
    nc = math.ceil(N / sc.CK)
    _, nseg = sc.chunk_segments(nc, 1, 2, target)
    grid_chunk, grid_sum = _grids(run.launcher)
    assert grid_chunk == nseg and grid_sum == nc
    if fwd == "chunked":
        grids = {n.split("<")[0]: g for n, g, *_ in run.launcher.launches}
        assert grids["scan_fwd_chunk"][0] == nseg and grids["scan_fwd_sum"][0] == nc
    if target == 1:
        assert nseg == 1


@pytest.mark.parametrize("combo", [PLAIN, ALL], ids=["plain", "all"])
def test_float32_several_segments(run, monkeypatch, fwd, combo):
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 4)
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", 4)
    case, kwn = cases.make_case(2, 150, 6, 7, combo, seed=21)
    cases.check(run, case, kwn, torch.float32, "cpu", prep=emu.guarded)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_long_series(run, monkeypatch, dtype):
    """N = 1250 (40 chunks, the last one partial), every option, a few segments, both kernels
    chunked, slow decay: states and adjoints carry across many chunks."""
    monkeypatch.setenv("ITNET_SCAN_FWD", "chunked")
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 8)
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", 5)
    case, kwn = cases.make_case(1, 1250, 2, 3, ALL, seed=5)
    case["dtau"] *= 0.2
    case["lam"] *= 0.2
    cases.check(run, case, kwn, dtype, "cpu", prep=emu.guarded)


def test_very_long_series_matches_serial_kernels(dll, monkeypatch):
    """N = 20000 (625 chunks): the chunked kernels against the serial ones (the reference's
    Python loop would be slow), float64, outputs and every gradient."""
    case, kwn = cases.make_case(1, 20000, 2, 3, ALL, seed=15)
    case["dtau"] *= 0.05  # slow decay: a step still feels steps hundreds of chunks away
    case["lam"] *= 0.05
    present = [k for k in cases.NAMES if case[k] is not None]
    g = torch.Generator().manual_seed(16)
    gy = torch.randn(1, 20000, 2, generator=g, dtype=torch.float64)
    launcher = emu.EmuLauncher(dll)
    outs = {}
    for mode in ("serial", "chunked"):
        monkeypatch.setenv("ITNET_SCAN_FWD", mode)
        monkeypatch.setenv("ITNET_SCAN_BWD", mode)
        ins = {k: case[k].clone().requires_grad_(True) for k in present}
        y, st = sc._scan(
            launcher, **{k: ins.get(k) for k in cases.NAMES}, kwn=kwn, eps=1e-6, want_cuda=False
        )
        grads = torch.autograd.grad((y * gy).sum() + st.sum(), [ins[k] for k in present])
        outs[mode] = (y, st, *grads)
    assert sum(n.startswith("scan_bwd_chunk<") for n, *_ in launcher.launches) == 1
    for name, a, b in zip(("y", "state", *present), outs["chunked"], outs["serial"], strict=True):
        assert cases.rel_err(a, b) <= 1e-10, (name, cases.rel_err(a, b))


@pytest.mark.parametrize("combo", [PLAIN, ALL], ids=["plain", "all"])
def test_padded_tail_spans_whole_chunks(run, monkeypatch, fwd, combo):
    """Series 1 has its last 75 of 110 steps padded (w = 0, dtau = 0): whole padded chunks and
    sub-tiles; its final state is the state after its last observation."""
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 2)
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", 2)
    case, kwn = cases.make_case(2, 110, 4, 6, combo, seed=8)
    case["w"][1, 35:] = 0.0
    case["dtau"][1, 35:] = 0.0
    _, st = cases.check(run, case, kwn, torch.float64, "cpu", prep=emu.guarded)
    sub = {
        k: (v[1:2, :35] if k in cases.TIME_AXIS else v[1:2] if k == "s0" else v)
        for k, v in case.items()
        if v is not None
    }
    _, st_ref = scan_reference(**sub, kwn=kwn)
    assert cases.rel_err(st[1:2], st_ref) <= 1e-10


@pytest.mark.parametrize("gaps", ["zero", "huge"])
def test_gaps(run, monkeypatch, fwd, gaps):
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 3)
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", 3)
    case, kwn = cases.make_case(2, 100, 3, 5, ALL, gaps=gaps, seed=9)
    cases.check(run, case, kwn, torch.float64, "cpu", prep=emu.guarded)


@pytest.mark.parametrize("which", ["y", "state"])
@pytest.mark.parametrize("combo", [PLAIN, ALL], ids=["plain", "all"])
def test_one_sided_upstream_gradient(run, monkeypatch, which, combo):
    """Only y (gstate is None: the carry starts from zero) or only the final state (gy is None)
    reaches the loss."""
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 2)
    case, kwn = cases.make_case(2, 70, 3, 5, combo, seed=10)
    present = [k for k in cases.NAMES if case[k] is not None]
    ref = {k: case[k].clone().requires_grad_(True) for k in present}
    emu_in = {k: emu.guarded(case[k]).detach().requires_grad_(True) for k in present}
    outs = []
    for ins, fn in ((ref, scan_reference), (emu_in, run)):
        y, st = fn(**{k: ins.get(k) for k in cases.NAMES}, kwn=kwn, eps=1e-6)
        loss = (y * y.detach()).sum() if which == "y" else (st * st.detach()).sum()
        got = torch.autograd.grad(loss, [ins[k] for k in present], allow_unused=True)
        zeros = [torch.zeros_like(ins[k]) for k in present]
        outs.append([z if g is None else g for z, g in zip(zeros, got, strict=True)])
    for k, gr, ga in zip(present, *outs, strict=True):
        if not gr.any():  # C and skip do not reach the final state
            assert not ga.any(), k
            continue
        assert cases.rel_err(ga, gr) <= 1e-9, (k, cases.rel_err(ga, gr))


@pytest.mark.parametrize("combo", [PLAIN, ALL], ids=["plain", "all"])
def test_chunked_matches_serial_kernel(dll, monkeypatch, combo):
    """Both backward kernels on the same inputs: float64 gradients equal to ~1e-12."""
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 3)
    case, kwn = cases.make_case(2, 130, 5, 6, combo, seed=12)
    present = [k for k in cases.NAMES if case[k] is not None]
    launcher = emu.EmuLauncher(dll)
    grads = {}
    for mode in sc.BWD_MODES:
        monkeypatch.setenv("ITNET_SCAN_BWD", mode)
        ins = {k: case[k].clone().requires_grad_(True) for k in present}
        y, st = sc._scan(
            launcher, **{k: ins.get(k) for k in cases.NAMES}, kwn=kwn, eps=1e-6, want_cuda=False
        )
        loss = (y * y.detach().sin()).sum() + (st * st.detach().cos()).sum()
        grads[mode] = torch.autograd.grad(loss, [ins[k] for k in present])
    for k, a, b in zip(present, grads["chunked"], grads["serial"], strict=True):
        assert cases.rel_err(a, b) <= 1e-12, (k, cases.rel_err(a, b))


@pytest.mark.parametrize("combo", [PLAIN, ALL, (True, True, False, True, True)])
def test_chunked_forward_matches_serial_kernel(dll, monkeypatch, combo):
    """Both forward kernels without a gradient (the chunked one keeps its chunk-start states in
    scratch): y and the final state equal to ~1e-12 in float64."""
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", 3)
    alloc = emu.GuardedAlloc()
    monkeypatch.setattr(sc, "_new", alloc)
    case, kwn = cases.make_case(2, 150, 6, 5, combo, seed=14)
    launcher = emu.EmuLauncher(dll)
    outs = {}
    with torch.no_grad():
        for mode in sc.FWD_MODES:
            monkeypatch.setenv("ITNET_SCAN_FWD", mode)
            kw = {k: (None if v is None else emu.guarded(v)) for k, v in case.items()}
            outs[mode] = sc._scan(launcher, **kw, kwn=kwn, eps=1e-6, want_cuda=False)
    alloc.check()
    for a, b in zip(outs["chunked"], outs["serial"], strict=True):
        assert cases.rel_err(a, b) <= 1e-12
    assert [n.split("<")[0] for n, *_ in launcher.launches] == [
        "scan_fwd",
        "scan_fwd_sum",
        "scan_fwd_carry",
        "scan_fwd_chunk",
    ]
    # the chunk-start states the chunked forward saves for the backward are the checkpoints
    args = [case[k] for k in ("u", "dtau", "w", "Bm", "Cm", "lam", "omega", "sel", "s0", "skip")]
    ckpts = [
        sc._forward(launcher, *args, kwn, 1e-6, save_ckpt=True, mode=mode)[2]
        for mode in sc.FWD_MODES
    ]
    assert ckpts[0].shape == ckpts[1].shape and cases.rel_err(ckpts[1], ckpts[0]) <= 1e-12


def test_chunk_segments_plan():
    assert sc.chunk_segments(64, 4, 64, 2048) == (8, 8)  # the H200 roofline shape
    assert sc.chunk_segments(64, 4, 64, 10**9) == (1, 64)
    assert sc.chunk_segments(64, 4, 64, 1) == (64, 1)
    for nc in (1, 2, 5, 33, 64, 1000):
        for ndt, B, target in ((1, 1, 1), (4, 64, 2048), (2, 3, 7), (1, 1, 10**9)):
            segc, nseg = sc.chunk_segments(nc, ndt, B, target)
            assert 1 <= segc <= nc and nseg == math.ceil(nc / segc)
            assert (nseg - 1) * segc < nc <= nseg * segc


def test_backward_mode_from_environment(monkeypatch):
    monkeypatch.delenv("ITNET_SCAN_BWD", raising=False)
    assert sc.bwd_mode() == "chunked"
    monkeypatch.setenv("ITNET_SCAN_BWD", "Serial")
    assert sc.bwd_mode() == "serial"
    monkeypatch.setenv("ITNET_SCAN_BWD", "fast")
    with pytest.raises(ValueError, match="ITNET_SCAN_BWD"):
        sc.bwd_mode()
    monkeypatch.delenv("ITNET_SCAN_FWD", raising=False)
    assert sc.fwd_mode() == "serial"
    monkeypatch.setenv("ITNET_SCAN_FWD", "chunked")
    assert sc.fwd_mode() == "chunked"
    monkeypatch.setenv("ITNET_SCAN_FWD", "parallel")
    with pytest.raises(ValueError, match="ITNET_SCAN_FWD"):
        sc.fwd_mode()


def test_kernels_compile_in_groups(monkeypatch):
    """The CuPy launcher compiles the kernels of one mode together (``GROUPS``): every kernel
    name maps to its dtype, flags and group (checked without cupy, on a stand-in module)."""
    seen = []

    class FakeModule:
        def __init__(self, key):
            self.key = key

        def get_function(self, name):
            seen.append((name, self.key))
            return name

    monkeypatch.setattr(sc, "_module", lambda *key: FakeModule(key))
    assert sorted(k for group in sc.GROUPS for k in group) == sorted(sc.KINDS)
    launcher = sc._CupyLauncher()
    for name in sc.all_kernel_names():
        assert launcher._kernel(name) == name
    assert len(seen) == len(sc.all_kernel_names())
    for name, (ctype, flags, kinds) in seen:
        kind = name[len("scan_") : name.index("<")]
        assert kind in kinds and kinds in sc.GROUPS
        dtype = torch.float32 if ctype == "float" else torch.float64
        assert sc.kernel_name(kind, dtype, *flags) == name


@pytest.fixture
def both_chunked(monkeypatch):
    monkeypatch.setenv("ITNET_SCAN_FWD", "chunked")
    monkeypatch.setenv("ITNET_SCAN_BWD", "chunked")
    monkeypatch.setattr(sc, "FWD_TARGET_BLOCKS", 4)
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 4)


@pytest.mark.parametrize(
    "B,N,D,R", [(1, 1, 1, 1), (2, 33, 7, 3), (1, 63, 33, 17), (2, 65, 40, 9), (1, 40, 9, 128)]
)
def test_odd_sizes_both_chunked(run, both_chunked, B, N, D, R):
    """Partial channel tiles, pole groups with r >= R, R = 128 (256-thread blocks)."""
    case, kwn = cases.make_case(B, N, D, R, ALL, seed=N + 1)
    cases.check(run, case, kwn, torch.float64, "cpu", prep=emu.guarded)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("B,N,D,R,offset", [(2, 70, 64, 8, 0), (2, 50, 40, 8, 1)])
def test_vectorised_rows_and_strided_factors_both_chunked(
    run, both_chunked, dtype, B, N, D, R, offset
):
    """The chunked forward's 16-byte row pieces (aligned views) and element path (offset 1)."""
    case, kwn = cases.make_case(B, N, D, R, ALL, seed=B * N + D)
    cases.check(cases.as_views(run, offset), case, kwn, dtype, "cpu", prep=emu.guarded)


@pytest.mark.parametrize("budget", [9000, 16000, 30000])
def test_small_budgets_match_serial_kernel(dll, monkeypatch, budget):
    """Sub-tiles of 4 to 16 steps: the chunked backward recomputes each from the state at its
    start (stored once per chunk), the serial one from the checkpoint; float64 gradients agree."""
    monkeypatch.setattr(sc, "BWD_SMEM_TARGET", budget)
    monkeypatch.setattr(sc, "BWD_CHUNK_SMEM_TARGET", budget)
    monkeypatch.setattr(sc, "BWD_TARGET_BLOCKS", 3)
    case, kwn = cases.make_case(2, 100, 37, 6, ALL, seed=17)
    present = [k for k in cases.NAMES if case[k] is not None]
    launcher = emu.EmuLauncher(dll)
    grads = {}
    for mode in sc.BWD_MODES:
        monkeypatch.setenv("ITNET_SCAN_BWD", mode)
        ins = {k: case[k].clone().requires_grad_(True) for k in present}
        y, st = sc._scan(
            launcher, **{k: ins.get(k) for k in cases.NAMES}, kwn=kwn, eps=1e-6, want_cuda=False
        )
        grads[mode] = torch.autograd.grad((y * y.detach()).sum() + st.sum(), list(ins.values()))
        plan = sc.plan_backward(37, 6, 3, True, True, 8, budget, chunked=mode == "chunked")
        assert plan.ts < sc.CK and launcher.launches[-1][2:] == (plan.nt, plan.smem)
    for k, a, b in zip(present, grads["chunked"], grads["serial"], strict=True):
        assert cases.rel_err(a, b) <= 1e-12, (k, cases.rel_err(a, b))

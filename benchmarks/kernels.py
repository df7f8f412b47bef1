"""Benchmark every available recurrent-scan backend (forward and forward+backward).

Each backend is first checked against the float64 PyTorch reference (the spec) on a small slice;
a backend that fails is reported as FAILED and never timed. Then every backend, the reference
included, is timed at the reference shape and over a sweep of N and B::

    python benchmarks/kernels.py --device cpu            # B=16 N=512 D=64 R=16 float32
    python benchmarks/kernels.py --device cuda --json out.json   # B=64 N=2048 D=128 R=16

Times are medians over repeats after warm-up (CUDA events on the GPU). On CUDA the table also
gives the forward pass's fraction of the memory roofline: the bytes that must move (read u, Bm,
Cm, dtau, w once, write y once) over the forward time, divided by the device's copy bandwidth
(``dst.copy_(src)`` of a large tensor).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from itnet_ts.ops import available_backends
from itnet_ts.ops.dispatch import backend_device_type, get_backend
from itnet_ts.ops.scan_reference import scan_reference

REFERENCE_SHAPES = {"cpu": (16, 512, 64, 16), "cuda": (64, 2048, 128, 16)}  # B, N, D, R
SWEEP_N = (128, 256, 512, 1024, 2048, 4096)
SWEEP_B = {"cpu": (1, 4, 16, 64), "cuda": (1, 8, 64, 256)}
OPTION_NAMES = ("omega", "sel", "s0", "skip", "kwn")


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def make_inputs(B, N, D, R, options, dtype=torch.float32, device="cpu", seed=0) -> dict:
    """Scan inputs (dict of tensors plus ``kwn``) on ``device``; generated on CPU for seeding."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=torch.float64)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    kwn = "kwn" in options
    S = 1 + int("omega" in options) + int(kwn)
    x = {
        "u": randn(B, N, D),
        "dtau": rand(B, N, hi=1.5),
        "w": rand(B, N, lo=0.5, hi=1.5),
        "Bm": randn(B, N, R) / R**0.5,
        "Cm": randn(B, N, R) / R**0.5,
        "lam": rand(D, R, lo=0.05, hi=2.0),
    }
    if "omega" in options:
        x["omega"] = randn(D, R)
    if "sel" in options:
        x["sel"] = rand(B, N, D, lo=0.3, hi=2.0)
    if "s0" in options:
        x["s0"] = randn(B, S, D, R)
        if kwn:
            x["s0"][:, -1] = rand(B, D, R, lo=0.5, hi=2.0)
    if "skip" in options:
        x["skip"] = randn(D)
    out = {k: v.to(device=device, dtype=dtype) for k, v in x.items()}
    out["kwn"] = kwn
    return out


def _tensors(x: dict) -> dict:
    return {k: v for k, v in x.items() if isinstance(v, torch.Tensor)}


# --------------------------------------------------------------------------------------------
# correctness
# --------------------------------------------------------------------------------------------
def _outputs_and_grads(fn, x: dict, gy: torch.Tensor, gs: torch.Tensor):
    leaves = {k: v.detach().clone().requires_grad_() for k, v in _tensors(x).items()}
    y, state = fn(**leaves, kwn=x["kwn"])
    loss = (y * gy.to(y)).sum() + (state * gs.to(state)).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    out = {"y": y, "state": state}
    out.update({f"grad_{k}": g for k, g in zip(leaves, grads, strict=True)})
    return {k: (v.detach().double().cpu() if v is not None else None) for k, v in out.items()}


def check_backend(fn: Callable, device: str, D: int, R: int, quick: bool) -> str | None:
    """Compare ``fn`` (float32 on ``device``) with the float64 reference on small slices.

    Returns None if it matches, else a description of the first mismatch.
    """
    configs = [((), 2, 96), (OPTION_NAMES, 2, 70)]
    if not quick:
        configs.append((("omega", "kwn"), 3, 200))
    for options, B, N in configs:
        x64 = make_inputs(B, N, D, R, options, dtype=torch.float64)
        x32 = make_inputs(B, N, D, R, options, dtype=torch.float32, device=device)
        g = torch.Generator().manual_seed(1)
        S = 1 + int("omega" in options) + int("kwn" in options)
        gy = torch.randn(B, N, D, generator=g, dtype=torch.float64)
        gs = torch.randn(B, S, D, R, generator=g, dtype=torch.float64)
        want = _outputs_and_grads(scan_reference, x64, gy, gs)
        try:
            got = _outputs_and_grads(fn, x32, gy.to(device), gs.to(device))
        except Exception as exc:  # a crashing backend fails the check
            return f"options={list(options)}: raised {type(exc).__name__}: {exc}"
        for k, ref in want.items():
            val = got.get(k)
            if ref is None:
                continue
            if val is None:
                return f"options={list(options)}: no {k}"
            if not torch.isfinite(val).all():
                return f"options={list(options)}: non-finite {k}"
            err = (val - ref).abs().max().item()
            scale = ref.abs().max().item()
            if err > 2e-3 * (1.0 + scale):
                return f"options={list(options)}: {k} max err {err:.3g} (scale {scale:.3g})"
    return None


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
def _time_ms(
    fn: Callable[[], object], device: str, warmup: int, repeats: int, budget_s: float = 30.0
) -> float:
    """Median time of ``fn()`` in ms (CUDA events on the GPU) after ``warmup`` calls.

    Slow functions (the reference at large shapes) get fewer repeats: about ``budget_s`` in all.
    """

    def timed() -> float:
        if device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    if device == "cuda":
        torch.cuda.synchronize()
    first = timed()  # the first warm-up call, timed to size the rest
    for _ in range(warmup - 1):
        fn()
    n = max(1, min(repeats, int(budget_s * 1e3 / max(first, 1e-3))))
    times = [timed() for _ in range(n)]
    _time_ms.last_min = min(times)  # the fastest repeat, for the JSON (robust to a busy machine)
    return statistics.median(times)


def time_backend(fn, x: dict, device: str, warmup: int, repeats: int) -> tuple[float, ...]:
    """Median forward ms, median forward+backward ms, and the two minima.

    The backward is that of ``sum(y) + sum(state)`` w.r.t. every input."""
    kwn = x["kwn"]
    inputs = _tensors(x)
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}

    def forward():
        with torch.no_grad():
            return fn(**inputs, kwn=kwn)

    with torch.no_grad():
        y, state = fn(**inputs, kwn=kwn)
        grads = [torch.ones_like(y), torch.ones_like(state)]  # made once, outside the timing

    def forward_backward():
        y, state = fn(**leaves, kwn=kwn)
        torch.autograd.backward([y, state], grads)
        for v in leaves.values():
            v.grad = None

    fwd = _time_ms(forward, device, warmup, repeats)
    fwd_min = _time_ms.last_min
    fb = _time_ms(forward_backward, device, warmup, repeats)
    return fwd, fb, fwd_min, _time_ms.last_min


def copy_bandwidth_gbs(device: str, nbytes: int = 1 << 30) -> float:
    """Device copy bandwidth (GB/s): ``dst.copy_(src)`` moves 2 * nbytes."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    ms = _time_ms(lambda: dst.copy_(src), device, warmup=3, repeats=20)
    return 2 * nbytes / (ms * 1e-3) / 1e9


def scan_bytes(B, N, D, R, itemsize=4) -> int:
    """Bytes a forward scan must move: read u, Bm, Cm, dtau, w once and write y once."""
    return itemsize * (2 * B * N * D + 2 * B * N * R + 2 * B * N)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def environment(device: str) -> dict:
    env = {
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    if hasattr(os, "getloadavg"):
        env["loadavg_start"] = [round(v, 2) for v in os.getloadavg()]
    try:
        import numba

        env["numba"] = numba.__version__
        env["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    except ImportError:
        env["numba"] = None
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true", help="small sweep, fewer repeats")
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    p.add_argument(
        "--options",
        default="",
        help=f"comma-separated scan options to time, any of {','.join(OPTION_NAMES)}",
    )
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument(
        "--no-sweep", action="store_true", help="time the reference shape only (no N/B sweep)"
    )
    p.add_argument(
        "--ref-threads",
        default="best",
        help="torch threads for the reference: an int, or 'best' = faster of 1 and the default",
    )
    args = p.parse_args(argv)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available here", file=sys.stderr)
        return 2
    options = tuple(o for o in args.options.split(",") if o)
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        p.error(f"unknown options {sorted(unknown)}")
    repeats = args.repeats or (5 if args.quick else 11)
    warmup = 2

    env = environment(device)
    print("# environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    B0, N0, D, R = REFERENCE_SHAPES[device]

    # 1. which backends run here, and are they right?
    backends: dict[str, Callable] = {}
    status: dict[str, str] = {}
    for name, state in available_backends().items():
        kind = backend_device_type(name)
        if name == "reference" or kind not in ("any", device):
            continue
        if state != "available":
            status[name] = state
            continue
        fn = get_backend(name)
        problem = check_backend(fn, device, D, R, args.quick)
        status[name] = "ok" if problem is None else f"FAILED correctness: {problem}"
        if problem is None:
            backends[name] = fn
    for name, st in status.items():
        print(f"# backend {name}: {st}")

    # 2. timing
    shapes = [(B0, N0)]
    if not args.no_sweep:
        sweep_n = (128, 512, 2048) if args.quick else SWEEP_N
        sweep_b = SWEEP_B[device][::2] if args.quick else SWEEP_B[device]
        shapes += [(B0, n) for n in sweep_n if n != N0]
        shapes += [(b, N0) for b in sweep_b if b != B0]
    bandwidth = copy_bandwidth_gbs(device) if device == "cuda" else None
    if bandwidth is not None:
        print(f"# copy bandwidth: {bandwidth:.0f} GB/s")
        env["copy_bandwidth_gbs"] = round(bandwidth, 1)

    default_threads = torch.get_num_threads()
    if args.ref_threads == "best":
        ref_thread_choices = sorted({1, default_threads}) if device == "cpu" else [default_threads]
    else:
        ref_thread_choices = [int(args.ref_threads)]

    rows = []
    for B, N in shapes:
        x = make_inputs(B, N, D, R, options, device=device)
        shape = f"B={B} N={N} D={D} R={R}"
        results = []  # (backend, (fwd, fwd+bwd, fwd min, fwd+bwd min) ms or Nones, note)
        best = None
        for threads in ref_thread_choices:
            torch.set_num_threads(threads)
            got = _try_time(scan_reference, x, device, 1, max(3, repeats // 3))
            if isinstance(got, str):
                best = best or ((None,) * 4, got)
            elif best is None or best[0][1] is None or got[1] < best[0][1]:
                best = (got, f"torch threads={threads}")
        torch.set_num_threads(default_threads)
        results.append(("reference", *best))
        for name, fn in backends.items():
            got = _try_time(fn, x, device, warmup, repeats)
            results.append((name, (None,) * 4, got) if isinstance(got, str) else (name, got, ""))
        ref_fwd, ref_fb = results[0][1][:2]
        for name, (fwd, fb, fwd_min, fb_min), note in results:
            row = {
                "backend": name,
                "shape": shape,
                "B": B,
                "N": N,
                "D": D,
                "R": R,
                "dtype": "float32",
                "options": list(options),
                "fwd_ms": _round(fwd, 3),
                "fwd_bwd_ms": _round(fb, 3),
                "fwd_ms_min": _round(fwd_min, 3),
                "fwd_bwd_ms_min": _round(fb_min, 3),
                "speedup_fwd": _round(ref_fwd / fwd if ref_fwd and fwd else None, 2),
                "speedup_fwd_bwd": _round(ref_fb / fb if ref_fb and fb else None, 2),
                "note": note,
            }
            if bandwidth is not None:
                gbs = scan_bytes(B, N, D, R) / (fwd * 1e-3) / 1e9 if fwd else None
                row["fwd_roofline_fraction"] = _round(gbs / bandwidth if gbs else None, 3)
            rows.append(row)
            _print_row(row, bandwidth is not None, header=len(rows) == 1)
        del x
        if device == "cuda":
            torch.cuda.empty_cache()

    if hasattr(os, "getloadavg"):
        env["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print("# loadavg at end: " + str(env.get("loadavg_end")))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"environment": env, "backends": status, "rows": rows}, indent=2)
        )
        print(f"# wrote {args.json}")
    return 0


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _try_time(fn, x, device, warmup, repeats) -> tuple[float, ...] | str:
    """``time_backend``, or the error as a string (e.g. the reference out of memory)."""
    try:
        return time_backend(fn, x, device, warmup, repeats)
    except (RuntimeError, MemoryError) as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if device == "cuda":
            torch.cuda.empty_cache()
        return f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def _print_row(row: dict, roofline: bool, header: bool) -> None:
    cols = ["backend", "shape", "fwd ms", "fwd+bwd ms", "speed-up fwd", "speed-up fwd+bwd"]
    if roofline:
        cols.append("fwd roofline")
    if header:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---" for _ in cols) + "|")

    def fmt(v, spec, suffix=""):
        return "n/a" if v is None else f"{v:{spec}}{suffix}"

    vals = [
        row["backend"],
        row["shape"],
        fmt(row["fwd_ms"], ".2f"),
        fmt(row["fwd_bwd_ms"], ".2f"),
        fmt(row["speedup_fwd"], ".1f", "x"),
        fmt(row["speedup_fwd_bwd"], ".1f", "x"),
    ]
    if roofline:
        frac = row["fwd_roofline_fraction"]
        vals.append(fmt(None if frac is None else 100 * frac, ".1f", "%"))
    if row["note"]:
        vals[0] += f" ({row['note']})"
    print("| " + " | ".join(vals) + " |", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

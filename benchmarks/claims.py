"""The ITNet paper's claims on numbers (issue 12): one table per claim.

    OMP_NUM_THREADS=1 python benchmarks/claims.py modes  [--n 1000 10000 100000 1000000]
    OMP_NUM_THREADS=1 python benchmarks/claims.py params

``modes``: one encoder transform (B=1, D=64, R=16, float32, CPU) evaluated in each encoder
mode at N observations: forward seconds (no autograd, as in predict), forward+backward
seconds (as in training) and the peak RSS growth of the process during each. The quadratic
modes are timed at the smallest N first and not run where the O(N^2) extrapolation exceeds
``--budget`` seconds; the table says so. ``params``: parameters of one encoder transform with
the low-rank MLP kernel against ``torch.nn.MultiheadAttention`` of the same width.
Results go to stdout as markdown (append them to benchmarks/RESULTS.md with the machine).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch

from itnet_ts.bench._memory import PeakMemory
from itnet_ts.model.layers import RecurrentTransform


def _transform(mode: str, D: int, R: int) -> RecurrentTransform:
    torch.manual_seed(0)
    return RecurrentTransform(D, R, hidden=D, timescale_min=0.5, timescale_max=200.0, mode=mode)


def _inputs(N: int, D: int, grad: bool):
    g = torch.Generator().manual_seed(1)
    h = torch.randn(1, N, D, generator=g).requires_grad_(grad)
    dtau = torch.empty(1, N).exponential_(1.0, generator=g)
    return h, dtau, torch.ones(1, N)


def _run(t: RecurrentTransform, N: int, D: int, backward: bool) -> tuple[float, float]:
    """Seconds and peak RSS growth (MB) of one forward (+ backward) at N observations."""
    h, dtau, w = _inputs(N, D, backward)
    with PeakMemory() as pm:
        t0 = time.perf_counter()
        if backward:
            y, state = t(h, dtau, w)
            (y.square().mean() + state.square().mean()).backward()
        else:
            with torch.no_grad():
                t(h, dtau, w)
        secs = time.perf_counter() - t0
    rec = pm.record()
    return secs, rec["peak_rss_mb"] - rec["rss_start_mb"]


def modes(ns: list[int], budget: float, D: int = 64, R: int = 16) -> str:
    lines = [
        f"Encoder transform, B=1 D={D} R={R} float32, CPU ({platform.processor() or 'x86_64'}, "
        f"{torch.get_num_threads()} thread(s)), torch {torch.__version__}",
        "",
        "| mode | N | forward s | forward peak MB | fwd+bwd s | fwd+bwd peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("recurrent", "attention", "conv"):
        t = _transform(mode, D, R)
        _run(t, 64, D, True)  # warm-up: numba compilation, allocator
        first: tuple[int, float] | None = None  # (N, fwd+bwd seconds) at the smallest N
        for N in ns:
            if first is not None and mode != "recurrent":
                est = first[1] * (N / first[0]) ** 2
                if est > budget:
                    lines.append(
                        f"| {mode} | {N:,} | not run: O(N^2) extrapolation {est:,.0f} s "
                        f"> budget {budget:.0f} s | | | |"
                    )
                    continue
            fs, fm = _run(t, N, D, False)
            bs, bm = _run(t, N, D, True)
            if first is None:
                first = (N, bs)
            lines.append(f"| {mode} | {N:,} | {fs:.3f} | {fm:,.0f} | {bs:.3f} | {bm:,.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def params(widths=(64, 128, 256), R: int = 16) -> str:
    lines = [
        f"| width D | ITNet transform (rank {R}, MLP kernel) | of which kernel MLP "
        "| nn.MultiheadAttention(D) | ITNet / attention |",
        "|---|---|---|---|---|",
    ]
    for D in widths:
        t = _transform("recurrent", D, R)
        mine = sum(p.numel() for p in t.parameters())
        kernel = sum(p.numel() for p in t.factors.parameters())
        mha = sum(p.numel() for p in torch.nn.MultiheadAttention(D, 4).parameters())
        lines.append(f"| {D} | {mine:,} | {kernel:,} | {mha:,} | {mine / mha - 1:+.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("claim", choices=["modes", "params"])
    p.add_argument("--n", nargs="+", type=int, default=[1000, 10000, 100000, 1000000])
    p.add_argument("--budget", type=float, default=300.0, help="seconds per quadratic run")
    args = p.parse_args(argv)
    print(modes(args.n, args.budget) if args.claim == "modes" else params())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the decoder read (closed-form evaluation of the recurrent transform at query leads):
the PyTorch reference vs the numba kernel, forward and forward+backward, float32, plain poles.

    python benchmarks/read_kernel.py [--repeats 7]

The reference materialises (B, Q, D, R) tensors; the numba kernel computes each decay in
registers. Times are the minimum over repeats after one warm-up (a shared machine: the minimum
is the least disturbed run). Each kernel is first checked against the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from itnet_ts.ops import read_reference
from itnet_ts.ops.read_numba import read_numba

SHAPES = [(32, 150, 64, 16), (32, 600, 64, 16), (64, 48, 64, 16), (8, 4096, 64, 16)]


def _time(fn, x, backward: bool, repeats: int) -> float:
    best = float("inf")
    for i in range(repeats + 1):
        xs = [t.clone().requires_grad_(backward) for t in x]
        t0 = time.perf_counter()
        if backward:
            fn(*xs).sum().backward()
        else:
            with torch.no_grad():
                fn(*xs)
        if i:  # the first call warms up (and compiles)
            best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| shape B,Q,D,R | reference fwd ms | numba fwd ms | reference fwd+bwd ms "
          "| numba fwd+bwd ms | speed-up fwd+bwd |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for B, Q, D, R in SHAPES:
        x = (
            torch.randn(B, 1, D, R, generator=g),
            0.05 + torch.rand(D, R, generator=g),
            3 * torch.rand(B, Q, generator=g),
            torch.randn(B, Q, R, generator=g),
        )
        ref = read_reference(*(t.double() for t in x))
        torch.testing.assert_close(read_numba(*x).double(), ref, rtol=1e-4, atol=1e-4)
        t = [_time(f, x, bw, args.repeats) for bw in (False, True) for f in (read_reference,
                                                                          read_numba)]  # fmt: skip
        print(f"| {B},{Q},{D},{R} | {t[0]:.1f} | {t[1]:.1f} | {t[2]:.1f} | {t[3]:.1f} "
              f"| {t[2] / t[3]:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()

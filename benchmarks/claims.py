"""The ITNet paper's claims on numbers (issue 12): one table per claim.

    OMP_NUM_THREADS=1 python benchmarks/claims.py modes  [--n 1000 10000 100000 1000000]
    OMP_NUM_THREADS=1 python benchmarks/claims.py params
    OMP_NUM_THREADS=1 python benchmarks/claims.py montecarlo [--epochs 5]

``modes``: one encoder transform (B=1, D=64, R=16, float32, CPU) evaluated in each encoder
mode at N observations: forward seconds (no autograd, as in predict), forward+backward
seconds (as in training) and the peak RSS growth of the process during each. The quadratic
modes are timed at the smallest N first and not run where the O(N^2) extrapolation exceeds
``--budget`` seconds; the table says so. ``params``: parameters of one encoder transform with
the low-rank MLP kernel against ``torch.nn.MultiheadAttention`` of the same width.
``montecarlo``: long irregular series (synthetic multirate sines, ~1,500 points per channel),
``ITNetForecaster`` fit on 48 series and scored on the last 20 time units of 24 unseen ones:
exact integration over the last 256 points (the default), exact over 2,048, and Monte Carlo
over 2,048 (M(N) ~ 8 sqrt(N) sampled points while training): fit seconds and test MSE.
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


def montecarlo(epochs: int, seed: int = 0) -> str:
    import numpy as np
    import polars as pl

    from itnet_ts import ITNetForecaster
    from itnet_ts.datasets import make_irregular

    kw = dict(family="multirate_sines", n_channels=2, length=1500.0, obs_rate=1.0)
    train = make_irregular(n_series=48, seed=seed, **kw)
    test = make_irregular(n_series=24, seed=seed + 100, **kw)
    cut = 1500.0 - 20.0
    hist, target = test.filter(pl.col("ds") <= cut), test.filter(pl.col("ds") > cut)
    long = target.unpivot(index=["unique_id", "ds"], variable_name="variable", value_name="y")
    long = long.drop_nulls("y")
    n_points = int(train.group_by("unique_id").len()["len"].median())
    lines = [
        f"Long series: {n_points:,} time points per series (median), 48 train / 24 test series, "
        f"{epochs} epochs, seed {seed}, CPU, {torch.get_num_threads()} thread(s)",
        "",
        "| integration | max_history | fit s | s / epoch | test MSE |",
        "|---|---|---|---|---|",
    ]
    for integration, max_history in (("exact", 256), ("exact", 2048), ("monte_carlo", 2048)):
        est = ITNetForecaster(
            integration=integration, max_history=max_history, horizon=20.0, max_epochs=epochs,
            patience=epochs, random_state=seed, verbose=False,
        )  # fmt: skip
        t0 = time.perf_counter()
        est.fit(train)
        fit_s = time.perf_counter() - t0
        secs = np.mean([h["seconds"] for h in est.train_result_.history])
        pred = est.predict(df=hist, times=long.select("unique_id", "ds", "variable"))
        joined = long.join(pred, on=["unique_id", "ds", "variable"], how="left")
        mse = float(((joined["y_hat"] - joined["y"]) ** 2).mean())
        lines.append(f"| {integration} | {max_history:,} | {fit_s:.0f} | {secs:.1f} | {mse:.4f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("claim", choices=["modes", "params", "montecarlo"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n", nargs="+", type=int, default=[1000, 10000, 100000, 1000000])
    p.add_argument("--budget", type=float, default=300.0, help="seconds per quadratic run")
    args = p.parse_args(argv)
    if args.claim == "modes":
        print(modes(args.n, args.budget))
    elif args.claim == "params":
        print(params())
    else:
        print(montecarlo(args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())

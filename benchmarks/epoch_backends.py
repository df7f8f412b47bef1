"""End-to-end training epoch time of ``ITNetForecaster`` with each CPU scan backend.

Same data, seed and settings; only ``ITNET_BACKEND`` changes (the decoder read follows it: the
numba read kernel runs with the numba backend, the PyTorch reference with ``reference``).
Reports the median seconds per training epoch and checks that the two fits forecast alike.

    python benchmarks/epoch_backends.py [--n-series 64] [--length 200] [--epochs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular


def fit(df, backend: str, epochs: int, seed: int):
    os.environ["ITNET_BACKEND"] = backend
    est = ITNetForecaster(max_epochs=epochs, patience=epochs, random_state=seed, verbose=False)
    t0 = time.perf_counter()
    est.fit(df)
    wall = time.perf_counter() - t0
    secs = [h["seconds"] for h in est.train_result_.history]
    return est, statistics.median(secs), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-series", type=int, default=64)
    ap.add_argument("--length", type=float, default=200.0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    df = make_irregular(n_series=args.n_series, n_channels=3, length=args.length, seed=args.seed)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} thread(s), load {os.getloadavg()[0]:.1f}; {args.n_series} series, "
          f"length {args.length}, {df.height} rows")  # fmt: skip
    fit(df, "numba", 1, args.seed)  # warm-up: numba compile / cache load
    rows, preds = [], {}
    for backend in ("reference", "numba"):
        est, per_epoch, wall = fit(df, backend, args.epochs, args.seed)
        preds[backend] = est.predict(h=10.0)["y_hat"].to_numpy()
        rows.append((backend, per_epoch, wall))
    print("| backend | s / training epoch (median) | fit wall s | speed-up |")
    print("|---|---|---|---|")
    for backend, per_epoch, wall in rows:
        print(f"| {backend} | {per_epoch:.2f} | {wall:.1f} | {rows[0][1] / per_epoch:.1f}x |")
    diff = np.max(np.abs(preds["reference"] - preds["numba"]))
    scale = np.max(np.abs(preds["reference"]))
    print(f"max |forecast difference| reference vs numba: {diff:.2e} (forecast scale {scale:.2f})")


if __name__ == "__main__":
    main()

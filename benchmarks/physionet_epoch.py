"""Seconds per PhysioNet 2012 training epoch on the CPU, through the protocol path
(``itnet_ts.bench.runs.run_model("itnet", ...)``: the public estimator), with the machine's load.

    python benchmarks/physionet_epoch.py [--threads 2] [--epochs 3] [--data-dir DIR]

Prints each epoch's training seconds (``train_result_``'s history: the optimiser steps only,
not validation), their median, the whole call's wall time and the load average before and
after: a number taken while other jobs share the cores is not a speed figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from physionet_itnet import DEFAULT_DATA, load_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--data-dir", default=os.environ.get("ITNET_PHYSIONET_DIR") or str(DEFAULT_DATA)
    )
    args = ap.parse_args()
    from itnet_ts.bench.runs import run_model

    torch.set_num_threads(args.threads)
    data = load_data(Path(args.data_dir))
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = run_model("itnet", data, args.seed, epochs=args.epochs, patience=args.epochs,
                    device="cpu", params={}, variant="base")  # fmt: skip
    wall = time.perf_counter() - t0
    secs = [h["seconds"] for h in res["history"]]  # run_itnet returns every epoch
    print(f"# {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} thread(s); load {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"epochs: {' '.join(f'{s:.1f}' for s in secs)} s; median "
          f"{statistics.median(secs):.1f} s/epoch; "
          f"run_model wall {wall:.0f} s; test MSE {res['test_mse']:.4e}")  # fmt: skip


if __name__ == "__main__":
    main()

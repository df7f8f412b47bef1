"""The benchmark suite across domains (issue 10): ITNet with the estimator's defaults beside
persistence and the history mean on every suite dataset, one table.

    OMP_NUM_THREADS=1 python benchmarks/suite.py [--seeds 0] [--out benchmarks/runs/suite]
        [--models itnet persistence history_mean grud] [--params '{"itnet.start": "persistence"}']

Resumable (one JSON per dataset / model / seed, ``itnet_ts.bench.runner``). ITNet gets the
estimator's defaults (``max_epochs=30``, ``patience=5``, windows as a user would draw them,
``horizon`` = the longest target lead of the train split); GRU-D (``itnet_ts.bench.grud``,
the harness's defaults) is the published neural baseline beside them; PhysioNet is run
separately (``benchmarks/physionet_itnet.py``: 10 epochs at the protocol cutoffs).
"""

from __future__ import annotations

import argparse
import json
import sys

from itnet_ts.bench.data import DATASETS
from itnet_ts.bench.runner import run_benchmark, split_params

SUITE = [d for d in DATASETS if d not in ("physionet", "synthetic")]
MODELS = ("itnet", "persistence", "history_mean", "grud")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--datasets", nargs="+", default=SUITE)
    p.add_argument("--out", default="benchmarks/runs/suite")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--params", default="{}",
                   help='hyperparameters as JSON, e.g. \'{"itnet.start": "persistence"}\'')  # fmt: skip
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    res = run_benchmark(
        args.datasets, args.models, args.seeds, out=args.out,
        epochs=args.epochs, patience=args.patience, progress=False,
        params=split_params(json.loads(args.params), args.models),
        command="python benchmarks/suite.py " + " ".join(argv or sys.argv[1:]),
    )  # fmt: skip
    print(table(res))
    return 0


def table(res: dict) -> str:
    """One row per dataset: test MSE of each model and ITNet's gain over the better of
    persistence and the history mean (GRU-D: blank where it was not run)."""
    by = {(r["dataset"], r["model"]): r for r in res["summary"]}
    lines = [
        "| dataset | ITNet MSE | persistence MSE | history mean MSE | GRU-D MSE "
        "| ITNet vs best baseline |",
        "|---|---|---|---|---|---|",
    ]
    for d in res["datasets"]:
        it, pe, hm, gr = (by.get((d, m)) for m in MODELS)
        if not (it and pe and hm):
            continue
        best = min(pe["test_mse_mean"], hm["test_mse_mean"])
        gain = 1 - it["test_mse_mean"] / best
        grud = f"{gr['test_mse_mean']:.4f}" if gr else ""
        lines.append(
            f"| {d} | {it['test_mse_mean']:.4f} | {pe['test_mse_mean']:.4f} | "
            f"{hm['test_mse_mean']:.4f} | {grud} | {gain:+.1%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Per-channel test MSE of a suite data set: where ITNet's gain (or loss) comes from.

    OMP_NUM_THREADS=1 python benchmarks/suite_per_channel.py nafld --seeds 0 1 2
        [--params '{"start": "persistence"}'] [--windows user|protocol] [--grud]
        [--out benchmarks/runs/suite_per_channel.jsonl]

The suite's test metric averages the per-variable MSEs (``protocol_metrics``), so a channel
with few targets weighs as much as one with many. For each seed this fits
``ITNetForecaster`` as ``benchmarks/suite.py`` does (30 epochs, patience 5, the train + val
series) and prints one JSON line: the per-variable test MSE of the fitted model, of the
network alone, of persistence and of the history mean (the same fitted estimator with its
per-channel fallback set to each), with ``--grud`` also GRU-D's. Data options are the
suite's (``benchmarks/runs/suite7``). Lines are appended to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SUITE_RUNS = Path("benchmarks/runs/suite7")


def _data(name: str, seed: int):
    from itnet_ts.bench.data import load_dataset

    rec = json.loads((SUITE_RUNS / name / "itnet" / "seed0.json").read_text())
    return load_dataset(name, **{**rec["settings"]["data"], "seed": seed})


def _per_variable(y_hat: np.ndarray, targets) -> dict[str, float]:
    y, var = targets["value"].to_numpy(), targets["variable"].to_numpy()
    return {str(v): round(float(np.mean((y_hat[var == v] - y[var == v]) ** 2)), 4)
            for v in np.unique(var)}  # fmt: skip


def itnet_row(name: str, seed: int, params: dict, windows: str) -> dict:
    from itnet_ts.bench import runs_itnet
    from itnet_ts.estimators import ITNetForecaster
    from itnet_ts.estimators._fallback import FALLBACK_BASELINES

    data = _data(name, seed)
    t0 = time.perf_counter()
    est = ITNetForecaster(**{"max_epochs": 30, "patience": 5, "device": "cpu",
                             "random_state": seed, "verbose": False, **params})  # fmt: skip
    runs_itnet._fit(est, data, windows)
    test = data.test
    keys = test.targets.select("unique_id", "ds", "variable")

    def score() -> dict[str, float]:
        pred = est.predict(df=test.history, times=keys)
        y_hat = keys.join(pred, on=["unique_id", "ds", "variable"], how="left")["y_hat"]
        return _per_variable(y_hat.to_numpy(), test.targets)

    fb = est.model_.fallback
    kept = fb.clone()
    row = {"fitted": score()}
    for label, code in [("network", 0), *FALLBACK_BASELINES.items()]:
        fb.fill_(code)
        row[label] = score()
    fb.copy_(kept)
    summary = est.get_fitted_summary()
    return {"best_epoch": summary.get("best_epoch"), "seconds": round(time.perf_counter() - t0, 1),
            "fallback": summary["validation"].get("fallback"), **row}  # fmt: skip


def grud_row(name: str, seed: int) -> dict:
    import itnet_ts.datasets.protocol as protocol
    from itnet_ts.bench.runs import run_model

    data, seen = _data(name, seed), {}
    metrics = protocol.protocol_metrics

    def capture(pred, target):
        seen["grud"] = _per_variable(np.asarray(pred, np.float64), target)
        return metrics(pred, target)

    protocol.protocol_metrics = capture
    try:
        run_model("grud", data, seed, epochs=30, patience=5)
    finally:
        protocol.protocol_metrics = metrics
    return seen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--params", default="{}", help="ITNetForecaster parameters (JSON)")
    p.add_argument("--windows", choices=["user", "protocol"], default="user")
    p.add_argument("--grud", action="store_true", help="also GRU-D's per-variable test MSE")
    p.add_argument("--out", type=Path, default=Path("benchmarks/runs/suite_per_channel.jsonl"))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    params = json.loads(args.params)
    for seed in args.seeds:
        row = {"dataset": args.dataset, "seed": seed, "params": params, "windows": args.windows}
        row.update(itnet_row(args.dataset, seed, params, args.windows))
        if args.grud:
            row.update(grud_row(args.dataset, seed))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row, default=str) + "\n")
        print(json.dumps(row, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

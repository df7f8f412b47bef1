"""Fine-tuning the pretrained ITNet (issue 13): zero-shot vs ``finetune="head"`` vs
``finetune="full"`` vs ``ITNetForecaster()`` trained from scratch, on held-out series.

    OMP_NUM_THREADS=1 python benchmarks/pretrain_finetune.py [--family damped_oscillators]
        [--max-epochs 10] [--json benchmarks/runs/pretrain_finetune/<family>.json]

Train on 200 ``make_irregular`` series (seed 0), forecast 100 other series (seed 1000) from
their history at their held-out future observations (each cut at ``t_end - 10``), as
``benchmarks/synthetic_holdout.py`` does; MSE pooled over the targets, fit seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular, train_test_cut

KEYS = ["unique_id", "ds", "variable"]


def mse(est, history: pl.DataFrame, future: pl.DataFrame) -> float:
    pred = est.predict(df=history, times=future.select(KEYS).unique())
    joined = future.join(pred.select([*KEYS, "y_hat"]), on=KEYS, how="inner")
    return float(np.mean((joined["y_hat"].to_numpy() - joined["value"].to_numpy()) ** 2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="damped_oscillators")
    ap.add_argument("--max-epochs", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    kw = dict(family=args.family, n_channels=3, length=100.0, shape="tidy")
    train = make_irregular(n_series=200, seed=0, **kw)
    test = make_irregular(n_series=100, seed=1000, **kw)
    test = test.with_columns(("test-" + pl.col("unique_id")).alias("unique_id"))
    history, future = train_test_cut(test, 10.0)
    res: dict = {"family": args.family, "max_epochs": args.max_epochs}
    zs = ITNetForecaster.pretrained(verbose=False)
    res["zero_shot"] = {"test_mse": mse(zs, history, future), "fit_seconds": 0.0}
    runs = {
        "finetune_head": lambda: ITNetForecaster.pretrained(
            max_epochs=args.max_epochs, horizon=10.0, verbose=False).fit(train, finetune="head"),
        "finetune_full": lambda: ITNetForecaster.pretrained(
            max_epochs=args.max_epochs, horizon=10.0, verbose=False).fit(train, finetune="full"),
        "scratch": lambda: ITNetForecaster(
            max_epochs=args.max_epochs, horizon=10.0, verbose=False).fit(train),
    }  # fmt: skip
    for name, make in runs.items():
        t0 = time.perf_counter()
        est = make()
        secs = time.perf_counter() - t0
        res[name] = {"test_mse": mse(est, history, future), "fit_seconds": round(secs, 1),
                     "n_trainable": getattr(est, "finetune_", {}).get("n_trainable")}  # fmt: skip
        print(name, res[name], flush=True)
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Zero-shot table of the pretrained ITNet (issue 13): MSE beside persistence and the per-series
history mean, on data the pretraining never saw.

    OMP_NUM_THREADS=1 python benchmarks/pretrain_eval.py [--checkpoint itnet-zero-v1]
        [--json benchmarks/runs/pretrain_eval/v1.json]
    python benchmarks/pretrain_eval.py --compare BEFORE.json AFTER.json

* ``synthetic-<family>``: every family of ``make_irregular`` (none of them is in the prior of
  ``itnet_ts.datasets.prior``): 100 series, 3 channels, length 100, seed 1000 (the test series
  of ``benchmarks/synthetic_holdout.py``), each cut at ``t_end - 10``; every future
  observation is forecast at its own time and channel from the history.
* ``real-<name>``: the longitudinal sets of ``benchmarks/holdout_real.py`` (seed 0, last 2
  observations of each series are the targets), ``test`` split and ``all`` series (train + val
  + test: a zero-shot model trains on none of them), and the suite's ``pbcseq`` / ``nafld``.

MSE is pooled over the targets in the data's units (the real sets come standardised per
variable by their loaders). Forecasts: ``ITNetForecaster.pretrained().predict(df=history,
times=targets)``, nothing fitted.
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
from itnet_ts.datasets.synthetic import ALL_FAMILIES

KEYS = ["unique_id", "ds", "variable"]


def score(est, history: pl.DataFrame, future: pl.DataFrame) -> dict:
    """MSE of the zero-shot forecast, persistence and the history mean on ``future``."""
    history = history.with_columns(pl.col("unique_id").cast(pl.String))
    future = future.with_columns(pl.col("unique_id").cast(pl.String))
    stats = (
        history.sort("ds")
        .group_by(["unique_id", "variable"])
        .agg(pl.col("value").last().alias("persistence"), pl.col("value").mean().alias("mean"))
    )
    fut = future.join(stats, on=["unique_id", "variable"], how="inner")
    t0 = time.perf_counter()
    pred = est.predict(df=history, times=fut.select(KEYS).unique())
    seconds = time.perf_counter() - t0
    fut = fut.join(pred.select([*KEYS, "y_hat"]), on=KEYS, how="left")
    y = fut["value"].to_numpy()
    out = {"n_targets": len(y), "seconds": round(seconds, 2)}
    for name, col in (("zero_shot", "y_hat"), ("persistence", "persistence"), ("mean", "mean")):
        out[name] = float(np.mean((fut[col].to_numpy() - y) ** 2))
    return out


def synthetic(est) -> dict:
    res = {}
    for fam in ALL_FAMILIES:
        df = make_irregular(n_series=100, family=fam, n_channels=3, length=100.0, seed=1000,
                            shape="tidy")  # fmt: skip
        history, future = train_test_cut(df, 10.0)
        res[f"synthetic-{fam}"] = score(est, history, future)
        print(fam, res[f"synthetic-{fam}"], flush=True)
    return res


def real(est, names) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from holdout_real import load

    res = {}
    for name in names:
        data = load(name, seed=0)
        _real_splits(est, f"real-{name}", data, res)
    from itnet_ts.bench.data import load_dataset

    for name in ("pbcseq", "nafld"):
        _real_splits(est, f"suite-{name}", load_dataset(name), res)
    return res


def _real_splits(est, key: str, data, res: dict) -> None:
    res[f"{key}/test"] = score(est, data.test.history, data.test.targets)
    hist = pl.concat([data.split(s).history for s in ("train", "val", "test")])
    tgt = pl.concat([data.split(s).targets for s in ("train", "val", "test")])
    res[f"{key}/all"] = score(est, hist, tgt)
    print(key, res[f"{key}/test"], res[f"{key}/all"], flush=True)


def table(res: dict) -> str:
    rows = ["| set | targets | zero-shot MSE | persistence | history mean | beats both |",
            "|---|---:|---:|---:|---:|:---:|"]  # fmt: skip
    for k, r in res.items():
        win = "yes" if r["zero_shot"] < min(r["persistence"], r["mean"]) else "no"
        rows.append(f"| {k} | {r['n_targets']} | {r['zero_shot']:.4g} | {r['persistence']:.4g} "
                    f"| {r['mean']:.4g} | {win} |")  # fmt: skip
    return "\n".join(rows)


def compare(before: dict, after: dict) -> str:
    """Two runs side by side (``--compare BEFORE.json AFTER.json``): the zero-shot MSE of each,
    the baselines, and the geometric mean of zero-shot / the better baseline."""
    rows = ["| set | targets | before | after | persistence | history mean | after beats both |",
            "|---|---:|---:|---:|---:|---:|:---:|"]  # fmt: skip
    ratios = {"before": [], "after": []}
    for k, a in after.items():
        b = before[k]
        best = min(a["persistence"], a["mean"])
        ratios["before"].append(b["zero_shot"] / best)
        ratios["after"].append(a["zero_shot"] / best)
        win = "yes" if a["zero_shot"] < best else "no"
        rows.append(f"| {k} | {a['n_targets']} | {b['zero_shot']:.4g} | {a['zero_shot']:.4g} | "
                    f"{a['persistence']:.4g} | {a['mean']:.4g} | {win} |")  # fmt: skip
    geo = {k: float(np.exp(np.mean(np.log(v)))) for k, v in ratios.items()}
    wins = {k: int(np.sum(np.array(v) < 1)) for k, v in ratios.items()}
    rows.append(f"\nGeometric mean of zero-shot MSE / better baseline over {len(after)} rows: "
                f"before {geo['before']:.3f}, after {geo['after']:.3f}; rows beating both: "
                f"before {wins['before']}, after {wins['after']}.")  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--real", nargs="*", default=["quinidine", "glucose", "chickweight", "milk",
                                                   "sleepstudy", "spruce", "ovary", "remifentanil"])  # fmt: skip
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), default=None,
                    help="print two saved runs (--json files) side by side, run nothing")  # fmt: skip
    args = ap.parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(p).read_text())["results"] for p in args.compare)
        print(compare(before, after))
        return 0
    est = ITNetForecaster.pretrained(args.checkpoint, verbose=False, duplicates="mean")
    res = {} if args.no_synthetic else synthetic(est)
    res.update(real(est, args.real))
    print(table(res))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        meta = {"checkpoint": est.checkpoint, "sha256": est.checkpoint_meta_["sha256"]}
        Path(args.json).write_text(json.dumps({"meta": meta, "results": res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

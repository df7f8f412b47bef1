"""Do covariates help? ITNet with vs without them on synthetic series built so they matter.

Two cases from ``itnet_ts.datasets.make_covariate_series`` (one channel, Poisson times):

* ``static``: each series' trend (``drift``, uniform in [-1, 1] per time unit) is its static
  covariate (``fit(df, static_df=...)``); the history shows it only through a random walk;
* ``futr``: each series' promotion calendar (planned in advance) adds +3 to its level on
  promotion intervals; ``promo`` is a known-future covariate (``futr_exog_list=["promo"]``,
  values at the query times in ``predict(futr_df=...)``).

Every series is fit on ``ds <= 32`` and forecast at the exact times of its observations in
``(32, 40]`` (leads up to 8 time units); the score is the MSE over those observations. The
plain model and the covariate model share every hyperparameter and seed. Last-value
persistence is reported for scale, and an oracle that knows the generating process (last
value + drift x lead, or last value + 3 x the change of ``promo`` since then) for the floor.

    OMP_NUM_THREADS=1 python benchmarks/covariates.py [--seeds 0,1] [--n-series 64]
        [--max-epochs 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import polars as pl
import torch

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_covariate_series

CUT, LENGTH = 32.0, 40.0


def heldout_mse(pred: pl.DataFrame, test: pl.DataFrame) -> float:
    joined = test.join(pred, on=["unique_id", "ds"], how="inner")
    assert joined.height == test.height, "a forecast is missing"
    return float(((joined["y"] - joined["y_hat"]) ** 2).mean())


def run_case(kind: str, seed: int, args) -> dict:
    data = make_covariate_series(args.n_series, kind, length=LENGTH, seed=seed)
    train = data.df.filter(pl.col("ds") <= CUT)
    test = data.df.filter(pl.col("ds") > CUT)
    params = dict(
        d_model=args.d_model,
        rank=8,
        n_layers=args.n_layers,
        max_epochs=args.max_epochs,
        learning_rate=args.learning_rate,
        horizon=LENGTH - CUT,
        random_state=seed,
        verbose=False,
    )
    times = test.select("unique_id", "ds")
    out = {"kind": kind, "seed": seed, "n_series": args.n_series, "n_test": test.height}

    t0 = time.perf_counter()
    plain = ITNetForecaster(**params).fit(train.drop("promo", strict=False))
    out["mse_plain"] = heldout_mse(plain.predict(times=times), test)
    out["seconds_plain"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    futr = ["promo"] if kind == "futr" else None
    cov = ITNetForecaster(**params, futr_exog_list=futr).fit(train, static_df=data.static_df)
    kw = {"futr_df": test.select("unique_id", "ds", "promo")} if futr else {}
    out["mse_covariates"] = heldout_mse(cov.predict(times=times, **kw), test)
    out["seconds_covariates"] = time.perf_counter() - t0

    last = (
        train.sort("ds")
        .group_by("unique_id")
        .agg(pl.col("y").last().alias("y_hat"), pl.col("ds").last().alias("t_last"))
    )
    base = test.select("unique_id", "ds").join(last, on="unique_id")
    out["mse_persistence"] = heldout_mse(base.select("unique_id", "ds", "y_hat"), test)
    if kind == "static":  # last value + the known trend over the lead time
        oracle = base.join(data.static_df, on="unique_id").with_columns(
            y_hat=pl.col("y_hat") + pl.col("drift") * (pl.col("ds") - pl.col("t_last"))
        )
    else:  # last value + the promotion effect's change since then (effect = 3)
        p_q = data.with_futr(base.select("unique_id", "ds"))["promo"]
        p_l = data.with_futr(base.select("unique_id", pl.col("t_last").alias("ds")))["promo"]
        oracle = base.with_columns(y_hat=pl.col("y_hat") + 3.0 * (p_q - p_l))
    out["mse_oracle"] = heldout_mse(oracle.select("unique_id", "ds", "y_hat"), test)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--n-series", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--n-layers", type=int, default=1)
    ap.add_argument("--max-epochs", type=int, default=15)
    ap.add_argument("--learning-rate", type=float, default=3e-3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for kind in ("static", "futr"):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run_case(kind, seed, args)
            rows.append(r)
            print(
                f"{kind:6s} seed {seed}: MSE plain {r['mse_plain']:.4f}  with covariates "
                f"{r['mse_covariates']:.4f}  persistence {r['mse_persistence']:.4f}  "
                f"oracle {r['mse_oracle']:.4f}  "
                f"({r['n_test']} held-out points; fits {r['seconds_plain']:.0f} s / "
                f"{r['seconds_covariates']:.0f} s)",
                flush=True,
            )
    print(
        "\n| case | seed | held-out points | MSE plain | MSE with covariates | ratio | "
        "persistence | oracle |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['seed']} | {r['n_test']} | {r['mse_plain']:.4f} | "
            f"{r['mse_covariates']:.4f} | {r['mse_covariates'] / r['mse_plain']:.2f} | "
            f"{r['mse_persistence']:.4f} | {r['mse_oracle']:.4f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()

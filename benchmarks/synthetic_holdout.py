"""Held-out synthetic benchmark: ITNet vs last-value persistence vs per-channel history mean.

Train on one set of irregular series; forecast *other* series (a global model) from their
history at the exact timestamps of their held-out future observations; score MSE / MAE over
those observations in raw units.

With ``--level 80,95`` the model is fit with ``level=[80, 95]`` (pinball loss; ``y_hat`` is the
median) and the script also reports the empirical coverage of each interval on the unseen
series (overall, per channel and per lead-time third of the horizon), its mean width, and the
mean pinball loss of the interval bounds.

    python benchmarks/synthetic_holdout.py [--n-train 200] [--horizon 10] [--seed 0]
        [--level 80,95]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular, train_test_cut


def baselines(history: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    """Attach persistence and history-mean forecasts to every future observation."""
    stats = (
        history.sort("ds")
        .group_by(["unique_id", "variable"])
        .agg(
            pl.col("value").last().alias("persistence"),
            pl.col("value").mean().alias("history_mean"),
        )
    )
    return future.join(stats, on=["unique_id", "variable"], how="inner")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--length", type=float, default=100.0)
    ap.add_argument("--horizon", type=float, default=10.0)
    ap.add_argument("--family", default="mixed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--json", default=None)
    ap.add_argument("--level", default=None, help="interval levels, e.g. 80,95")
    args = ap.parse_args()
    level = [float(v) for v in args.level.split(",")] if args.level else None

    kw = dict(family=args.family, n_channels=3, length=args.length, shape="tidy")
    train = make_irregular(n_series=args.n_train, seed=args.seed, **kw)
    test = make_irregular(n_series=args.n_test, seed=args.seed + 1000, **kw)
    test = test.with_columns(("test-" + pl.col("unique_id")).alias("unique_id"))
    history, future = train_test_cut(test, args.horizon)

    t0 = time.perf_counter()
    fc = ITNetForecaster(
        horizon=args.horizon, max_epochs=args.max_epochs, random_state=args.seed, level=level
    ).fit(train)
    fit_s = time.perf_counter() - t0
    scored = baselines(history, future)
    pred = fc.predict(times=scored.select("unique_id", "ds", "variable"), df=history)
    scored = scored.join(pred, on=["unique_id", "ds", "variable"], how="inner")
    rows = {}
    for name in ("y_hat", "persistence", "history_mean"):
        err = (scored[name] - scored["value"]).to_numpy()
        rows["itnet" if name == "y_hat" else name] = {
            "mse": float(np.mean(err**2)),
            "mae": float(np.mean(np.abs(err))),
        }
    print(
        f"{len(scored)} held-out observations of {args.n_test} unseen series; "
        f"fit {fit_s:.1f} s, best epoch {fc.train_result_.best_epoch}"
    )
    print("| model | MSE | MAE |\n|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v['mse']:.4f} | {v['mae']:.4f} |")
    intervals = interval_report(scored, level, history) if level else None
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"args": vars(args), "fit_seconds": fit_s, "results": rows, "intervals": intervals},
                f,
                indent=2,
            )


def interval_report(scored: pl.DataFrame, level: list[float], history: pl.DataFrame) -> dict:
    """Print and return the empirical coverage of every interval on the held-out points."""
    from itnet_ts.metrics import coverage, pinball_loss

    last = history.group_by("unique_id").agg(pl.col("ds").max().alias("cutoff"))
    scored = scored.join(last, on="unique_id").with_columns(lead=pl.col("ds") - pl.col("cutoff"))
    h = float(scored["lead"].max())
    scored = scored.with_columns(third=(pl.col("lead") / h * 3).ceil().clip(1, 3).cast(pl.Int64))
    out: dict = {}
    print("\n| interval | coverage | by channel | by lead third (early, mid, late) | mean width "
          "| pinball lo / hi |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for lv in level:
        name = f"{lv:g}"
        lo, hi = f"y_hat-lo-{name}", f"y_hat-hi-{name}"
        cov = coverage(scored["value"], scored[lo], scored[hi])
        by_chan = {
            str(k[0]): coverage(g["value"], g[lo], g[hi])
            for k, g in scored.sort("variable").group_by("variable", maintain_order=True)
        }
        by_lead = {
            int(k[0]): coverage(g["value"], g[lo], g[hi])
            for k, g in scored.sort("third").group_by("third", maintain_order=True)
        }
        width = float((scored[hi] - scored[lo]).mean())
        q_lo, q_hi = 0.5 - lv / 200, 0.5 + lv / 200
        pin = (pinball_loss(scored["value"], scored[lo], q_lo),
               pinball_loss(scored["value"], scored[hi], q_hi))  # fmt: skip
        out[name] = {"coverage": cov, "by_channel": by_chan, "by_lead_third": by_lead,
                     "mean_width": width, "pinball_lo": pin[0], "pinball_hi": pin[1]}  # fmt: skip
        chans = ", ".join(f"{k} {v:.3f}" for k, v in by_chan.items())
        leads = ", ".join(f"{v:.3f}" for v in by_lead.values())
        print(f"| {name} % | {cov:.3f} | {chans} | {leads} | {width:.3f} "
              f"| {pin[0]:.4f} / {pin[1]:.4f} |")  # fmt: skip
    return out


if __name__ == "__main__":
    main()

"""``itnet-ts bench``: a small held-out synthetic benchmark (ITNet vs simple baselines).

The same protocol as ``benchmarks/synthetic_holdout.py``, sized to run in a shell in a
minute: train on some synthetic series, forecast *other* series from their history at the
exact times of their held-out observations, score MSE / MAE over those observations.
"""

from __future__ import annotations

import time
from typing import Any


def run_bench(
    *,
    n_train: int,
    n_test: int,
    family: str,
    length: float,
    horizon: float,
    max_epochs: int,
    seed: int,
    params: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    import polars as pl

    from itnet_ts.datasets import make_irregular, train_test_cut
    from itnet_ts.estimators import ITNetForecaster
    from itnet_ts.metrics import evaluate

    kw = dict(family=family, n_channels=3, length=length, shape="tidy")
    train = make_irregular(n_series=n_train, seed=seed, **kw)
    test = make_irregular(n_series=n_test, seed=seed + 1000, **kw)
    test = test.with_columns(("test-" + pl.col("unique_id")).alias("unique_id"))
    history, future = train_test_cut(test, horizon)
    future = future.join(history.select("unique_id").unique(), on="unique_id", how="semi")

    est = ITNetForecaster(
        **{"horizon": horizon, "max_epochs": max_epochs, "random_state": seed, **params},
        verbose=progress,
    )
    t0 = time.perf_counter()
    est.fit(train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = est.predict(times=future.select("unique_id", "ds", "variable"), df=history)
    predict_s = time.perf_counter() - t0

    stats = (
        history.sort("ds")
        .group_by(["unique_id", "variable"])
        .agg(
            pl.col("value").last().alias("persistence"),
            pl.col("value").mean().alias("history_mean"),
        )
    )
    scored = future.join(pred, on=["unique_id", "ds", "variable"]).join(
        stats, on=["unique_id", "variable"]
    )
    rows = []
    models = {"itnet": "y_hat", "persistence": "persistence", "history_mean": "history_mean"}
    for model, col in models.items():
        m = evaluate(
            scored.select("unique_id", "ds", "variable", pl.col(col).alias("y_hat"),
                          pl.col("value").alias("y")),
            metrics=["mse", "mae"],
        )  # fmt: skip
        rows.append({"model": model, "mse": m["mse"][0], "mae": m["mae"][0]})
    return {
        "family": family,
        "n_train": n_train,
        "n_test": n_test,
        "horizon": horizon,
        "n_scored": scored.height,
        "fit_seconds": round(fit_s, 3),
        "predict_seconds": round(predict_s, 3),
        "best_epoch": est.train_result_.best_epoch,
        "results": rows,
    }

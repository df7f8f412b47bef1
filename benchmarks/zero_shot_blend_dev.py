"""The development set the zero-shot blend's two constants were chosen on (issue 13).

    OMP_NUM_THREADS=1 python benchmarks/zero_shot_blend_dev.py

``itnet_ts.estimators._zero_shot_blend`` has three constants: ``SHRINK_TARGETS``
(pseudo-targets pulling a channel's weights towards the pooled ones, and those towards the
network alone), ``LATE_FRACTION`` (backtest cutoffs only in the last fraction of each series'
span) and ``LEAD_BUCKETS`` (weights of their own per lead bucket). They were
chosen here, NOT on the zero-shot table of ``benchmarks/pretrain_eval.py``: every
``make_irregular`` family at seed 2000 (the table uses seed 1000), as 100 series of length 100
and as 6 series of length 40 (a small data set), each cut at the last tenth of its length.
Printed per setting: the geometric mean over the families of the zero-shot MSE divided by the
better of persistence and the per-series history mean, and on how many families the ratio is
below 1; then the ratio per set (families in ``ALL_FAMILIES`` order, large then small).
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

import itnet_ts.estimators._zero_shot_blend as zb
from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular, train_test_cut
from itnet_ts.datasets.synthetic import ALL_FAMILIES

KEYS = ["unique_id", "ds", "variable"]


def ratio(est, hist: pl.DataFrame, fut: pl.DataFrame) -> float:
    """Zero-shot MSE / the better baseline's on the targets ``fut``."""
    pred = est.predict(df=hist, times=fut.select(KEYS).unique())
    stats = (
        hist.sort("ds")
        .group_by(["unique_id", "variable"])
        .agg(pl.col("value").last().alias("last"), pl.col("value").mean().alias("mean"))
    )
    j = fut.join(stats, on=["unique_id", "variable"]).join(pred, on=KEYS)
    y = j["value"].to_numpy()
    mse = {c: float(np.mean((j[c].to_numpy() - y) ** 2)) for c in ("y_hat", "last", "mean")}
    return mse["y_hat"] / min(mse["last"], mse["mean"])


def dev_sets() -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    sets = []
    for fam in ALL_FAMILIES:
        for n, length in ((100, 100.0), (6, 40.0)):
            df = make_irregular(n_series=n, family=fam, n_channels=3, length=length, seed=2000,
                                shape="tidy")  # fmt: skip
            h, f = train_test_cut(df, length / 10)
            cast = pl.col("unique_id").cast(pl.String)
            sets.append((h.with_columns(cast), f.with_columns(cast)))
    return sets


def main() -> None:
    sets = dev_sets()
    settings = [(None, None, None)]
    settings += [(s, f, 1) for s, f in itertools.product([10.0, 50.0], [0.25, 0.5, 1.0])]
    settings += [(50.0, 0.5, 2), (50.0, 0.5, 3)]
    for shrink, late, buckets in settings:
        est = ITNetForecaster.pretrained(verbose=False, zero_shot_blend=shrink is not None)
        if shrink is not None:
            zb.SHRINK_TARGETS, zb.LATE_FRACTION, zb.LEAD_BUCKETS = shrink, late, buckets
        r = np.array([ratio(est, h, f) for h, f in sets])
        big, small = r[0::2], r[1::2]
        geo = lambda x: float(np.exp(np.log(x).mean()))  # noqa: E731
        print(f"shrink {shrink} late {late} lead buckets {buckets}: geo-mean large {geo(big):.3f} small {geo(small):.3f}"
              f" | below 1: large {(big < 1).sum()}/9 small {(small < 1).sum()}/9 | "
              + " ".join(f"{x:.2f}" for x in r), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

"""The zero-shot forecast calibrated on the history it is given (``zero_shot_blend``, issue
13): it learns the better simple predictor where the data call for one, keeps the network
where there is nothing to backtest, and moves the intervals with the median."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from itnet_ts import ITNetForecaster
from itnet_ts.estimators._pretrained import zero_shot
from itnet_ts.estimators._zero_shot_blend import BLEND_COMPONENTS

KEYS = ["unique_id", "ds", "variable"]


def _noisy_levels(n_series=60, n_points=40, seed=0):
    """Each series a constant level (its own) plus noise twice the levels' spread, at random
    times: the history mean is the best forecast there is, persistence a poor one."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        level = rng.normal()
        t = np.sort(rng.uniform(0, 100, n_points))
        y = level + 2.0 * rng.normal(size=n_points)
        rows += [(f"s{s}", float(ti), "x", float(yi)) for ti, yi in zip(t, y, strict=False)]
    df = pl.DataFrame(rows, schema=[*KEYS, "value"], orient="row")
    return df.filter(pl.col("ds") <= 90), df.filter(pl.col("ds") > 90)


def _mse(pred: pl.DataFrame, fut: pl.DataFrame, col="y_hat") -> float:
    j = fut.join(pred, on=KEYS)
    assert j.height == fut.height
    return float(np.mean((j[col].to_numpy() - j["value"].to_numpy()) ** 2))


def test_blend_learns_the_history_mean_on_noisy_levels():
    hist, fut = _noisy_levels()
    times = fut.select(KEYS)
    blend = ITNetForecaster.pretrained(verbose=False).predict(df=hist, times=times)
    alone = ITNetForecaster.pretrained(verbose=False, zero_shot_blend=False)
    alone = alone.predict(df=hist, times=times)
    mean = hist.group_by("unique_id", "variable").agg(pl.col("value").mean().alias("y_hat"))
    mean = fut.select(KEYS).join(mean, on=["unique_id", "variable"])
    mse_blend, mse_alone, mse_mean = _mse(blend, fut), _mse(alone, fut), _mse(mean, fut)
    assert mse_blend < mse_alone
    assert mse_blend < 1.05 * mse_mean
    est = ITNetForecaster.pretrained(verbose=False)
    est.predict(df=hist, times=times)
    s = est.zero_shot_blend_  # the last zero-shot call's backtest and weights
    bound = zero_shot(ITNetForecaster.pretrained(verbose=False), hist, None, times=times)
    assert bound.validation_["zero_shot_blend"] == s
    per_bucket = s["per_channel"]["x"]["weights"]  # one dict per lead bucket
    assert len(per_bucket) == len(s["lead_edges"]) + 1
    for w in per_bucket:
        assert set(w) == set(BLEND_COMPONENTS)
        np.testing.assert_allclose(sum(w.values()), 1.0, atol=1e-3)
        assert w["last_value"] < 0.1  # persistence is the worst forecast here
    assert s["mse"]["blend"] <= min(s["mse"]["network"], s["mse"]["history_mean"]) + 1e-9


def test_nothing_to_backtest_keeps_the_network():
    # two points per series: no cutoff has an earlier point, so no backtest window
    hist = pl.DataFrame({"unique_id": ["a", "a", "b", "b"], "ds": [0.0, 1.0, 0.0, 2.0],
                         "variable": ["x"] * 4, "value": [1.0, 2.0, 3.0, 1.0]})  # fmt: skip
    a = ITNetForecaster.pretrained(verbose=False).predict(df=hist, h=2.0)
    b = ITNetForecaster.pretrained(verbose=False, zero_shot_blend=False).predict(df=hist, h=2.0)
    assert a.equals(b)
    bound = zero_shot(ITNetForecaster.pretrained(verbose=False), hist, None, h=2.0)
    assert bound.validation_["zero_shot_blend"]["n_windows"] == 0


def test_blend_is_deterministic_and_keeps_the_interval_widths():
    hist, _fut = _noisy_levels(n_series=20, seed=1)
    est = ITNetForecaster.pretrained(level=[80], verbose=False)
    a = est.predict(df=hist, h=5.0)
    assert a.equals(est.predict(df=hist, h=5.0))
    off = ITNetForecaster.pretrained(level=[80], verbose=False, zero_shot_blend=False)
    b = off.predict(df=hist, h=5.0)
    assert not np.allclose(a["y_hat"].to_numpy(), b["y_hat"].to_numpy())
    width = lambda p: (p["y_hat-hi-80"] - p["y_hat-lo-80"]).to_numpy()  # noqa: E731
    np.testing.assert_allclose(width(a), width(b), rtol=1e-4, atol=1e-5)


def test_zero_shot_blend_must_be_a_bool():
    hist, _ = _noisy_levels(n_series=3)
    with pytest.raises(Exception, match="zero_shot_blend must be True or False"):
        ITNetForecaster.pretrained(verbose=False, zero_shot_blend="yes").predict(df=hist, h=2.0)

"""The stress families of ``make_irregular`` (issue 10) have the property each one claims."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from itnet_ts import datasets

make_irregular = datasets.make_irregular
STRESS = datasets.synthetic.STRESS_FAMILIES


def _gaps(frame: pl.DataFrame) -> pl.DataFrame:
    """Per series: the gaps between its distinct time stamps."""
    return frame.group_by("unique_id").agg(gap=pl.col("ds").unique().sort().diff().drop_nulls())


@pytest.mark.parametrize("family", STRESS)
def test_stress_family_basics(family):
    a = make_irregular(30, family, length=100.0, seed=2, shape="tidy")
    assert a.equals(make_irregular(30, family, length=100.0, seed=2, shape="tidy"))
    assert not a.equals(make_irregular(30, family, length=100.0, seed=3, shape="tidy"))
    assert a.columns == ["unique_id", "ds", "variable", "value"]
    assert a["unique_id"].n_unique() == 30 and a.null_count().sum_horizontal().item() == 0
    assert np.isfinite(a["value"].to_numpy()).all()
    assert float(a["ds"].min()) >= 0.0 and float(a["ds"].max()) < 100.0
    # irregular: the gaps within a series are not constant
    gaps = _gaps(a).filter(pl.col("gap").list.len() > 1)
    assert (gaps["gap"].list.std() > 1e-6).all()
    # datetime and wide shapes work as for the other families
    wide = make_irregular(5, family, length=50.0, seed=1, datetime=True)
    assert wide.schema["ds"].is_temporal() and wide.height > 0
    static = make_irregular(4, family, length=50.0, return_static=True)[1]
    assert static["family"].to_list() == [family] * 4


def test_noisy_level_is_noise_dominated():
    frame = make_irregular(60, "noisy_level", length=100.0, seed=0, shape="tidy")
    f = frame.sort("unique_id", "variable", "ds").with_columns(
        dev=pl.col("value") - pl.col("value").mean().over("unique_id", "variable"),
        diff=pl.col("value").diff().over("unique_id", "variable"),
    )
    within = float(f["dev"].var())
    # white noise around a level: consecutive observations are nearly uncorrelated, so the
    # variance of a difference is about twice the within-series variance
    assert float(f["diff"].drop_nulls().var()) > 1.7 * within
    # and the per-series levels differ: the level is worth estimating
    levels = f.group_by("unique_id", "variable").agg(pl.col("value").mean())["value"]
    assert float(levels.var()) > 0.3


def test_sparse_periodic_is_sampled_far_below_its_period():
    length = 200.0
    frame = make_irregular(40, "sparse_periodic", length=length, seed=0, shape="tidy")
    max_period = 0.9  # periods are drawn in [0.2, 0.9]
    median_gap = _gaps(frame)["gap"].list.median()
    assert (median_gap > max_period).all()
    # many cycles: every series spans more than 100 of its periods
    span = frame.group_by("unique_id").agg(s=pl.col("ds").max() - pl.col("ds").min())["s"]
    assert (span / max_period > 100).all()
    # at most one stamp per night, in the first quarter of it
    t = frame["ds"].to_numpy()
    assert ((t - np.floor(t)) <= 0.25).all()
    nights = frame.select("unique_id", night=pl.col("ds").floor()).unique()
    stamps = frame.select("unique_id", "ds").unique()
    assert nights.height == stamps.height


def test_trend_gaps_has_long_gaps_and_a_trend_worth_extrapolating():
    length, horizon = 100.0, 10.0
    frame = make_irregular(150, "trend_gaps", length=length, seed=0, shape="tidy")
    assert (_gaps(frame)["gap"].list.max() >= 0.12 * length).all()
    hist, fut = datasets.train_test_cut(frame, horizon)
    err_trend, err_last = [], []
    for (sid, var), h in hist.group_by("unique_id", "variable"):
        f = fut.filter((pl.col("unique_id") == sid) & (pl.col("variable") == var))
        if f.height == 0 or float(h["ds"].max() - h["ds"].min()) < 0.2 * length:
            continue  # a trend needs a history across at least one gap
        # the targets lie after a gap of at least the horizon
        assert float(f["ds"].min()) - float(h["ds"].max()) >= horizon - 1e-9
        coef = np.polyfit(h["ds"].to_numpy(), h["value"].to_numpy(), 1)
        y = f["value"].to_numpy()
        err_trend.append(np.mean((np.polyval(coef, f["ds"].to_numpy()) - y) ** 2))
        err_last.append(np.mean((h["value"][-1] - y) ** 2))
    assert len(err_trend) > 100
    assert np.mean(err_trend) < 0.7 * np.mean(err_last)


def test_regime_shifts_are_piecewise_constant():
    frame = make_irregular(50, "regime_shifts", length=100.0, seed=0, shape="tidy", noise=0.0)
    per = frame.group_by("unique_id", "variable").agg(
        n_levels=pl.col("value").n_unique(), n=pl.len()
    )
    # few distinct levels (about one shift per 30 time units), many observations each
    assert per["n_levels"].max() <= 12 and per["n"].min() > 15
    assert (per["n_levels"] >= 2).mean() > 0.8
    # channels shift together: the level changes at the same times in every channel
    f = frame.sort("unique_id", "variable", "ds").with_columns(
        jump=(pl.col("value").diff().over("unique_id", "variable").abs() > 1e-12)
    )
    assert f["jump"].sum() < 0.2 * f.height


def test_few_obs_has_3_to_10_time_stamps_with_every_channel():
    frame = make_irregular(200, "few_obs", n_channels=3, length=100.0, seed=0, shape="tidy")
    per = frame.group_by("unique_id").agg(nt=pl.col("ds").n_unique(), n=pl.len())
    assert per["nt"].min() >= 3 and per["nt"].max() <= 10
    assert set(per["nt"].to_list()) == set(range(3, 11))
    assert (per["n"] == 3 * per["nt"]).all()
    # obs_rate does not change the count
    dense = make_irregular(50, "few_obs", length=100.0, seed=0, shape="tidy", obs_rate=5.0)
    assert dense.group_by("unique_id").agg(nt=pl.col("ds").n_unique())["nt"].max() <= 10


def test_mixed_and_the_original_families_are_unchanged_by_the_stress_families():
    # ``mixed`` draws from the four original families only
    _, static = make_irregular(40, "mixed", return_static=True)
    assert set(static["family"].to_list()) == set(datasets.FAMILIES)
    with pytest.raises(ValueError, match="family"):
        make_irregular(3, "no_such_family")

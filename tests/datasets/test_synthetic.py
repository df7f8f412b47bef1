"""Tests for the synthetic irregular generator, ``train_test_cut`` and the bundled sample."""

from __future__ import annotations

import datetime as dt
import importlib

import numpy as np
import pandas as pd
import polars as pl
import pytest

from itnet_ts import datasets

# (ruff resolves ``itnet_ts.datasets`` as third-party: it lives in ``datasets/``, mapped by
# setuptools, so import the package from ``itnet_ts`` and its modules by name)
make_sample_mod = importlib.import_module("itnet_ts.datasets.make_sample")
FAMILIES = datasets.FAMILIES
load_sample = datasets.load_sample
make_irregular = datasets.make_irregular
sample_path = datasets.sample_path
train_test_cut = datasets.train_test_cut

ALL_FAMILIES = [*FAMILIES, "mixed"]
CHANNELS = ["ch0", "ch1", "ch2"]


def _to_tidy(frame: pl.DataFrame) -> pl.DataFrame:
    """Wide -> tidy (drop nulls), for checks."""
    return (
        frame.unpivot(index=["unique_id", "ds"], variable_name="variable", value_name="value")
        .drop_nulls("value")
        .sort("unique_id", "ds", "variable")
    )


# --------------------------------------------------------------------------- generator
@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_deterministic_and_seed_dependent(family):
    a = make_irregular(20, family, length=40.0, seed=3)
    b = make_irregular(20, family, length=40.0, seed=3)
    c = make_irregular(20, family, length=40.0, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


@pytest.mark.parametrize("family", ALL_FAMILIES)
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
@pytest.mark.parametrize("as_", ["polars", "pandas"])
def test_shapes_and_libraries(family, shape, as_):
    frame = make_irregular(12, family, n_channels=3, length=50.0, seed=1, shape=shape, as_=as_)
    expected = {
        "long": ["unique_id", "ds", "y"],
        "wide": ["unique_id", "ds", *CHANNELS],
        "tidy": ["unique_id", "ds", "variable", "value"],
    }[shape]
    assert list(frame.columns) == expected
    if as_ == "pandas":
        assert isinstance(frame, pd.DataFrame)
        frame = pl.from_pandas(frame)
    else:
        assert isinstance(frame, pl.DataFrame)
    assert frame.schema["ds"] == pl.Float64
    assert frame["unique_id"].n_unique() == 12
    assert frame.height > 12 * 10
    values = frame.select(pl.col(expected[2:]).exclude("variable")).to_numpy().astype(float)
    finite = values[~np.isnan(values)]
    assert np.isfinite(finite).all()
    assert 0.3 < float(np.std(finite)) < 5.0  # O(1) scale
    assert float(frame["ds"].min()) >= 0.0 and float(frame["ds"].max()) < 50.0
    if shape == "tidy":
        assert set(frame["variable"].unique()) == set(CHANNELS)
        assert frame.null_count().sum_horizontal().item() == 0
    if shape == "wide":  # every row observes something; nothing is NaN, only null
        observed = frame.select(pl.any_horizontal(pl.col(CHANNELS).is_not_null())).to_series()
        assert observed.all()
        assert frame.select(pl.any_horizontal(pl.col(CHANNELS).is_nan())).to_series().sum() == 0


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_times_monotone_and_unique_per_series(family):
    wide = make_irregular(30, family, length=60.0, seed=2, shape="wide")
    ok = wide.group_by("unique_id").agg(
        inc=(pl.col("ds").diff().drop_nulls() > 0).all(), n=pl.len()
    )
    assert ok["inc"].all()
    tidy = make_irregular(30, family, length=60.0, seed=2, shape="tidy")
    assert tidy.select("unique_id", "ds", "variable").is_duplicated().sum() == 0
    assert tidy.equals(tidy.sort("unique_id", "ds", "variable"))


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_shapes_agree(family):
    kw = {"n_series": 15, "family": family, "length": 40.0, "seed": 5}
    wide = make_irregular(**kw, shape="wide")
    tidy = make_irregular(**kw, shape="tidy")
    long = make_irregular(**kw, shape="long")
    assert _to_tidy(wide).equals(tidy)
    ch0 = tidy.filter(pl.col("variable") == "ch0").select("unique_id", "ds", y="value")
    assert long.equals(ch0)


def test_async_channels_observed_at_their_own_times():
    wide = make_irregular(40, "async_channels", length=80.0, seed=0, shape="wide")
    n_seen = wide.select(pl.sum_horizontal(pl.col(CHANNELS).is_not_null())).to_series()
    assert (n_seen == 1).all()  # no two channels share a time stamp
    counts = wide.select(pl.col(CHANNELS).is_not_null().sum()).row(0)
    # channel roles: slow trend (rare), fast oscillation (frequent), lagged trend (medium)
    assert counts[1] > counts[2] > counts[0]
    # every series has every channel, each with its own number of observations
    per = _to_tidy(wide).group_by("unique_id", "variable").len()
    assert per.height == 40 * 3
    assert per.group_by("unique_id").agg(pl.col("len").n_unique() > 1)["len"].mean() > 0.9


def test_sync_families_share_stamps_with_missingness():
    wide = make_irregular(40, "multirate_sines", length=80.0, seed=0, shape="wide")
    n_seen = wide.select(pl.sum_horizontal(pl.col(CHANNELS).is_not_null())).to_series()
    assert (n_seen >= 2).mean() > 0.5  # stamps mostly see several channels ...
    assert (n_seen < 3).mean() > 0.3  # ... but not always all of them


def test_bursty_has_bursts_and_gaps():
    wide = make_irregular(40, "bursty", length=200.0, seed=0, shape="wide")
    gaps = wide.select(pl.col("ds").diff().over("unique_id")).to_series().drop_nulls()
    assert gaps.median() < 0.5  # dense inside bursts
    assert gaps.quantile(0.95) > 3.0  # long gaps between them
    sines = make_irregular(40, "multirate_sines", length=200.0, seed=0, shape="wide")
    sgaps = sines.select(pl.col("ds").diff().over("unique_id")).to_series().drop_nulls()
    assert gaps.max() / gaps.median() > 5 * sgaps.max() / sgaps.median()


def test_mixed_draws_all_families_and_static():
    frame, static = make_irregular(20, "mixed", seed=0, length=30.0, return_static=True)
    assert static.columns == ["unique_id", "family"]
    assert static["family"].value_counts()["count"].to_list() == [5, 5, 5, 5]
    assert set(static["unique_id"]) == set(frame["unique_id"])
    _, static_pd = make_irregular(8, "bursty", as_="pandas", return_static=True)
    assert isinstance(static_pd, pd.DataFrame)
    assert (static_pd["family"] == "bursty").all()


@pytest.mark.parametrize("as_", ["polars", "pandas"])
def test_datetime_output(as_):
    frame = make_irregular(
        10, "mixed", length=48.0, seed=0, datetime=True, start="2024-05-01", shape="tidy", as_=as_
    )
    floats = make_irregular(10, "mixed", length=48.0, seed=0, shape="tidy")
    if as_ == "pandas":
        assert pd.api.types.is_datetime64_any_dtype(frame["ds"])
        frame = pl.from_pandas(frame)
    assert isinstance(frame.schema["ds"], pl.Datetime)
    assert frame.schema["ds"].time_zone is None
    start = dt.datetime(2024, 5, 1)
    assert frame["ds"].min() >= start
    assert frame["ds"].max() < start + dt.timedelta(hours=48)
    assert (frame["ds"].dt.microsecond() == 0).all()  # whole seconds
    hours = (frame["ds"] - start).dt.total_seconds() / 3600.0
    # the same draw as the float output, up to rounding to whole seconds
    assert frame.height == floats.height
    np.testing.assert_allclose(hours.to_numpy(), floats["ds"].to_numpy(), atol=1.0 / 7200 + 1e-9)
    np.testing.assert_allclose(frame["value"].to_numpy(), floats["value"].to_numpy(), atol=0.05)


def test_datetime_tz_aware_and_stagger():
    frame = make_irregular(
        6, "damped_oscillators", length=24.0, datetime=True, start="2024-01-01T00:00+02:00"
    )
    assert frame["ds"].dtype.time_zone is not None
    assert frame["ds"].min() >= dt.datetime(2023, 12, 31, 22, tzinfo=dt.timezone.utc)
    paris = make_irregular(
        6, "bursty", length=24.0, datetime=True, start=pd.Timestamp("2024-01-01", tz="Europe/Paris")
    )
    assert paris["ds"].dtype.time_zone == "Europe/Paris"

    plain = make_irregular(30, "multirate_sines", length=50.0, seed=1)
    staggered = make_irregular(30, "multirate_sines", length=50.0, seed=1, stagger=100.0)
    first = staggered.group_by("unique_id").agg(pl.col("ds").min())["ds"]
    assert first.max() - first.min() > 20.0
    assert staggered.height == plain.height
    np.testing.assert_array_equal(staggered["ch0"].to_numpy(), plain["ch0"].to_numpy())


def test_more_channels_and_one_channel():
    wide = make_irregular(5, "mixed", n_channels=12, length=30.0, seed=0)
    assert wide.columns[2:] == [f"ch{c:02d}" for c in range(12)]
    one = make_irregular(5, "async_channels", n_channels=1, length=30.0, shape="wide")
    assert one.columns == ["unique_id", "ds", "ch0"]
    assert one["ch0"].null_count() == 0


def test_invalid_arguments():
    with pytest.raises(ValueError, match="family"):
        make_irregular(family="nope")
    with pytest.raises(ValueError, match="shape"):
        make_irregular(shape="square")
    with pytest.raises(ValueError, match="as_"):
        make_irregular(as_="arrow")
    with pytest.raises(ValueError):
        make_irregular(length=0.0)


def test_fast_for_thousands_of_series():
    import time

    make_irregular(50, "mixed")  # warm up
    t0 = time.perf_counter()
    frame = make_irregular(2000, "mixed", length=100.0, seed=0, shape="tidy")
    elapsed = time.perf_counter() - t0
    assert frame["unique_id"].n_unique() == 2000
    assert elapsed < 3.0  # typically ~0.3 s; generous for slow CI machines


# --------------------------------------------------------------------------- train_test_cut
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
def test_train_test_cut_float(shape):
    frame = make_irregular(25, "mixed", length=60.0, seed=7, shape=shape)
    hist, fut = train_test_cut(frame, 10.0)
    assert hist.height + fut.height == frame.height
    assert pl.concat([hist, fut]).sort(frame.columns).equals(frame.sort(frame.columns))
    t_end = frame.group_by("unique_id").agg(t_end=pl.col("ds").max())
    h = hist.join(t_end, on="unique_id")
    f = fut.join(t_end, on="unique_id")
    assert (h["ds"] <= h["t_end"] - 10.0).all()
    assert (f["ds"] > f["t_end"] - 10.0).all()
    assert fut["unique_id"].n_unique() == 25  # the last stamp is always in the future
    assert hist.columns == frame.columns


def test_train_test_cut_pandas_matches_polars():
    frame = make_irregular(15, "bursty", length=60.0, seed=1, shape="tidy")
    hist, fut = train_test_cut(frame, 12.5)
    hist_pd, fut_pd = train_test_cut(frame.to_pandas(), 12.5)
    assert isinstance(hist_pd, pd.DataFrame)
    assert pl.from_pandas(hist_pd).equals(hist)
    assert pl.from_pandas(fut_pd).equals(fut)
    assert list(hist_pd.index) == list(range(len(hist_pd)))


@pytest.mark.parametrize("horizon", ["6h", dt.timedelta(hours=6), 6, pd.Timedelta("6h")])
@pytest.mark.parametrize("as_", ["polars", "pandas"])
def test_train_test_cut_datetime(horizon, as_):
    frame = make_irregular(10, "mixed", length=48.0, datetime=True, shape="tidy", as_=as_)
    hist, fut = train_test_cut(frame, horizon)
    hist, fut, frame = (pl.from_pandas(x) if as_ == "pandas" else x for x in (hist, fut, frame))
    ref_hist, ref_fut = train_test_cut(
        frame.with_columns(
            ds=(pl.col("ds") - dt.datetime(2024, 1, 1)).dt.total_microseconds() / 3.6e9
        ),
        6.0,
    )
    assert hist.height == ref_hist.height and fut.height == ref_fut.height
    last = frame.group_by("unique_id").agg(pl.col("ds").max())
    cut = fut.group_by("unique_id").agg(pl.col("ds").min())
    gap = last.join(cut, on="unique_id").select(pl.col("ds") - pl.col("ds_right")).to_series()
    assert (gap < dt.timedelta(hours=6)).all()


def test_train_test_cut_single_series_and_errors():
    frame = make_irregular(1, "multirate_sines", length=30.0, shape="long").drop("unique_id")
    hist, fut = train_test_cut(frame, 5.0)
    assert hist["ds"].max() <= frame["ds"].max() - 5.0 < fut["ds"].min()
    with pytest.raises(TypeError):
        train_test_cut(frame, "5h")
    with pytest.raises(TypeError):
        train_test_cut(frame.to_numpy(), 5.0)


# --------------------------------------------------------------------------- forecastability
def _last_and_mean(hist: pl.DataFrame, fut: pl.DataFrame) -> pl.DataFrame:
    key = ["unique_id", "variable"]
    stats = hist.group_by(key).agg(
        last=pl.col("value").sort_by("ds").last(), mean=pl.col("value").mean()
    )
    return fut.join(stats, on=key, how="inner")


def _periodogram_forecast(th, yh, tf, periods, n_terms=2):
    """Oracle-free: greedily pick ``n_terms`` periods from a grid by least squares on the
    history, refit, extrapolate. Knows nothing of the generator's parameters."""

    def design(t, ps):  # (..., n) x (P,) -> (P, n, 1 + 2 * terms)
        ang = 2 * np.pi * t[None, :, None] / np.asarray(ps)[:, None, :]
        ones = np.ones((*ang.shape[:2], 1))
        return np.concatenate([ones, np.sin(ang), np.cos(ang)], axis=2)

    def fit(x, y):  # batched ridge-stabilised least squares
        xtx = x.transpose(0, 2, 1) @ x + 1e-6 * np.eye(x.shape[2])
        return np.linalg.solve(xtx, x.transpose(0, 2, 1) @ y[None, :, None])  # (P, k, 1)

    chosen = np.zeros((1, 0))
    for _ in range(n_terms):
        cand = np.concatenate([np.repeat(chosen, len(periods), 0), periods[:, None]], axis=1)
        x = design(th, cand)
        resid = ((x @ fit(x, yh))[..., 0] - yh) ** 2
        chosen = cand[[int(np.argmin(resid.sum(axis=1)))]]
    x = design(th, chosen)
    return (design(tf, chosen) @ fit(x, yh))[0, :, 0]


def test_multirate_sines_is_forecastable():
    noise = 0.1
    frame = make_irregular(12, "multirate_sines", length=100.0, seed=11, shape="tidy", noise=noise)
    hist, fut = train_test_cut(frame, 20.0)
    joined = _last_and_mean(hist, fut)
    assert joined.height == fut.height
    y = joined["value"].to_numpy()
    mse_persist = float(np.mean((y - joined["last"].to_numpy()) ** 2))
    mse_mean = float(np.mean((y - joined["mean"].to_numpy()) ** 2))
    max_noise_var = (2.0 * noise) ** 2  # channel scale <= 2
    # persistence is far from the noise floor: there is signal left to learn
    assert mse_persist > 10 * max_noise_var
    assert mse_mean > 10 * max_noise_var

    # and it is learnable from the history alone: a periodogram fit beats both clearly
    periods = np.geomspace(3.0, 40.0, 200)
    sq = []
    for key, h in hist.group_by("unique_id", "variable"):
        f = fut.filter((pl.col("unique_id") == key[0]) & (pl.col("variable") == key[1]))
        if f.height == 0:
            continue
        pred = _periodogram_forecast(
            h["ds"].to_numpy(), h["value"].to_numpy(), f["ds"].to_numpy(), periods
        )
        sq.append((f["value"].to_numpy() - pred) ** 2)
    mse_fit = float(np.concatenate(sq).mean())
    assert mse_fit < 0.25 * min(mse_persist, mse_mean)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_not_trivially_predictable(family):
    frame = make_irregular(40, family, length=100.0, seed=3, shape="tidy")
    hist, fut = train_test_cut(frame, 20.0)
    joined = _last_and_mean(hist, fut)
    y = joined["value"].to_numpy()
    for col in ("last", "mean"):
        assert float(np.mean((y - joined[col].to_numpy()) ** 2)) > 0.4  # noise var <= 0.04


# --------------------------------------------------------------------------- bundled sample
def test_sample_file_is_what_make_sample_writes(tmp_path):
    path = sample_path()
    assert path.name == "irregular_sample.csv" and path.is_file()
    assert path.stat().st_size < 300_000
    out = make_sample_mod.write_sample(tmp_path / "sample.csv")
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("as_", ["polars", "pandas"])
def test_load_sample(as_):
    tidy = load_sample(as_=as_)
    if as_ == "pandas":
        assert isinstance(tidy, pd.DataFrame)
        assert pd.api.types.is_datetime64_any_dtype(tidy["ds"])
        tidy = pl.from_pandas(tidy)
    assert tidy.columns == ["unique_id", "ds", "variable", "value"]
    assert isinstance(tidy.schema["ds"], pl.Datetime)
    assert tidy["unique_id"].n_unique() == 40
    assert sorted(tidy["variable"].unique()) == CHANNELS
    assert 2_000 <= tidy.height <= 8_000
    span = tidy["ds"].max() - tidy["ds"].min()
    assert dt.timedelta(days=2) < span <= dt.timedelta(days=3)
    expected = make_sample_mod.build_sample()
    assert tidy.equals(expected)

    wide = load_sample(as_=as_, shape="wide")
    if as_ == "pandas":
        wide = pl.from_pandas(wide)
    assert wide.columns == ["unique_id", "ds", *CHANNELS]
    assert _to_tidy(wide).equals(tidy)


def test_load_sample_bad_arguments():
    with pytest.raises(ValueError):
        load_sample(as_="arrow")
    with pytest.raises(ValueError):
        load_sample(shape="long")

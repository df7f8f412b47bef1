"""Dataframe transformers, their inverses on forecast frames, and the wrapper that undoes them."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from itnet_ts import (
    BoxCoxTransformer,
    ChannelScaler,
    ITNetForecaster,
    ITNetInputError,
    Log1pTransformer,
    TimeCutoffSplitter,
    TimeTransformer,
    TransformedTargetForecaster,
    cross_validation,
)
from itnet_ts.datasets import make_irregular

FAST = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pl(df):
    return df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)


def _positive(shape, as_="polars", datetime=False):
    df = make_irregular(n_series=4, n_channels=2, length=30.0, seed=6, shape=shape,
                        datetime=datetime)  # fmt: skip
    value_cols = {"wide": ["ch0", "ch1"], "tidy": ["value"], "long": ["y"]}[shape]
    df = df.with_columns((pl.col(c) + 5.0).abs() + 0.1 for c in value_cols)
    return df.to_pandas() if as_ == "pandas" else df


TRANSFORMERS = [
    ChannelScaler(),
    ChannelScaler(method="robust", per_series=True),
    ChannelScaler(method="minmax", channels=["ch1"]),
    Log1pTransformer(),
    BoxCoxTransformer(),
    BoxCoxTransformer(method="yeo-johnson"),
    TimeTransformer(origin="series_start", unit=0.5),
]


@pytest.mark.parametrize("tr", TRANSFORMERS, ids=lambda t: repr(t))
@pytest.mark.parametrize(
    ("shape", "as_"), [("wide", "polars"), ("tidy", "pandas"), ("long", "polars")]
)
def test_round_trip_in_every_shape_and_library(tr, shape, as_):
    df = _positive(shape, as_)
    tr = clone(tr)
    if shape == "long" and getattr(tr, "channels", None):
        tr.set_params(channels=["y"])
    out = tr.fit_transform(df)
    assert type(out) is type(df) and list(out.columns) == list(df.columns)
    back = _pl(tr.inverse_transform(out))
    orig = _pl(df)
    for c in orig.columns:
        if orig.schema[c].is_float():
            a, b = orig[c].to_numpy(), back[c].to_numpy()
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9)  # nulls stay null
        else:
            assert back[c].to_list() == orig[c].to_list()


def test_scaler_standardises_each_channel_on_observed_values():
    df = _positive("wide")
    out = ChannelScaler().fit_transform(df)
    for c in ("ch0", "ch1"):
        v = out[c].drop_nulls().to_numpy()
        assert abs(v.mean()) < 1e-9 and v.std() == pytest.approx(1.0)
        assert out[c].null_count() == df[c].null_count()


def test_inverse_on_forecast_frames_maps_intervals_and_keeps_their_order():
    tidy = _positive("tidy")
    pred = pl.DataFrame(
        {
            "unique_id": ["s0000", "s0000"],
            "ds": [40.0, 41.0],
            "variable": ["ch0", "ch1"],
            "y_hat": [0.1, -0.2],
            "y_hat-lo-80": [-0.5, -1.0],
            "y_hat-hi-80": [0.6, 0.4],
            "y_hat_q0.1": [-0.5, -1.0],
        }
    )
    for tr in (ChannelScaler(), BoxCoxTransformer(), Log1pTransformer()):
        tr.fit(tidy)
        back = tr.inverse_transform(pred)
        assert back.columns == pred.columns
        assert (back["y_hat-lo-80"] <= back["y_hat"]).all()
        assert (back["y_hat"] <= back["y_hat-hi-80"]).all()
        np.testing.assert_allclose(back["y_hat_q0.1"], back["y_hat-lo-80"])
    scaler = ChannelScaler().fit(tidy)
    mean0 = tidy.filter(pl.col("variable") == "ch0")["value"].mean()
    std0 = tidy.filter(pl.col("variable") == "ch0")["value"].std(ddof=0)
    assert scaler.inverse_transform(pred)["y_hat"][0] == pytest.approx(mean0 + 0.1 * std0)


def test_query_frames_pass_value_transforms_unchanged():
    tidy = _positive("tidy")
    times = pl.DataFrame({"unique_id": ["s0000"], "ds": [50.0], "variable": ["ch0"]})
    assert ChannelScaler().fit(tidy).transform(times).equals(times)


def test_transformer_errors():
    tidy = _positive("tidy")
    with pytest.raises(ITNetInputError, match="not seen in fit"):
        ChannelScaler().fit(tidy.filter(pl.col("variable") == "ch0")).transform(tidy)
    with pytest.raises(ITNetInputError, match="not seen in fit"):
        ChannelScaler(per_series=True).fit(tidy.filter(pl.col("unique_id") == "s0000")).transform(
            tidy
        )
    neg = tidy.with_columns(pl.col("value") - 100)
    with pytest.raises(ITNetInputError, match="yeo-johnson"):
        BoxCoxTransformer().fit(neg)
    with pytest.raises(ITNetInputError, match="> -1"):
        Log1pTransformer().fit(neg).transform(neg)
    with pytest.raises(ITNetInputError, match="method"):
        ChannelScaler(method="zscore").fit(tidy)
    with pytest.raises(ITNetInputError, match="not seen in fit"):
        TimeTransformer(origin="series_start").fit(tidy.head(3)).transform(tidy)


def test_time_transformer_datetimes_with_time_zone():
    df = make_irregular(n_series=3, n_channels=1, length=20.0, seed=7, shape="long",
                        datetime=True, as_="pandas")  # fmt: skip
    df["ds"] = df["ds"].dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin")
    tr = TimeTransformer(origin="series_start", unit="30min").fit(df)
    out = tr.transform(df)
    assert out["ds"].dtype == np.float64
    assert out.groupby("unique_id")["ds"].min().tolist() == [0.0, 0.0, 0.0]
    back = tr.inverse_transform(out)
    assert back["ds"].dtype == df["ds"].dtype
    assert (back["ds"] == df["ds"]).all()
    fixed = TimeTransformer(origin="2024-01-01", unit="1h").fit(df).transform(df)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    expected = (df["ds"] - start) / pd.Timedelta("1h")
    np.testing.assert_allclose(fixed["ds"], expected)


# ---- with the model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_units():
    """Values in the thousands, datetime stamps."""
    df = make_irregular(n_series=5, n_channels=2, length=30.0, seed=8, shape="tidy",
                        datetime=True)  # fmt: skip
    return df.with_columns(pl.col("value") * 1000 + 5000)


def test_wrapper_forecasts_in_original_units(big_units):
    tt = TransformedTargetForecaster(
        ITNetForecaster(**FAST, horizon=4.0, scaling="none"),
        Pipeline([("time", TimeTransformer(origin="series_start")), ("scale", ChannelScaler())]),
    )
    assert tt.fit(big_units) is tt
    assert not hasattr(tt.forecaster, "model_") and hasattr(tt.forecaster_, "model_")
    pred = tt.predict(h=2.0)  # h in the transformed time unit (hours)
    assert pred.schema["ds"] == big_units.schema["ds"]
    assert pred["y_hat"].min() > 0  # back in the thousands
    last = big_units.group_by("unique_id").agg(pl.col("ds").max())
    first = pred.group_by("unique_id").agg(pl.col("ds").min().alias("q")).join(last, on="unique_id")
    assert (first["q"] > first["ds"]).all()
    # explicit query times go in original units and come back unchanged
    times = last.with_columns(pl.col("ds") + pl.duration(minutes=90))
    at = tt.predict(times=times)
    assert set(at["ds"].to_list()) == set(times["ds"].to_list())
    assert clone(tt).get_params()["forecaster__d_model"] == 16


def test_wrapper_in_cross_validation_grid_search_and_pipeline(big_units):
    tt = TransformedTargetForecaster(ITNetForecaster(**FAST, horizon="4h"), ChannelScaler())
    cv = cross_validation(tt, big_units, n_windows=1, h="4h")
    assert cv["y_hat"].min() > 0 and cv.columns[-1] == "y"
    gs = GridSearchCV(tt, {"forecaster__rank": [2, 4]}, cv=TimeCutoffSplitter(n_splits=1, h="4h"))
    gs.fit(big_units)
    assert gs.best_score_ < 0 and np.isfinite(gs.cv_results_["mean_test_score"]).all()
    pipe = Pipeline([("scale", ChannelScaler()), ("model", ITNetForecaster(**FAST, horizon="4h"))])
    pipe.fit(big_units)
    back = pipe[:-1].inverse_transform(pipe[-1].predict(h="2h"))
    assert back["y_hat"].min() > 0

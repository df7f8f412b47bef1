"""ITNetForecaster end to end on small synthetic data (tiny models: this checks behaviour)."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone

from itnet_ts import ITNetForecaster, ITNetInputError, ITNetModelFileError, ITNetNotFittedError
from itnet_ts.datasets import make_irregular

FAST = dict(d_model=16, rank=4, n_layers=1, max_epochs=2, windows_per_series=4, verbose=False)


@pytest.fixture(scope="module")
def tidy():
    return make_irregular(n_series=12, n_channels=2, length=40.0, seed=3, shape="tidy")


@pytest.fixture(scope="module")
def fitted(tidy):
    return ITNetForecaster(**FAST).fit(tidy)


def _sorted(df):
    df = df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
    return df.sort(df.columns[:-1])


def test_fit_returns_self_with_fitted_attributes(tidy):
    est = ITNetForecaster(**FAST)
    assert est.fit(tidy) is est
    for attr in ("model_", "channels_", "time_unit_", "horizon_", "scaler_", "spec_"):
        assert hasattr(est, attr)
    assert est.channels_ == ("ch0", "ch1")


def test_predict_h_gives_every_channel_at_regular_steps(fitted, tidy):
    pred = fitted.predict(h=3 * fitted.time_unit_)
    assert isinstance(pred, pl.DataFrame)
    assert pred.columns == ["unique_id", "ds", "variable", "y_hat"]
    assert len(pred) == 12 * 3 * 2
    assert pred["y_hat"].is_finite().all()
    last = tidy.group_by("unique_id").agg(pl.col("ds").max().alias("last"))
    first_q = (
        pred.group_by("unique_id").agg(pl.col("ds").min().alias("q")).join(last, on="unique_id")
    )
    np.testing.assert_allclose(first_q["q"] - first_q["last"], fitted.time_unit_, rtol=1e-9)


def test_pandas_and_polars_give_the_same_forecasts(tidy):
    a = ITNetForecaster(**FAST).fit(tidy).predict(h=2.0)
    b = ITNetForecaster(**FAST).fit(tidy.to_pandas()).predict(h=2.0)
    assert isinstance(b, pd.DataFrame)
    np.testing.assert_allclose(_sorted(a)["y_hat"], _sorted(b)["y_hat"], rtol=1e-5, atol=1e-6)


def test_row_order_and_time_shift_change_nothing(tidy):
    base = _sorted(ITNetForecaster(**FAST).fit(tidy).predict(h=2.0))
    shuffled = tidy.sample(fraction=1.0, shuffle=True, seed=1)
    shifted = tidy.with_columns(pl.col("ds") + 12345.0)
    a = _sorted(ITNetForecaster(**FAST).fit(shuffled).predict(h=2.0))
    b = _sorted(ITNetForecaster(**FAST).fit(shifted).predict(h=2.0))
    np.testing.assert_allclose(a["y_hat"], base["y_hat"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["y_hat"], base["y_hat"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b["ds"] - 12345.0, base["ds"], rtol=1e-12)


def test_datetime_input_gives_datetime_output():
    df = make_irregular(n_series=6, n_channels=2, length=30.0, seed=4, shape="wide", datetime=True)
    est = ITNetForecaster(**FAST).fit(df)
    pred = est.predict(h="3h")
    assert pred.schema["ds"] == df.schema["ds"]
    assert (pred.group_by("unique_id").len()["len"] > 0).all()


def test_explicit_query_times_and_unseen_series(fitted, tidy):
    last = tidy.group_by("unique_id").agg(pl.col("ds").max())
    times = last.with_columns(pl.col("ds") + 0.37).vstack(last.with_columns(pl.col("ds") + 1.9))
    pred = fitted.predict(times=times)
    assert len(pred) == len(times) * 2  # every channel when no variable column
    per_channel = times.with_columns(pl.lit("ch1").alias("variable"))
    assert len(fitted.predict(times=per_channel)) == len(times)
    new = make_irregular(n_series=3, n_channels=2, length=40.0, seed=99, shape="tidy")
    new = new.with_columns(("new_" + pl.col("unique_id")).alias("unique_id"))
    pred_new = fitted.predict(h=2.0, df=new)
    assert set(pred_new["unique_id"]) == set(new["unique_id"])


def test_query_at_or_before_cutoff_is_an_error(fitted, tidy):
    last = tidy.group_by("unique_id").agg(pl.col("ds").max())
    with pytest.raises(ITNetInputError, match="after the cutoff"):
        fitted.predict(times=last)


def test_save_load_round_trip(fitted, tidy, tmp_path):
    path = tmp_path / "model.itnet"
    fitted.save(path)
    loaded = ITNetForecaster.load(path)
    a = fitted.predict(h=2.0)
    b = loaded.predict(h=2.0, df=tidy)
    np.testing.assert_allclose(a["y_hat"], b["y_hat"], rtol=1e-6)
    with pytest.raises(ITNetInputError, match="already exists"):
        fitted.save(path)
    with pytest.raises(ITNetInputError, match=r"predict\(df=\.\.\.\)"):
        loaded.predict(h=2.0)


def test_tampered_or_truncated_model_file_is_refused(fitted, tmp_path):
    path = tmp_path / "m.itnet"
    fitted.save(path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    (tmp_path / "tampered.itnet").write_bytes(raw)
    with pytest.raises(ITNetModelFileError, match="integrity"):
        ITNetForecaster.load(tmp_path / "tampered.itnet")
    (tmp_path / "short.itnet").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ITNetModelFileError):
        ITNetForecaster.load(tmp_path / "short.itnet")


def test_sklearn_contract(tidy):
    est = ITNetForecaster(d_model=8, horizon="3h")
    assert est.get_params()["d_model"] == 8
    assert est.set_params(rank=3) is est and est.rank == 3
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "model_")
    with pytest.raises(ITNetNotFittedError):
        est.predict(h=1.0)


@pytest.mark.parametrize(
    ("param", "value"),
    [("d_model", 0), ("dropout", 1.5), ("duplicates", "first"), ("weights", "x"), ("horizon", -1)],
)
def test_invalid_parameters_name_the_parameter(tidy, param, value):
    with pytest.raises(ITNetInputError, match=param):
        ITNetForecaster(**{**FAST, param: value}).fit(tidy)


def test_same_seed_same_model_on_cpu(tidy):
    a = ITNetForecaster(**FAST, random_state=7).fit(tidy).predict(h=2.0)
    b = ITNetForecaster(**FAST, random_state=7).fit(tidy).predict(h=2.0)
    np.testing.assert_array_equal(a["y_hat"], b["y_hat"])

"""``ITNetForecaster(periodic=...)``: the periodic predictor, on where the data is periodic."""

import numpy as np
import polars as pl
import pytest

from itnet_ts import ITNetForecaster, ITNetInputError
from itnet_ts.datasets import make_irregular

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = dict(d_model=8, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


@pytest.fixture(scope="module")
def light_curves() -> pl.DataFrame:
    # once a night over 120 nights, periods 0.2-0.9: far sparser than the period
    return make_irregular(n_series=24, family="sparse_periodic", length=120.0, seed=1)


def test_auto_turns_it_on_for_light_curves_and_round_trips(light_curves, tmp_path):
    est = ITNetForecaster(horizon=10.0, **TINY).fit(light_curves)
    info = est.get_fitted_summary()["validation"]["periodic"]
    assert info["enabled"] and info["ratio"] < 0.5  # seed 1: 0.30 of the history mean's MSE
    assert info["period_min"] < 0.2 and info["n_freq"] > 100
    assert est.model_.n_predictors == 7
    pred = est.predict(h=3.0)
    assert np.isfinite(pred["y_hat"].to_numpy()).all()
    est.save(tmp_path / "m.itnet")
    back = ITNetForecaster.load(tmp_path / "m.itnet")
    assert back.config_.period_grid == est.config_.period_grid
    again = back.predict(h=3.0, df=light_curves)
    np.testing.assert_allclose(again["y_hat"], pred["y_hat"], rtol=1e-5, atol=1e-6)


def test_auto_leaves_it_off_for_noise_around_a_level():
    df = make_irregular(n_series=16, family="noisy_level", length=60.0, seed=2)
    est = ITNetForecaster(horizon=5.0, **TINY).fit(df)
    info = est.get_fitted_summary()["validation"]["periodic"]
    assert not info["enabled"] and info["ratio"] > 0.8  # seed 2: 1.24
    assert est.config_.period_grid is None and est.model_.n_predictors == 6


def test_forcing_it(light_curves):
    off = ITNetForecaster(horizon=10.0, periodic=False, **TINY).fit(light_curves)
    assert off.config_.period_grid is None
    assert off.get_fitted_summary()["validation"]["periodic"] == {
        "setting": False, "enabled": False}  # fmt: skip
    with pytest.raises(ITNetInputError, match="needs start='mix'") as err:
        ITNetForecaster(horizon=10.0, periodic=True, start="persistence", **TINY).fit(light_curves)
    assert err.value.param == "periodic"
    with pytest.raises(ITNetInputError, match="periodic must be 'auto', True or False"):
        ITNetForecaster(horizon=10.0, periodic=1, **TINY).fit(light_curves)

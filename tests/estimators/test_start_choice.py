"""``ITNetForecaster(start="auto")``: the network trained from each start on the same windows
with the same seed, the one with the lower validation MSE kept and reported."""

import warnings

import numpy as np
import polars as pl
import pytest

from itnet_ts import BaselineFallbackWarning, ITNetForecaster, ITNetInputError
from itnet_ts.datasets import make_irregular

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = dict(d_model=8, rank=4, n_layers=1, max_epochs=2, windows_per_series=2, verbose=False)


def _fit(df, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ITNetForecaster(**SMALL, **params).fit(df)
    fallback = [str(w.message) for w in caught if issubclass(w.category, BaselineFallbackWarning)]
    return est, fallback


@pytest.mark.parametrize("family", ["damped_oscillators", "trend_gaps"])
def test_auto_keeps_the_start_with_the_lower_validation_mse_and_equals_that_fit(family, tmp_path):
    df = make_irregular(n_series=24, n_channels=2, length=60.0, seed=3, family=family)
    auto, auto_warned = _fit(df, start="auto", random_state=1)
    choice = auto.get_fitted_summary()["validation"]["start_choice"]
    scores = choice["starts"]
    assert set(scores) == {"mix", "persistence"} and all(np.isfinite(list(scores.values())))
    chosen = choice["chosen"]
    other = "persistence" if chosen == "mix" else "mix"
    assert scores[chosen] <= scores[other]
    assert auto.config_.start == chosen
    # the kept network is the one a fit with that start alone gives (same windows, same seed),
    # with the same baseline check and warnings
    alone, alone_warned = _fit(df, start=chosen, random_state=1)
    assert auto.validation_["mse_fitted"] == pytest.approx(scores[chosen], rel=1e-12)
    assert alone.validation_["mse_fitted"] == pytest.approx(scores[chosen], rel=1e-6)
    np.testing.assert_allclose(
        auto.predict(h=6.0)["y_hat"].to_numpy(), alone.predict(h=6.0)["y_hat"].to_numpy(),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    assert auto_warned == alone_warned
    auto.save(tmp_path / "m")
    loaded = ITNetForecaster.load(tmp_path / "m")
    assert loaded.start == "auto" and loaded.config_.start == chosen
    np.testing.assert_array_equal(
        loaded.predict(df=df, h=6.0)["y_hat"].to_numpy(),
        auto.predict(df=df, h=6.0)["y_hat"].to_numpy(),
    )
    # and the other start, fit alone, has the validation MSE the choice saw
    rival, _ = _fit(df, start=other, random_state=1)
    assert rival.validation_["mse_fitted"] == pytest.approx(scores[other], rel=1e-6)


def test_a_single_start_reports_no_choice_and_bad_starts_are_refused():
    df = make_irregular(n_series=12, n_channels=1, length=40.0, seed=0, family="mixed")
    est, _ = _fit(df, start="mix")
    assert "start_choice" not in est.validation_
    with pytest.raises(ITNetInputError, match="start"):
        ITNetForecaster(start="best").fit(df)


def test_auto_without_validation_windows_trains_the_mix_only():
    # every series far shorter than the horizon: no validation windows to choose on
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"unique_id": np.repeat(["a", "b", "c", "d"], 6),
                       "ds": np.tile(np.arange(6.0), 4), "y": rng.normal(size=24)})  # fmt: skip
    est, _ = _fit(df, start="auto", horizon=100.0)
    assert est.config_.start == "mix"
    assert est.validation_["start_choice"]["starts"] == {"mix": None}
    assert est.validation_["start_choice"]["chosen"] == "mix"


def test_auto_progress_says_which_training_is_running(capsys):
    df = make_irregular(n_series=12, n_channels=1, length=40.0, seed=0, family="mixed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        ITNetForecaster(**{**SMALL, "verbose": True}, start="auto").fit(df)
    err = capsys.readouterr().err
    assert "training from mix (1/2)" in err and "training from persistence (2/2)" in err

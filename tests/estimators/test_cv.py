"""Backtesting: ``cross_validation`` windows by time, ``TimeCutoffSplitter``, ``score``,
``GridSearchCV``. The window logic is checked exactly with a persistence stub; a few tests
run the real (tiny) ITNet."""

from typing import ClassVar

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, cross_validate

from itnet_ts import (
    ITNetForecaster,
    ITNetInputError,
    TimeCutoffSplitter,
    cross_validation,
    evaluate,
)
from itnet_ts.datasets import make_irregular

FAST = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Persistence(BaseEstimator):
    """Forecasts each channel's last observed value; records what it was fit on."""

    fits: ClassVar[list] = []

    def __init__(self, tag: int = 0):
        self.tag = tag

    def fit(self, df, y=None, **cols):
        frame = df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
        Persistence.fits.append(frame)
        self.cols_ = cols
        self.history_ = frame
        return self

    def predict(self, h=None, *, df=None, times=None, freq=None):
        hist = self.history_ if df is None else df
        hist = hist if isinstance(hist, pl.DataFrame) else pl.from_pandas(hist)
        value = next(c for c in ("value", "y") if c in hist.columns)
        keys = [c for c in ("unique_id", "variable") if c in hist.columns]
        if not keys:
            last = hist.sort("ds").select(pl.col(value).last().alias("y_hat"))
            return times.join(last, how="cross").sort("ds")
        last = hist.sort("ds").group_by(keys).agg(pl.col(value).last().alias("y_hat"))
        return times.join(last, on=keys, how="left").sort([*keys, "ds"])


@pytest.fixture(scope="module")
def tidy():
    return make_irregular(n_series=5, n_channels=2, length=30.0, seed=1, shape="tidy")


def _expected_rows(tidy, cutoff, h):
    return tidy.filter((pl.col("ds") > cutoff) & (pl.col("ds") <= cutoff + h))


def test_windows_are_cut_by_time_and_forecast_from_data_before_the_cutoff(tidy):
    Persistence.fits.clear()
    cv = cross_validation(Persistence(), tidy, n_windows=3, h=4.0, step_size=3.0)
    assert cv.columns == ["unique_id", "ds", "cutoff", "variable", "y_hat", "y"]
    t_end = tidy["ds"].max()
    assert sorted(cv["cutoff"].unique()) == pytest.approx([t_end - 10, t_end - 7, t_end - 4])
    assert ((cv["ds"] > cv["cutoff"]) & (cv["ds"] <= cv["cutoff"] + 4.0)).all()
    assert len(Persistence.fits) == 3  # refit=True: one fit per window
    for cutoff, fitted in zip(sorted(cv["cutoff"].unique()), Persistence.fits, strict=True):
        assert fitted["ds"].max() <= cutoff  # no model sees data after its cutoff
        part = cv.filter(pl.col("cutoff") == cutoff)
        want = _expected_rows(tidy, cutoff, 4.0)
        assert len(part) == len(want)  # every observation of the window, nothing else
        # y is the observed value; y_hat the last value at or before the cutoff
        joined = part.join(want, on=["unique_id", "ds", "variable"])
        np.testing.assert_array_equal(joined["y"], joined["value"])
        last = (
            tidy.filter(pl.col("ds") <= cutoff).sort("ds").group_by("unique_id", "variable")
            .agg(pl.col("value").last())
        )  # fmt: skip
        check = part.join(last, on=["unique_id", "variable"])
        np.testing.assert_allclose(check["y_hat"], check["value"])


@pytest.mark.parametrize(("refit", "n_fits"), [(True, 4), (False, 1), (2, 2), (3, 2)])
def test_refit_schedule(tidy, refit, n_fits):
    Persistence.fits.clear()
    cv = cross_validation(Persistence(), tidy, n_windows=4, h=2.0, refit=refit)
    assert len(Persistence.fits) == n_fits
    first_cutoff = cv["cutoff"].min()
    assert Persistence.fits[0]["ds"].max() <= first_cutoff  # fit once = on the first window


def test_series_alignment_counts_back_from_each_series_end(tidy):
    cv = cross_validation(Persistence(), tidy, n_windows=2, h=3.0, align="series")
    ends = tidy.group_by("unique_id").agg(pl.col("ds").max().alias("end"))
    got = cv.group_by("unique_id").agg(pl.col("cutoff").unique().sort()).join(ends, on="unique_id")
    for row in got.iter_rows(named=True):
        assert row["cutoff"] == pytest.approx([row["end"] - 6.0, row["end"] - 3.0])


def test_pandas_datetime_wide_input_round_trips_types():
    wide = make_irregular(n_series=4, n_channels=2, length=30.0, seed=2, shape="wide",
                          datetime=True, as_="pandas")  # fmt: skip
    cv = cross_validation(Persistence(), wide, n_windows=2, h="5h")
    assert isinstance(cv, pd.DataFrame)
    assert cv["ds"].dtype == wide["ds"].dtype and cv["cutoff"].dtype == wide["ds"].dtype
    t_end = wide["ds"].max()
    assert sorted(cv["cutoff"].unique()) == [
        t_end - pd.Timedelta("10h"),
        t_end - pd.Timedelta("5h"),
    ]
    observed = wide.melt(["unique_id", "ds"], var_name="variable").dropna()
    merged = cv.merge(observed, on=["unique_id", "ds", "variable"])
    assert len(merged) == len(cv)
    np.testing.assert_array_equal(merged["y"], merged["value"])


def test_long_single_series_input():
    long = make_irregular(n_series=1, n_channels=1, length=30.0, seed=3, shape="long")
    cv = cross_validation(Persistence(), long.drop("unique_id"), n_windows=2, h=5.0)
    assert cv.columns == ["ds", "cutoff", "y_hat", "y"]


def test_argument_errors(tidy):
    with pytest.raises(ITNetInputError, match="h="):
        cross_validation(Persistence(), tidy, n_windows=2)
    with pytest.raises(ITNetInputError, match="n_windows"):
        cross_validation(Persistence(), tidy, n_windows=0, h=2.0)
    with pytest.raises(ITNetInputError, match="refit"):
        cross_validation(Persistence(), tidy, h=2.0, refit=-1)
    with pytest.raises(ITNetInputError, match="align"):
        cross_validation(Persistence(), tidy, h=2.0, align="local")
    with pytest.raises(ITNetInputError, match="before the start of the data"):
        cross_validation(Persistence(), tidy, n_windows=20, h=2.0)
    with pytest.raises(ITNetInputError, match="time span"):
        cross_validation(Persistence(), tidy, h="2h")


# ---- splitter -------------------------------------------------------------------------


@pytest.mark.parametrize("as_", ["polars", "pandas"])
def test_splitter_folds_by_time(as_):
    wide = make_irregular(n_series=4, n_channels=2, length=30.0, seed=4, shape="wide", as_=as_)
    sp = TimeCutoffSplitter(n_splits=3, h=4.0, step_size=2.0)
    assert sp.get_n_splits() == 3
    ds = np.asarray(wide["ds"])
    t_end = ds.max()
    folds = list(sp.split(wide))
    assert len(folds) == 3
    for (train, test), cutoff in zip(folds, [t_end - 8, t_end - 6, t_end - 4], strict=True):
        assert set(train).isdisjoint(test)
        np.testing.assert_array_equal(train, np.flatnonzero(ds <= cutoff))
        np.testing.assert_array_equal(test, np.flatnonzero((ds > cutoff) & (ds <= cutoff + 4)))


def test_splitter_errors():
    wide = make_irregular(n_series=2, n_channels=1, length=10.0, seed=5, shape="wide")
    with pytest.raises(ITNetInputError, match="no training rows"):
        list(TimeCutoffSplitter(n_splits=50, h=1.0).split(wide))
    sp = TimeCutoffSplitter(n_splits=2, h="1h", time_col="ds")
    assert "h='1h'" in repr(sp)
    with pytest.raises(ITNetInputError, match="time span"):
        list(sp.split(wide))


# ---- with the real model -----------------------------------------------------------------


@pytest.fixture(scope="module")
def wide():
    return make_irregular(n_series=5, n_channels=2, length=30.0, seed=1, shape="wide")


def test_itnet_cross_validation_and_score_agree(wide):
    est = ITNetForecaster(**FAST, horizon=4.0)
    cv = est.cross_validation(wide, n_windows=2, h=4.0)
    assert not hasattr(est, "model_")  # works on clones
    assert np.isfinite(cv["y_hat"].to_numpy()).all()
    mse_by_cutoff = evaluate(cv, by="cutoff", metrics=["mse"])["mse"].to_numpy()
    # the splitter + score reproduce the windows: same data, same seed, same models
    scores = cross_validate(est, wide, cv=TimeCutoffSplitter(n_splits=2, h=4.0))["test_score"]
    np.testing.assert_allclose(-scores, mse_by_cutoff, rtol=1e-4)


def test_grid_search_on_a_dataframe(wide):
    X = wide.to_pandas()  # cross_validate above runs on polars
    gs = GridSearchCV(
        ITNetForecaster(**FAST, horizon=4.0), {"d_model": [8, 16]},
        cv=TimeCutoffSplitter(n_splits=2, h=4.0),
    )  # fmt: skip
    gs.fit(X)
    assert gs.best_params_["d_model"] in (8, 16)
    assert np.isfinite(gs.cv_results_["mean_test_score"]).all()
    assert (gs.cv_results_["mean_test_score"] < 0).all()  # negative MSE: higher is better
    assert gs.best_estimator_.predict(h=2.0).shape[0] > 0


def test_score_needs_observations_after_the_training_data(wide, tmp_path):
    est = ITNetForecaster(**FAST, horizon=4.0).fit(wide)
    with pytest.raises(ITNetInputError, match="no observation after"):
        est.score(wide)
    est.save(tmp_path / "m.itnet")
    loaded = ITNetForecaster.load(tmp_path / "m.itnet")
    with pytest.raises(ITNetInputError, match="loaded from a file"):
        loaded.score(wide)

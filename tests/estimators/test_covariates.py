"""Static (``fit(df, static_df=...)``) and known-future (``futr_exog_list`` +
``predict(futr_df=...)``) covariates: they help where they matter, bad ones are refused."""

import numpy as np
import pandas as pd
import polars as pl
import pytest

from itnet_ts import ITNetForecaster, ITNetInputError
from itnet_ts.datasets import make_covariate_series

TINY = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)
CUT = 32.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def both():
    return make_covariate_series(8, "both", length=40.0, seed=1)


@pytest.fixture(scope="module")
def fitted(both):
    est = ITNetForecaster(**TINY, futr_exog_list=["promo"])
    return est.fit(both.df.filter(pl.col("ds") <= CUT), static_df=both.static_df)


def _heldout_mse(est, data, **predict_kw):
    test = data.df.filter(pl.col("ds") > CUT)
    if "promo" in (est.get_params()["futr_exog_list"] or []):
        predict_kw["futr_df"] = test.select("unique_id", "ds", "promo")
    pred = est.predict(times=test.select("unique_id", "ds"), **predict_kw)
    joined = test.join(pred, on=["unique_id", "ds"])
    assert joined.height == test.height
    return float(((joined["y"] - joined["y_hat"]) ** 2).mean())


@pytest.mark.parametrize("kind", ["static", "futr"])
def test_covariates_beat_the_plain_model_where_they_matter(kind):
    """static: each series' trend is its static covariate; futr: a shared promo calendar
    shifts the level. The plain model cannot know the promo calendar, and sees the trend only
    through its history; with covariates the held-out MSE drops well below the plain model's
    (measured 0.63x static, 0.22x futr, seed 0, with the first mix). The second mix reads most
    of a trend from the history itself (plain model 1.76 vs 1.50 with the covariate, 0.85x),
    so the static case starts both models from persistence, which tests the network's
    covariate pathway alone (measured 1.42 vs 3.25, 0.44x)."""
    data = make_covariate_series(32, kind, length=40.0, seed=0)
    train = data.df.filter(pl.col("ds") <= CUT)
    params = dict(
        d_model=16,
        rank=8,
        n_layers=1,
        max_epochs=6,
        windows_per_series=16,
        learning_rate=5e-3,
        horizon=8.0,
        verbose=False,
        start="persistence" if kind == "static" else "mix",
    )
    plain = ITNetForecaster(**params).fit(train.drop("promo", strict=False))
    futr = ["promo"] if kind == "futr" else None
    cov = ITNetForecaster(**params, futr_exog_list=futr).fit(train, static_df=data.static_df)
    mse_plain, mse_cov = _heldout_mse(plain, data), _heldout_mse(cov, data)
    assert mse_cov < 0.75 * mse_plain, (mse_cov, mse_plain)


def test_config_and_save_load_keep_the_covariates(fitted, both, tmp_path):
    assert fitted.config_.n_static == 1 and fitted.config_.n_futr == 1
    assert fitted.covariates_.static_cols == ("drift",)
    assert fitted.covariates_.futr_cols == ("promo",)
    fitted.save(tmp_path / "m.safetensors")
    loaded = ITNetForecaster.load(tmp_path / "m.safetensors")
    assert loaded.covariates_.static_cols == ("drift",)
    np.testing.assert_array_equal(loaded.covariates_.futr_scale, fitted.covariates_.futr_scale)
    hist = both.df.filter(pl.col("ds") <= CUT)
    fut = fitted.make_future_dataframe(h=3.0)
    fut = both.with_futr(fut)
    a = fitted.predict(h=3.0, futr_df=fut).sort("unique_id", "ds")
    b = loaded.predict(df=hist, h=3.0, futr_df=fut, static_df=both.static_df)
    np.testing.assert_allclose(a["y_hat"], b.sort("unique_id", "ds")["y_hat"], rtol=1e-5)
    # a loaded model holds no statics: series passed with df= need static_df=
    with pytest.raises(ITNetInputError, match=r"static covariates \['drift'\]; pass static_df="):
        loaded.predict(df=hist, h=3.0, futr_df=fut)


def test_models_without_covariates_are_unchanged(both):
    est = ITNetForecaster(**TINY, start="persistence").fit(both.df.drop("promo"))
    assert est.config_.n_static == 0 and est.config_.n_futr == 0
    assert not any("static" in k for k in est.model_.state_dict())
    # the first layers keep their pre-covariate (and pre-"mix") sizes: saved models still load
    C, F = 1, est.model_.time_feat.out_dim
    assert est.model_.embed[0].in_features == 4 * C + F
    assert est.model_.query_mlp[0].in_features == 2 * F + 4
    with pytest.raises(ITNetInputError, match="without known-future covariates"):
        est.predict(h=1.0, futr_df=both.df.select("unique_id", "ds", "promo"))
    with pytest.raises(ITNetInputError, match="without static covariates"):
        est.predict(df=both.df.drop("promo"), h=1.0, static_df=both.static_df)


def test_pandas_frames_and_boolean_flags(both):
    df = both.df.filter(pl.col("ds") <= CUT).to_pandas()
    df["promo"] = df["promo"] > 0.5
    est = ITNetForecaster(**TINY, futr_exog_list=["promo"])
    est.fit(df, static_df=both.static_df.to_pandas())
    fut = est.make_future_dataframe(h=2.0)
    assert isinstance(fut, pd.DataFrame) and list(fut.columns) == ["unique_id", "ds"]
    fut = both.with_futr(fut)
    fut["promo"] = fut["promo"] > 0.5
    pred = est.predict(h=2.0, futr_df=fut)
    assert isinstance(pred, pd.DataFrame) and np.isfinite(pred["y_hat"]).all()


# ---- bad input ---------------------------------------------------------------------------


def _train(both):
    return both.df.filter(pl.col("ds") <= CUT)


def test_missing_futr_column_at_fit(both):
    est = ITNetForecaster(**TINY, futr_exog_list=["promo", "discount"])
    with pytest.raises(ITNetInputError, match=r"lacks the known-future covariate column.*discount"):
        est.fit(_train(both))


def test_non_numeric_futr_column(both):
    df = _train(both).with_columns(pl.col("promo").cast(pl.String))
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit("yes"))
        .otherwise(pl.col("promo"))
        .alias("promo")
    )
    est = ITNetForecaster(**TINY, futr_exog_list=["promo"])
    with pytest.raises(ITNetInputError, match=r"covariate column 'promo' is not numeric.*row 5"):
        est.fit(df)


def test_missing_futr_value_at_an_observation(both):
    df = _train(both).with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("promo")).alias("promo")
    )
    est = ITNetForecaster(**TINY, futr_exog_list=["promo"])
    with pytest.raises(ITNetInputError, match=r"row 7 \(series 's000'.*'promo'"):
        est.fit(df)


def test_futr_df_missing_or_incomplete_at_predict(fitted, both):
    with pytest.raises(
        ITNetInputError, match=r"pass their values.*futr_df=.*make_future_dataframe"
    ):
        fitted.predict(h=2.0)
    fut = fitted.make_future_dataframe(h=2.0).with_columns(promo=pl.lit(0.0))
    with pytest.raises(
        ITNetInputError, match=r"futr_df has no row for series 's000' at query time"
    ):
        fitted.predict(h=2.0, futr_df=fut.slice(1))
    with pytest.raises(ITNetInputError, match=r"null/NaN in row 0 .*'promo'"):
        fitted.predict(
            h=2.0,
            futr_df=fut.with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(None)
                .otherwise(pl.col("promo"))
                .alias("promo")
            ),
        )
    with pytest.raises(ITNetInputError, match=r"futr_df lacks the column.*promo"):
        fitted.predict(h=2.0, futr_df=fut.drop("promo"))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: s.with_columns(pl.col("drift").cast(pl.String) + "x"),
            r"'drift' is not numeric",
        ),
        (
            lambda s: s.with_columns(
                pl.when(pl.int_range(pl.len()) == 2)
                .then(None)
                .otherwise(pl.col("drift"))
                .alias("drift")
            ),
            r"'drift' is missing \(null/NaN\) in row 2 \(series 's002'\)",
        ),
        (lambda s: s.slice(1), r"static_df has no row for series \['s000'\]"),
        (lambda s: pl.concat([s, s.head(1)]), r"series 's000' appears in rows \[0, 8\]"),
        (lambda s: s.select("unique_id"), r"static_df has no covariate columns"),
        (lambda s: s.rename({"unique_id": "id"}), r"static_df lacks the column.*unique_id"),
    ],
    ids=["non-numeric", "nan", "missing-series", "duplicate", "no-columns", "no-id"],
)
def test_bad_static_df_at_fit(both, change, message):
    with pytest.raises(ITNetInputError, match=message):
        ITNetForecaster(**TINY).fit(_train(both).drop("promo"), static_df=change(both.static_df))


def test_static_df_lacking_a_fitted_column_at_predict(fitted, both):
    hist = _train(both).filter(pl.col("unique_id") == "s000").with_columns(unique_id=pl.lit("new"))
    fut = pl.DataFrame({"unique_id": ["new"], "ds": [100.0], "promo": [0.0]})
    static = pl.DataFrame({"unique_id": ["new"], "other": [1.0]})
    with pytest.raises(ITNetInputError, match=r"static_df lacks the column.*drift"):
        fitted.predict(df=hist, times=fut.select("unique_id", "ds"), futr_df=fut, static_df=static)
    with pytest.raises(ITNetInputError, match=r"no static covariates for series \['new'\]"):
        fitted.predict(df=hist, times=fut.select("unique_id", "ds"), futr_df=fut)
    ok = fitted.predict(
        df=hist,
        times=fut.select("unique_id", "ds"),
        futr_df=fut,
        static_df=static.rename({"other": "drift"}),
    )
    assert ok.height == 1


def test_futr_exog_list_is_validated():
    with pytest.raises(ITNetInputError, match="futr_exog_list"):
        ITNetForecaster(futr_exog_list="promo").fit(pl.DataFrame({"ds": [0.0, 1.0], "y": [1, 2]}))
    with pytest.raises(ITNetInputError, match="the time column"):
        ITNetForecaster(futr_exog_list=["ds"]).fit(pl.DataFrame({"ds": [0.0, 1.0], "y": [1, 2]}))

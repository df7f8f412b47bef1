"""Metrics: array functions against hand computations, and ``evaluate`` on forecast frames."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from itnet_ts import ITNetInputError
from itnet_ts.metrics import (
    coverage,
    evaluate,
    mae,
    mase,
    mse,
    naive_scale,
    pinball_loss,
    rmse,
    rmsse,
)

NAN = float("nan")


def test_point_metrics_by_hand_and_unobserved_entries_skipped():
    y = [1.0, NAN, 3.0, 5.0]
    p = [2.0, 100.0, 3.0, 3.0]  # the 100 sits where nothing was observed
    assert mae(y, p) == pytest.approx((1 + 0 + 2) / 3)
    assert mse(y, p) == pytest.approx((1 + 0 + 4) / 3)
    assert rmse(y, p) == pytest.approx(np.sqrt(5 / 3))


def test_point_metric_errors():
    with pytest.raises(ITNetInputError, match="differ in length"):
        mae([1.0, 2.0], [1.0])
    with pytest.raises(ITNetInputError, match="NaN or infinite"):
        mae([1.0, 2.0], [1.0, NAN])
    with pytest.raises(ITNetInputError, match="no observed"):
        mae([NAN], [1.0])
    with pytest.raises(ITNetInputError, match="infinite"):
        mae([np.inf], [1.0])


def test_naive_scale_is_the_mean_step_between_consecutive_observations():
    # irregular: the gaps do not matter, only consecutive observations; NaN = not observed
    hist = [1.0, NAN, 4.0, 2.0, NAN, 2.5]
    assert naive_scale(hist) == pytest.approx((3 + 2 + 0.5) / 3)
    assert naive_scale(hist, "mse") == pytest.approx((9 + 4 + 0.25) / 3)
    assert np.isnan(naive_scale([1.0]))
    assert mase([2.0, 4.0], [3.0, 3.0], hist) == pytest.approx(1.0 / (5.5 / 3))
    assert rmsse([2.0, 4.0], [3.0, 3.0], hist) == pytest.approx(np.sqrt(1.0 / (13.25 / 3)))
    with pytest.raises(ITNetInputError, match="scale"):
        mase([1.0], [1.0], [2.0, 2.0, 2.0])


def test_pinball_and_coverage_by_hand():
    y = np.array([0.0, 1.0, 2.0, NAN])
    f = np.array([1.0, 1.0, 1.0, 9.0])
    # q = 0.9: under-forecast costs 0.9 per unit, over-forecast 0.1
    assert pinball_loss(y, f, 0.9) == pytest.approx((0.1 * 1 + 0 + 0.9 * 1) / 3)
    assert coverage(y, [-1, 1.5, 2.0, 0], [0.5, 2.0, 3.0, 0]) == pytest.approx(2 / 3)
    with pytest.raises(ITNetInputError, match="quantile"):
        pinball_loss(y, f, 1.5)
    with pytest.raises(ITNetInputError, match="cross"):
        coverage([1.0], [2.0], [0.0])


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, 8, elements=finite),
    arrays(np.float64, 8, elements=finite),
    arrays(np.float64, 6, elements=finite),
    st.floats(0.01, 100),
)
def test_metric_identities(y, p, hist, c):
    assert pinball_loss(y, p, 0.5) == pytest.approx(mae(y, p) / 2, rel=1e-9, abs=1e-12)
    assert rmse(y, p) ** 2 == pytest.approx(mse(y, p), rel=1e-9, abs=1e-12)
    assert 0.0 <= coverage(y, np.minimum(p, y), np.maximum(p, y)) == 1.0
    if naive_scale(hist) > 1e-6:  # scaled errors do not depend on the units
        assert mase(c * y, c * p, c * hist) == pytest.approx(mase(y, p, hist), rel=1e-6)


# ---- evaluate ----------------------------------------------------------------------------


@pytest.fixture
def cv_frame():
    """Hand-made cross-validation output: two series, two channels, two cutoffs."""
    return pl.DataFrame(
        {
            "unique_id": ["a", "a", "a", "b", "b", "b"],
            "ds": [5.0, 6.0, 7.0, 5.5, 6.5, 7.5],
            "cutoff": [4.0, 4.0, 6.0, 4.0, 6.0, 6.0],
            "variable": ["x", "y", "x", "x", "x", "y"],
            "y_hat": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "y": [1.5, 2.0, 1.0, 4.0, 6.0, None],  # b/y at 7.5 was not observed
        }
    )


def test_evaluate_overall_matches_array_metrics(cv_frame):
    out = evaluate(cv_frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["n", "mae", "mse", "rmse"]
    y = np.array([1.5, 2.0, 1.0, 4.0, 6.0])
    p = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert out["n"][0] == 5
    assert out["mae"][0] == pytest.approx(mae(y, p))
    assert out["rmse"][0] == pytest.approx(rmse(y, p))


def test_evaluate_by_columns_pandas_in_pandas_out(cv_frame):
    out = evaluate(cv_frame.to_pandas(), by=["unique_id", "variable"], metrics=["mae"])
    assert isinstance(out, pd.DataFrame)
    assert out.to_dict("list") == {
        "unique_id": ["a", "a", "b"],
        "variable": ["x", "y", "x"],
        "n": [2, 1, 2],
        "mae": [pytest.approx(1.25), 0.0, pytest.approx(0.5)],
    }

    def median_ae(y, p):
        return float(np.median(np.abs(y - p)))

    by_cut = evaluate(cv_frame, by="cutoff", metrics=["mse", median_ae])
    assert by_cut["cutoff"].to_list() == [4.0, 6.0]
    assert by_cut.columns == ["cutoff", "n", "mse", "median_ae"]
    assert by_cut["median_ae"].to_list() == [pytest.approx(0.0), pytest.approx(1.5)]


def test_evaluate_against_actuals_in_another_shape():
    fc = pl.DataFrame(
        {
            "unique_id": ["a", "a", "a", "a"],
            "ds": pd.to_datetime(["2024-01-01 01:00", "2024-01-01 01:00", "2024-01-01 02:30",
                                  "2024-01-01 02:30"]),
            "variable": ["hr", "temp", "hr", "temp"],
            "y_hat": [70.0, 37.0, 72.0, 37.5],
        }
    )  # fmt: skip
    wide = pd.DataFrame(
        {
            "unique_id": ["a", "a", "a"],
            "ds": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:30"]),
            "hr": [60.0, 71.0, None],  # hr not observed at 02:30
            "temp": [36.0, None, 38.5],
        }
    )
    out = evaluate(fc, wide, metrics=["mae"], by="variable")
    assert out["variable"].to_list() == ["hr", "temp"]
    assert out["n"].to_list() == [1, 1]
    assert out["mae"].to_list() == [pytest.approx(1.0), pytest.approx(1.0)]


def test_evaluate_long_frames_without_variable_column():
    fc = pl.DataFrame({"unique_id": ["a", "a"], "ds": [3.0, 4.0], "y_hat": [1.0, 1.0]})
    actual = pl.DataFrame({"unique_id": ["a"] * 4, "ds": [1.0, 2.0, 3.0, 4.0],
                           "y": [0.0, 2.0, 2.0, 3.0]})  # fmt: skip
    out = evaluate(fc, actual, train_df=actual.head(2), by="variable")
    assert out["variable"].to_list() == ["y"]
    assert out["mae"][0] == pytest.approx(1.5)
    assert out["mase"][0] == pytest.approx(1.5 / 2.0)  # scale: |2 - 0| over the history


def test_evaluate_scaled_errors_use_history_up_to_each_cutoff(cv_frame):
    train = pl.DataFrame(
        {
            "unique_id": ["a"] * 4 + ["b"] * 3,
            "ds": [1.0, 2.0, 3.0, 5.5, 1.0, 2.0, 3.0],
            "x": [0.0, 1.0, 2.0, 100.0, 0.0, 2.0, 4.0],  # a's jump comes after cutoff 4
            "y": [1.0, 1.0, 3.0, None, None, None, None],
        }
    )
    out = evaluate(cv_frame, by=["unique_id", "variable", "cutoff"], train_df=train,
                   metrics=["mae", "mase"])  # fmt: skip
    rows = {(r["unique_id"], r["variable"], r["cutoff"]): r for r in out.iter_rows(named=True)}
    assert rows[("a", "x", 4.0)]["mase"] == pytest.approx(0.5 / 1.0)  # steps 1, 1
    assert rows[("a", "x", 6.0)]["mase"] == pytest.approx(2.0 / ((1 + 1 + 98) / 3))
    assert rows[("a", "y", 4.0)]["mase"] == pytest.approx(0.0)
    assert rows[("b", "x", 6.0)]["mase"] == pytest.approx(1.0 / 2.0)


def test_evaluate_intervals_and_quantiles():
    fc = pl.DataFrame(
        {
            "unique_id": ["a"] * 4,
            "ds": [1.0, 2.0, 3.0, 4.0],
            "y_hat": [0.0, 0.0, 0.0, 0.0],
            "y_hat-lo-80": [-1.0, -1.0, -1.0, -1.0],
            "y_hat-hi-80": [1.0, 1.0, 1.0, 1.0],
            "y_hat_q0.5": [0.0, 0.0, 0.0, 0.0],
            "y": [0.5, -2.0, 3.0, 0.0],
        }
    )
    out = evaluate(fc)
    assert out.columns == ["n", "mae", "mse", "rmse", "pinball", "coverage_80"]
    assert out["coverage_80"][0] == pytest.approx(0.5)
    y = fc["y"].to_numpy()
    expected = np.mean([pinball_loss(y, fc[c].to_numpy(), q)
                        for q, c in [(0.1, "y_hat-lo-80"), (0.5, "y_hat_q0.5"),
                                     (0.9, "y_hat-hi-80")]])  # fmt: skip
    assert out["pinball"][0] == pytest.approx(expected)


def test_evaluate_errors(cv_frame):
    with pytest.raises(ITNetInputError, match="unknown metric"):
        evaluate(cv_frame, metrics=["mape"])
    with pytest.raises(ITNetInputError, match="train_df"):
        evaluate(cv_frame, metrics=["mase"])
    with pytest.raises(ITNetInputError, match="pinball"):
        evaluate(cv_frame, metrics=["pinball"])
    with pytest.raises(ITNetInputError, match="no actuals"):
        evaluate(cv_frame.drop("y"))
    with pytest.raises(ITNetInputError, match="by='nope'"):
        evaluate(cv_frame, by="nope")
    with pytest.raises(ITNetInputError, match="pairs"):
        evaluate(cv_frame.with_columns(pl.col("y_hat").alias("y_hat-lo-80")))
    far = cv_frame.with_columns(pl.col("ds") + 100)
    with pytest.raises(ITNetInputError, match="no forecast has an observed actual"):
        evaluate(far.drop("y"), cv_frame.select("unique_id", "ds", "variable",
                                                pl.col("y").alias("value")))  # fmt: skip

"""``ITNetForecaster.update``: new observations folded into stored encoder states (``step``)
give the forecasts of re-encoding the extended history from scratch, without encoding."""

import copy
import dataclasses
import itertools

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch

from itnet_ts import ITNetForecaster, ITNetInputError
from itnet_ts.datasets import make_covariate_series, make_irregular
from itnet_ts.model.itnet import ITNet

FAST = dict(d_model=16, rank=4, n_layers=2, max_epochs=1, windows_per_series=2, verbose=False)
CUTS = [18.0, 21.0, 24.0, 27.0, 30.5]


@pytest.fixture(scope="module")
def tidy():
    # asynchronous channels: each channel is observed at its own subset of the time points
    df = make_irregular(n_series=5, n_channels=2, length=30.0, seed=3, shape="tidy")
    assert df.group_by("unique_id", "ds").len()["len"].min() == 1
    return df


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fitted_first(tidy):
    """Fitted on the first part of every series but s0004 (which starts late)."""
    first = tidy.filter((pl.col("ds") <= CUTS[0]) & (pl.col("unique_id") != "s0004"))
    return ITNetForecaster(**FAST).fit(first), first


def _fresh(fitted_first):
    est, first = fitted_first
    return copy.deepcopy(est), first


def _with_model(est, seed=0, **cfg_changes):
    """Swap in an untrained model with a non-zero head (forecasts then depend on the states)."""
    cfg = dataclasses.replace(est.config_, **cfg_changes)
    torch.manual_seed(seed)
    model = ITNet(cfg).eval()
    torch.nn.init.normal_(model.head[-1].weight, std=0.3)
    est.model_, est.config_ = model, cfg
    return est


def _chunks(df, cuts=CUTS):
    for a, b in itertools.pairwise(cuts):
        yield df.filter((pl.col("ds") > a) & (pl.col("ds") <= b))


def _key(frame):
    frame = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    return frame.sort(frame.columns[:-1])


def _assert_same(got, ref):
    got, ref = _key(got), _key(ref)
    assert got.drop("y_hat").equals(ref.drop("y_hat"))
    np.testing.assert_allclose(got["y_hat"], ref["y_hat"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "model_opts",
    [
        {},
        {"decoder": "attention", "weights": "gap"},
        {"decoder": "both", "oscillatory": True, "kwn": True, "selective": True},
        # the periodic predictor with a one-frequency grid (streaming keeps the frequency a
        # series was encoded with; with one candidate re-encoding finds the same)
        {"period_f_min": 0.23, "period_df": 0.01, "period_n_freq": 1},
    ],
    ids=["recurrent", "attention-gap", "both-osc-kwn-sel", "periodic"],
)
def test_updates_match_reencoding_from_scratch(tidy, fitted_first, model_opts, monkeypatch):
    # s0004 has no history at fit: update() adds it (encoded from its new points)
    monkeypatch.setattr("itnet_ts.model.periodic.SEARCH_MIN_OBS", 2)
    est, first = _fresh(fitted_first)
    est = _with_model(est, **model_opts)
    seen = first
    for chunk in _chunks(tidy):
        assert est.update(chunk) is est
        seen = pl.concat([seen, chunk])
        got = est.predict(h=3.0)
        ref = est.predict(df=seen, h=3.0)  # re-encodes the whole extended history
        assert got["unique_id"].n_unique() == seen["unique_id"].n_unique()
        _assert_same(got, ref)
        assert est.history_.times.max() == pytest.approx(float(seen["ds"].max()))
    # the history holds exactly the data seen (so save/reload + re-encoding agree)
    np.testing.assert_array_equal(
        np.diff(est.history_.indptr),
        seen.group_by("unique_id").agg(pl.col("ds").n_unique()).sort("unique_id")["ds"].to_numpy(),
    )


def test_predict_after_update_does_not_encode(tidy, fitted_first, monkeypatch):
    est, _ = _fresh(fitted_first)
    chunks = list(_chunks(tidy))
    est.update(chunks[0])  # the first update encodes every held series once
    calls = []
    orig = ITNet.encode
    monkeypatch.setattr(ITNet, "encode", lambda self, b: calls.append(1) or orig(self, b))
    for chunk in chunks[1:]:
        est.update(chunk)  # encodes only series it has never seen (s0004)
        calls.clear()
        est.predict(h=2.0)
        est.predict(times=est.make_future_dataframe(h=1.0))
        assert calls == []
    # predict(df=...) still re-encodes what it is given
    est.predict(df=tidy, h=1.0)
    assert calls


def test_datetime_pandas_wide_updates(tidy):
    df = make_irregular(
        n_series=3, n_channels=2, length=24.0, seed=5, shape="wide", datetime=True, as_="pandas"
    )
    t0 = pd.Timestamp("2024-01-01")
    first = df[df.ds <= t0 + pd.Timedelta(hours=16)]
    est = _with_model(ITNetForecaster(**FAST).fit(first))
    seen = first
    for a, b in [(16, 19), (19, 22), (22, 25)]:
        chunk = df[(df.ds > t0 + pd.Timedelta(hours=a)) & (df.ds <= t0 + pd.Timedelta(hours=b))]
        est.update(chunk)
        seen = pd.concat([seen, chunk])
        got = est.predict(h="2h")
        assert isinstance(got, pd.DataFrame)
        _assert_same(got, est.predict(df=seen, h="2h"))


def test_max_history_semantics():
    """The stored state covers the encoded window plus every update: it equals re-encoding
    while the series fits in max_history, and re-encoding the window from the same start
    point beyond it (the truncated re-encoding then forgets points the state still holds)."""
    df = make_irregular(n_series=1, n_channels=2, length=40.0, seed=1, shape="wide")
    n_first = int((df["ds"] <= 20.0).sum())
    first, rest = df.filter(pl.col("ds") <= 20.0), df.filter(pl.col("ds") > 20.0)
    # exact: history + updates within max_history
    est = _with_model(ITNetForecaster(**FAST, max_history=len(df)).fit(first))
    est.update(rest.head(3))
    est.update(rest.slice(3))
    _assert_same(est.predict(h=2.0), est.predict(df=df, h=2.0))
    # beyond max_history: the first update encodes the last 8 points, later ones step
    mh = 8
    est = _with_model(ITNetForecaster(**FAST, max_history=mh).fit(first))
    est.update(rest.head(1))  # the cache starts at point n_first + 1 - mh
    est.update(rest.slice(1))
    got = est.predict(h=2.0)
    truncated = est.predict(df=df, h=2.0)
    assert np.abs(_key(got)["y_hat"] - _key(truncated)["y_hat"]).max() > 1e-4
    est.set_params(max_history=len(df) - (n_first + 1 - mh))  # the same start point
    _assert_same(got, est.predict(df=df, h=2.0))


def test_update_refuses_points_not_after_the_history(tidy, fitted_first):
    est, _ = _fresh(fitted_first)
    late = tidy.filter(pl.col("ds") > CUTS[0]).sort("unique_id", "ds")
    old = tidy.filter((pl.col("unique_id") == "s0002") & (pl.col("ds") <= CUTS[0])).tail(1)
    bad = pl.concat([late.head(4), old])
    with pytest.raises(ITNetInputError, match=r"row 4 \(series 's0002', time .*not after"):
        est.update(bad)
    # nothing changed: a valid update still works and matches re-encoding
    est.update(late)
    seen = pl.concat(
        [tidy.filter(pl.col("ds") <= CUTS[0]).filter(pl.col("unique_id") != "s0004"), late]
    )
    _assert_same(est.predict(h=1.0), est.predict(df=seen, h=1.0))


def test_update_refuses_unknown_channels(fitted_first):
    est, _ = _fresh(fitted_first)
    new = pl.DataFrame({"unique_id": ["s0000"], "ds": [100.0], "variable": ["ch9"], "value": [1.0]})
    with pytest.raises(ITNetInputError, match=r"ch9.*never seen in training"):
        est.update(new)


def test_update_a_loaded_model_encodes_its_data(tidy, fitted_first, tmp_path):
    est, first = _fresh(fitted_first)
    est.save(tmp_path / "m.safetensors")
    loaded = ITNetForecaster.load(tmp_path / "m.safetensors")
    loaded.update(first)  # a loaded model holds no data: update() gives it its history
    for chunk in _chunks(tidy):
        loaded.update(chunk)
    _assert_same(loaded.predict(h=2.0), est.predict(df=tidy, h=2.0))


def test_update_with_covariates_matches_reencoding():
    data = make_covariate_series(6, "both", length=30.0, seed=2)
    df, static = data.df, data.static_df
    est = ITNetForecaster(**FAST, futr_exog_list=["promo"])
    est.fit(df.filter(pl.col("ds") <= 20.0), static_df=static)
    _with_model(est)
    seen = df.filter(pl.col("ds") <= 20.0)
    for chunk in _chunks(df, [20.0, 24.0, 27.0, 30.5]):
        est.update(chunk)
        seen = pl.concat([seen, chunk])
        fut = est.make_future_dataframe(h=3.0)
        fut = data.with_futr(fut)
        _assert_same(
            est.predict(h=3.0, futr_df=fut),
            est.predict(df=seen, h=3.0, futr_df=fut, static_df=static),
        )
    # update rows need the known-future columns too
    with pytest.raises(ITNetInputError, match="promo"):
        est.update(pl.DataFrame({"unique_id": ["s000"], "ds": [99.0], "y": [1.0]}))

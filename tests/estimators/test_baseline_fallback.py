"""The check against simple baselines at the end of ``fit``, ``fit(cutoffs=, val_df=)``, and
loading model files from before the "mix" start."""

import json
import warnings

import numpy as np
import polars as pl
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from itnet_ts import BaselineFallbackWarning, ITNetForecaster, ITNetInputError
from itnet_ts.datasets import make_irregular
from itnet_ts.estimators._persistence import _digest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = dict(d_model=8, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


def _noise(n_series=24, n=30, seed=0):
    """Nothing to learn: i.i.d. noise around a per-series level, at random times."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        t = np.sort(rng.uniform(0, 100, n))
        rows.append(pl.DataFrame({"unique_id": f"s{s}", "ds": t,
                                  "y": rng.normal(3 * rng.normal(), 1.0, n)}))  # fmt: skip
    return pl.concat(rows)


def test_nothing_to_learn_gets_the_history_mean_and_a_warning():
    df = _noise()
    est = ITNetForecaster(**TINY, start="persistence", horizon=30.0)
    with pytest.warns(BaselineFallbackWarning, match="history_mean"):
        est.fit(df)
    v = est.get_fitted_summary()["validation"]
    assert v["fallback"] == {"y": "history_mean"}
    assert v["mse_history_mean"] < v["mse_persistence"] and v["mse_fitted"] < v["mse_network"]
    assert v["per_channel"]["y"]["uses"] == "history_mean"
    # the forecast is each series' history mean (max_history covers every point)
    pred = est.predict(h=5.0)
    means = df.group_by("unique_id").agg(pl.col("y").mean().alias("m"))
    joined = pred.join(means, on="unique_id")
    np.testing.assert_allclose(joined["y_hat"], joined["m"], rtol=1e-4, atol=1e-4)


def test_a_network_that_learns_keeps_its_forecasts():
    df = make_irregular(n_series=32, n_channels=1, length=60.0, seed=2, family="multirate_sines")
    est = ITNetForecaster(d_model=16, rank=8, n_layers=1, max_epochs=4, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        est.fit(df)
    v = est.get_fitted_summary()["validation"]
    assert v["n_targets"] > 0
    assert v["mse_fitted"] <= min(v["mse_persistence"], v["mse_history_mean"])
    assert set(v["fallback"]) <= {"y"}
    # the network is kept only with a margin beyond FALLBACK_MARGIN_SE standard errors
    (row,) = v["per_channel"].values()
    m = row["network_minus_best_baseline"]
    from itnet_ts.estimators._fallback import FALLBACK_MARGIN_SE

    assert (m["per_window"] + FALLBACK_MARGIN_SE * m["se"] < 0) == (not v["fallback"])
    assert est.model_.fallback.tolist() == [1 if v["fallback"].get("y") == "persistence"
                                            else 2 if v["fallback"] else 0]  # fmt: skip


def test_fixed_cutoffs_and_separate_validation_series():
    df = _noise(n_series=30, seed=1)
    train = df.filter(pl.col("unique_id").is_in([f"s{i}" for i in range(20)]))
    val = df.filter(~pl.col("unique_id").is_in([f"s{i}" for i in range(20)]))
    est = ITNetForecaster(**TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        est.fit(train, cutoffs=60.0, val_df=val, val_cutoffs=60.0)
    v = est.validation_
    assert v["n_targets"] == int((val["ds"] > 60.0).sum())  # every later point of val series
    cut = pl.DataFrame({"unique_id": [f"s{i}" for i in range(20)], "ds": [50.0] * 20})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        est2 = ITNetForecaster(**TINY).fit(train, cutoffs=cut)
    assert est2.validation_["n_targets"] > 0  # a fifth of the windows held out
    with pytest.raises(ITNetInputError, match="no cutoff for series"):
        ITNetForecaster(**TINY).fit(train, cutoffs=cut.head(5))
    with pytest.raises(ITNetInputError, match="no series has both"):
        ITNetForecaster(**TINY).fit(train, cutoffs=1000.0)


def test_model_files_from_before_the_mix_start_still_load(tmp_path):
    df = _noise(n_series=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        est = ITNetForecaster(**TINY, start="persistence").fit(df)
    path = tmp_path / "m.itnet"
    est.save(path)
    # rewrite it as the format stood before: no fallback tensor, no start in config / params
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != "model.fallback"}
    for key in ("config", "params"):
        d = json.loads(meta[key])
        d.pop("start")
        d.pop("decoder", None) if key == "params" else None
        meta[key] = json.dumps(d)
    meta["sha256"] = _digest(meta, tensors)
    old = tmp_path / "old.itnet"
    save_file(tensors, str(old), metadata=meta)
    loaded = ITNetForecaster.load(old)
    assert loaded.config_.start == "persistence" and loaded.start == "persistence"
    assert loaded.model_.fallback.tolist() == [0]
    hist = df.filter(pl.col("unique_id") == "s0")
    a = est.predict(df=hist, h=3.0)["y_hat"].to_numpy()
    b = loaded.predict(df=hist, h=3.0)["y_hat"].to_numpy()
    if est.model_.fallback.tolist() == [0]:
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # a crafted fallback code is refused
    tensors["model.fallback"] = torch.tensor([7])
    meta["sha256"] = _digest(meta, tensors)
    save_file(tensors, str(tmp_path / "bad.itnet"), metadata=meta)
    with pytest.raises(Exception, match="fallback codes"):
        ITNetForecaster.load(tmp_path / "bad.itnet")


def test_model_files_from_before_the_second_mix_load_as_the_first(tmp_path):
    import dataclasses

    from itnet_ts.model.itnet import ITNet

    df = _noise(n_series=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        est = ITNetForecaster(**TINY).fit(df)
    assert est.config_.mix_version == 2 and est.model_.mix.chan.shape[-1] == 6
    # a model of the first mix, saved with a config that does not know mix_version
    est.config_ = dataclasses.replace(est.config_, mix_version=1)
    torch.manual_seed(1)
    est.model_ = ITNet(est.config_).eval()
    with torch.no_grad():
        est.model_.mix.chan.normal_()
    path = tmp_path / "m.itnet"
    est.save(path)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["config"])
    cfg.pop("mix_version")
    meta["config"] = json.dumps(cfg)
    meta["sha256"] = _digest(meta, tensors)
    old = tmp_path / "old.itnet"
    save_file(tensors, str(old), metadata=meta)
    loaded = ITNetForecaster.load(old)
    assert loaded.config_.mix_version == 1 and loaded.model_.mix.chan.shape[-1] == 5
    hist = df.filter(pl.col("unique_id") == "s1")
    a = est.predict(df=hist, h=3.0)["y_hat"].to_numpy()
    b = loaded.predict(df=hist, h=3.0)["y_hat"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6)


def _scores(diffs_by_window, base_sse=1.0):
    """Scores of one channel and one window per entry of ``diffs_by_window`` (network minus
    persistence squared-error sum per window; the history mean far worse)."""
    from itnet_ts.estimators._fallback import FALLBACK_BASELINES

    d = np.asarray(diffs_by_window, float)
    n = d.size
    s = {
        "count": np.array([2.0 * n]),
        "windows": np.array([float(n)]),
        "persistence": np.array([base_sse * n]),
        "history_mean": np.array([10.0 * base_sse * n]),
        "model": np.array([base_sse * n + d.sum()]),
        "d1": {k: np.zeros(1) for k in FALLBACK_BASELINES},
        "d2": {k: np.zeros(1) for k in FALLBACK_BASELINES},
    }
    s["d1"]["persistence"][0], s["d2"]["persistence"][0] = d.sum(), (d * d).sum()
    hm = d - 9.0 * base_sse
    s["d1"]["history_mean"][0], s["d2"]["history_mean"][0] = hm.sum(), (hm * hm).sum()
    return s


def test_a_win_within_the_noise_of_the_check_falls_back_to_the_best_baseline():
    from itnet_ts.estimators._fallback import paired_margin, select_fallback

    # the network is better on average by 0.05 per window, but the windows disagree (sd 1)
    rng = np.random.default_rng(0)
    noisy = rng.normal(0, 1, 12)
    noisy = noisy - noisy.mean() - 0.05
    s = _scores(noisy)
    mean, se = paired_margin(s, 0, "persistence")
    assert mean == pytest.approx(-0.05) and se == pytest.approx(noisy.std(ddof=1) / np.sqrt(12))
    assert select_fallback(s, margin_se=0.5).tolist() == [1]  # persistence: beats hist. mean
    assert select_fallback(s, margin_se=0.0).tolist() == [0]  # any margin: the old rule
    # the same mean win, consistent over windows, keeps the network
    steady = np.full(12, -0.05) + rng.normal(0, 0.001, 12)
    assert select_fallback(_scores(steady), margin_se=0.5).tolist() == [0]
    # one window: no standard error, any win counts
    assert select_fallback(_scores([-0.05])).tolist() == [0]
    assert select_fallback(_scores([0.05])).tolist() == [1]


def _walks_ending_at_their_mean(n_series=3, n=40, seed=2, revert=(0, 1)):
    """Random walks (persistence is the right baseline) at irregular times, except that the
    last 3 points of the series in ``revert`` sit at the series' mean: on the validation
    windows (the last ``horizon``) the history mean looks better, with too few windows to
    tell."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        t = np.cumsum(rng.uniform(0.5, 1.5, n))
        y = np.cumsum(rng.normal(0, 1, n))
        if s in revert:
            y[-3:] = y[:-3].mean() + rng.normal(0, 0.1, 3)
        rows.append(pl.DataFrame({"unique_id": f"s{s}", "ds": t, "y": y}))
    return pl.concat(rows)


def _training_data(df, horizon):
    from itnet_ts.estimators._prepare import prepare_training

    est = ITNetForecaster(horizon=horizon)
    frame = dict(id_col="unique_id", time_col="ds", target_col="y", variable_col=None,
                 value_col=None, shape="auto")  # fmt: skip
    return est, prepare_training(est, df, frame, static_df=None, cutoffs=None, val_df=None,
                                 val_cutoffs=None, rng=np.random.default_rng(0), seed=0)  # fmt: skip


def test_rolling_windows_cover_the_series_at_evenly_spaced_cutoffs():
    from itnet_ts.data._windows import rolling_windows

    df = _walks_ending_at_their_mean(n_series=2, n=40)
    _, d = _training_data(df, 3.0)
    w = rolling_windows(d.ragged, 3.0, per_series=8)
    assert len(w) == 16 and np.bincount(w.series).tolist() == [8, 8]
    again = rolling_windows(d.ragged, 3.0, per_series=8)  # no random draw
    np.testing.assert_array_equal(w.hist_end, again.hist_end)
    for i in range(len(w)):
        s, cut = int(w.series[i]), w.cutoff[i]
        assert w.hist_start[i] == d.ragged.indptr[s] and w.hist_end[i] - w.hist_start[i] >= 2
        q = w.q_time[w.q_indptr[i] : w.q_indptr[i + 1]]
        assert len(q) >= 1 and np.all(q > cut) and np.all(q <= cut + 3.0)
    # every usable point is a cutoff when per_series allows it
    assert len(rolling_windows(d.ragged, 3.0, per_series=1000)) > 60


def test_few_validation_windows_leave_the_choice_of_baseline_to_the_rolling_windows():
    from itnet_ts.estimators._fallback import (
        baseline_contest,
        baseline_scores,
        choose_baselines,
        rolling_baseline_scores,
        select_fallback,
    )

    est, d = _training_data(_walks_ending_at_their_mean(), 3.0)
    val = baseline_scores(d.val_ragged, d.val_windows, d.scaler, est.max_history)
    rolling = rolling_baseline_scores(d, est.max_history)
    assert val["windows"][0] == 3 and rolling["windows"][0] > 60
    # the last horizon alone prefers the history mean, but not beyond its noise
    assert val["history_mean"][0] < val["persistence"][0]
    assert not baseline_contest(val, 0)["separates"]
    # the rolling windows, many more, find the random walk's baseline
    assert baseline_contest(rolling, 0)["separates"]
    assert choose_baselines(val, None) == [("history_mean", "validation windows")]
    assert choose_baselines(val, rolling, "validation")[0][0] == "history_mean"
    (pick,) = choose_baselines(val, rolling)
    assert pick[0] == "persistence" and pick[1].startswith("rolling windows")
    # a network worse than both falls back to persistence, not to the history mean
    bad = {**val, "model": val["persistence"] * 10}
    assert select_fallback(bad).tolist() == [2]
    assert select_fallback(bad, rolling=rolling).tolist() == [1]
    assert select_fallback(bad, rolling=rolling, choice="validation").tolist() == [2]


def test_validation_windows_that_separate_the_baselines_decide():
    from itnet_ts.estimators._fallback import choose_baselines

    # validation: persistence better in every one of 12 windows; rolling: the history mean
    val = {"count": np.array([24.0]), "windows": np.array([12.0]),
           "persistence": np.array([12.0]), "history_mean": np.array([36.0]),
           "b1": np.array([-24.0]), "b2": np.array([12 * 4.0 + 0.1])}  # fmt: skip
    rolling = {"count": np.array([500.0]), "windows": np.array([200.0]),
               "persistence": np.array([600.0]), "history_mean": np.array([400.0]),
               "b1": np.array([200.0]), "b2": np.array([2000.0])}  # fmt: skip
    (pick,) = choose_baselines(val, rolling)
    assert pick == ("persistence", "validation windows (they separate the baselines)")
    # the same validation means with windows that disagree: the rolling windows decide
    noisy = {**val, "b2": np.array([12 * 400.0])}
    assert choose_baselines(noisy, rolling)[0][0] == "history_mean"


def test_fit_reports_what_chose_the_baseline():
    from itnet_ts.estimators._fallback import FALLBACK_BASELINES, baseline_scores

    df = _walks_ending_at_their_mean()
    picks = {}
    for choice in ("rolling", "validation"):
        est = ITNetForecaster(**TINY, start="persistence", horizon=3.0, baseline_choice=choice)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BaselineFallbackWarning)
            est.fit(df)
        v = est.get_fitted_summary()["validation"]
        assert v["baseline_choice"] == choice
        row = v["per_channel"]["y"]
        bc = row["baseline_choice"]
        picks[choice] = bc["baseline"]
        assert row["network_minus_best_baseline"]["baseline"] == bc["baseline"]
        assert est.model_.fallback.tolist()[0] in (0, FALLBACK_BASELINES[bc["baseline"]])
        assert ("rolling" in bc) == (choice == "rolling")
        # the validation contest (scored through the model's batches) is what the numpy
        # baseline scores give on the same windows
        d_est, d = _training_data(df, 3.0)
        val = baseline_scores(d.val_ragged, d.val_windows, d.scaler, d_est.max_history)
        assert bc["validation"]["mse_persistence"] == pytest.approx(
            val["persistence"][0] / val["count"][0], rel=1e-5
        )
        assert bc["validation"]["mse_history_mean"] == pytest.approx(
            val["history_mean"][0] / val["count"][0], rel=1e-5
        )
    assert picks == {"rolling": "persistence", "validation": "history_mean"}
    with pytest.raises(ITNetInputError, match="baseline_choice"):
        ITNetForecaster(baseline_choice="rolling_windows").fit(df)

"""The periodic predictor (``model.periodic``): sums, extrapolation, grid, held-out check."""

import math

import numpy as np
import pytest
import torch

from itnet_ts.model import periodic as pm
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet


def _harmonic(t, f, coef):
    """coef: [a, b1, c1, b2, c2, b3, c3] at frequency f."""
    out = np.full_like(t, coef[0])
    for k in range(1, 4):
        ang = 2 * math.pi * k * f * t
        out += coef[2 * k - 1] * np.cos(ang) + coef[2 * k] * np.sin(ang)
    return out


def _rows(B=3, N=40, C=2, seed=0, f=0.37, noise=0.0):
    rng = np.random.default_rng(seed)
    tau = np.sort(rng.uniform(-80.0, 0.0, (B, N)), axis=1)
    tau[:, -1] = 0.0
    coef = rng.normal(size=(B, C, 7)) * np.array([1, 1, 1, 0.3, 0.3, 0.1, 0.1])  # RR Lyrae-like
    vals = np.stack([[_harmonic(tau[b], f, coef[b, c]) for c in range(C)] for b in range(B)])
    vals = vals.transpose(0, 2, 1) + noise * rng.normal(size=(B, N, C))
    mask = rng.random((B, N, C)) < 0.8
    valid = np.ones((B, N), bool)
    t = torch.from_numpy
    return t(tau), t(vals), t(mask.astype(np.float64)), t(valid), coef


def test_stats_are_the_normal_equations_at_the_found_frequency():
    tau, vals, mask, valid, _ = _rows()
    grid = (0.37, 0.01, 1)  # one candidate: the frequency is fixed
    st = pm.harmonic_stats(vals, mask, valid, tau, tau[:, -1], grid)
    assert st.shape == (3, 2, pm.N_STATS)
    b, c = 1, 0
    m = mask[b, :, c].numpy() > 0
    t = tau[b, m].numpy()
    X = np.stack([_harmonic(t, 0.37, np.eye(7)[j]) for j in range(7)], axis=1)  # phi(t)
    y = vals[b, m, c].numpy()
    np.testing.assert_allclose(st[b, c, 0], 0.37)
    np.testing.assert_allclose(st[b, c, 1:8], X.T @ y, rtol=1e-10)
    np.testing.assert_allclose(st[b, c, 8:57].reshape(7, 7), X.T @ X, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(st[b, c, -1], y @ y, rtol=1e-10)


def test_a_clean_harmonic_signal_is_extrapolated(monkeypatch):
    monkeypatch.setattr(pm, "RIDGE", 0.0)
    tau, vals, mask, valid, coef = _rows(f=0.37)
    st = pm.harmonic_stats(vals, mask, valid, tau, tau[:, -1], (0.05, 0.0005, 2000))
    np.testing.assert_allclose(st[..., 0], 0.37, atol=1e-4)  # found by the search (refined)
    lead = torch.tensor([[0.5, 3.3, 6.0]] * 3, dtype=torch.float64)
    q_chan = torch.tensor([[0, 1, 1]] * 3)
    pred, ok, quality = pm.harmonic_predict(st, q_chan, lead)
    assert bool(ok.all())
    want = np.array([[_harmonic(lead[b, q:q + 1].numpy(), 0.37, coef[b, int(q_chan[b, q])])[0]
                      for q in range(3)] for b in range(3)])  # fmt: skip
    np.testing.assert_allclose(pred.numpy(), want, atol=0.05 * np.abs(want).max())
    assert float(quality.max()) < -5  # residual variance a tiny fraction of the spread


def test_too_few_observations_give_no_prediction():
    tau, vals, mask, valid, _ = _rows(B=1, N=40, C=2)
    mask[0, :, 1] = 0.0
    mask[0, :5, 1] = 1.0  # 5 < MIN_OBS observations in channel 1
    st = pm.harmonic_stats(vals, mask, valid, tau, tau[:, -1], (0.37, 0.01, 1))
    _, ok, quality = pm.harmonic_predict(st, torch.tensor([[0, 1]]), torch.ones(1, 2).double())
    assert ok.tolist() == [[True, False]] and quality[0, 1] == 0


def test_frequency_grid():
    spans, gaps = np.full(10, 100.0), np.full(50, 2.0)
    f_min, df, n = pm.frequency_grid(spans, gaps)
    assert f_min == pytest.approx(2 / 100) and df == pytest.approx(1 / 400)
    assert f_min + df * (n - 1) == pytest.approx(25 / 2, abs=df)  # periods down to gap / 25
    f_min, df, n = pm.frequency_grid(spans, gaps, period_min=1.0, period_max=10.0)
    assert f_min == pytest.approx(0.1) and f_min + df * (n - 1) <= 1.0 + 1e-12
    _, _, n = pm.frequency_grid(np.full(3, 1e6), np.full(3, 1e-3))
    assert n == pm.MAX_FREQS
    assert pm.frequency_grid(np.zeros(3), gaps) is None


def _series(periodic: bool, n_series=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_series):
        t = np.sort(rng.uniform(0, 150, 60))
        if periodic:
            p = rng.uniform(0.3, 0.8)
            v = np.sin(2 * np.pi * t / p)[:, None] + 0.3 * rng.normal(size=(60, 1))
        else:
            v = rng.normal(size=(60, 1))
        out.append((t, v, np.ones((60, 1), bool)))
    return out


def test_holdout_check_tells_periodic_from_noise():
    spans, gaps = np.full(3, 150.0), np.full(3, 2.5)
    grid = pm.frequency_grid(spans, gaps)
    yes = pm.periodic_holdout_check(_series(True), grid)
    no = pm.periodic_holdout_check(_series(False), grid)
    assert yes["n_series"] == no["n_series"] == 40
    assert yes["ratio"] < 0.5  # seed 0: 0.16
    assert no["ratio"] > 1.0  # fitting noise is worse than its mean
    assert math.isnan(pm.periodic_holdout_check([], grid)["ratio"])


def test_untrained_model_with_a_period_grid_is_its_mix():
    from test_itnet import _batch, _ragged

    torch.manual_seed(0)
    cfg = ITNetConfig(n_channels=3, d_model=8, rank=2, period_f_min=0.05, period_df=0.01,
                      period_n_freq=50)  # fmt: skip
    model = ITNet(cfg).eval()
    assert model.n_predictors == 7 and model.n_history_features == 5
    b = _batch(_ragged(S=5, seed=4))
    P, feat = model.simple_forecasts(b)
    assert P.shape[-1] == 7 and feat.shape[-1] == model.time_feat.out_dim + 5
    mixed, _ = model.mix(P, b.q_chan, feat)
    torch.testing.assert_close(model(b)[..., 0], mixed)


def test_a_period_grid_needs_the_second_mix():
    with pytest.raises(ValueError, match="start='mix'"):
        ITNet(ITNetConfig(start="persistence", period_f_min=0.1, period_df=0.1, period_n_freq=3))

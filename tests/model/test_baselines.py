"""The simple predictors and the learned mix the forecast starts from (``model.baselines``)."""

import numpy as np
import pytest
import torch
from test_itnet import _batch, _ragged

from itnet_ts.model.baselines import PREDICTORS, RECENT_DECAY, TREND_DECAY
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet


def _direct(times, vals, tau_last, lead):
    """The six predictors of one channel, computed directly from its observations."""
    if len(vals) == 0:
        return [0.0] * 6
    k = np.arange(len(vals))[::-1]  # 0 for the most recent
    wr, wt = RECENT_DECAY**k, TREND_DECAY**k
    t = times - tau_last
    recent = (wr * vals).sum() / wr.sum()
    mt = (wt * t).sum() / wt.sum()
    var = (wt * (t - mt) ** 2).sum() / wt.sum()
    if var > 1e-9 * (1 + mt * mt):
        b = (wt * (t - mt) * vals).sum() / wt.sum() / var
        a = (wt * vals).sum() / wt.sum() - b * mt
        sp = np.sqrt(var)
        trend = a + np.clip(b * sp * (1 - np.exp(-lead / sp)), -3, 3)
    else:
        trend = recent
    smooth = (wt * vals).sum() / wt.sum()
    return [0.0, vals[-1], vals.mean(), recent, trend, smooth]


def test_predictors_match_a_direct_computation():
    torch.manual_seed(0)
    r = _ragged(S=6, C=3, seed=3)
    b = _batch(r)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4)).double().eval()
    b64 = type(b)(**{k: v.double() if v is not None and v.is_floating_point() else v
                     for k, v in b.__dict__.items()})  # fmt: skip
    P, _ = model.simple_forecasts(b64)
    assert P.shape[-1] == len(PREDICTORS) - 1  # no period grid: no periodic predictor
    for i in range(r.n_series):
        n = int(b64.valid[i].sum())
        tau = b64.tau[i, :n].numpy()
        c = int(b64.q_chan[i, 0])
        m = b64.mask[i, :n, c].numpy() > 0
        lead = float(b64.q_tau[i, 0]) - tau[-1]
        want = _direct(tau[m], b64.values[i, :n, c].numpy()[m], tau[-1], lead)
        np.testing.assert_allclose(P[i, 0].numpy(), want, rtol=1e-9, atol=1e-9)


def test_untrained_model_is_the_mix_of_predictors():
    torch.manual_seed(0)
    r = _ragged()
    b = _batch(r)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4)).eval()
    with torch.no_grad():
        model.mix.chan.normal_()
        model.mix.lead.weight.normal_(std=0.3)
        model.mix.lead.bias.normal_()
        P, feat = model.simple_forecasts(b)
        want = (model.mix.weights(b.q_chan, feat) * P).sum(-1)
        torch.testing.assert_close(model(b)[..., 0], want)
        # the weights depend on the channel's history (count, staleness), not only the lead
        n_hist = model.time_feat.out_dim
        assert feat.shape[-1] == n_hist + 4
        moved = feat.clone()
        moved[..., n_hist] += 1.0
        assert not torch.allclose(
            model.mix.weights(b.q_chan, moved), model.mix.weights(b.q_chan, feat)
        )


def test_first_mix_version_keeps_its_five_predictors():
    r = _ragged()
    b = _batch(r)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4, mix_version=1)).eval()
    P, feat = model.simple_forecasts(b)
    assert P.shape[-1] == 5 and feat.shape[-1] == model.time_feat.out_dim
    assert model.mix.chan.shape == (3, 5)
    with pytest.raises(ValueError, match="mix_version"):
        ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4, mix_version=3))


def _levels(seed=0, S=512, N=64):
    """Noisy levels seen through histories of 1 to 64 points (prior sd 1, observation noise
    sd 2: the Bayes forecast shrinks the history mean by n / (n + 4)), one query each: a batch
    with the fields the predictors read, the history means, counts and targets."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(seed)
    n = 2 ** torch.randint(0, 7, (S,), generator=g)  # 1 .. 64 points
    level = torch.randn(S, generator=g)
    valid = torch.arange(N)[None, :] < n[:, None]
    values = (level[:, None] + 2.0 * torch.randn(S, N, generator=g))[..., None] * valid[..., None]
    tau = (torch.arange(N, dtype=torch.float32)[None, :] - (n[:, None] - 1).float()) * valid
    y = level + 0.5 * torch.randn(S, generator=g)  # a less noisy target: the level matters
    b = SimpleNamespace(
        values=values, mask=valid[..., None].float(), valid=valid, tau=tau,
        has_last=torch.ones(S, 1), last_tau=torch.zeros(S, 1),
        last_value=values[torch.arange(S), n - 1], q_tau=torch.ones(S, 1),
        q_chan=torch.zeros(S, 1, dtype=torch.long), y=y[:, None],
        y_known=torch.ones(S, 1, dtype=torch.bool), static=None, futr=None,
    )  # fmt: skip
    b.to = lambda device: b
    return b, values[..., 0].sum(1) / n, n, y


def test_the_mix_learns_shrinkage_by_history_length():
    """The mix with the history features (mix_version 2) gets to the Bayes shrinkage of the
    history mean; weights by channel and lead alone cannot."""
    from itnet_ts.estimators._fallback import fit_start

    b, mean, n, y = _levels()
    bayes = float(((n / (n + 4.0) * mean - y) ** 2).mean())
    hist = float(((mean - y) ** 2).mean())
    got = {}
    for version in (1, 2):
        torch.manual_seed(0)
        model = ITNet(ITNetConfig(n_channels=1, d_model=8, rank=2, mix_version=version))
        got[version] = fit_start(model, [b], torch.device("cpu"), steps=400)["mse_after"]
    assert bayes < hist - 0.5  # seed 0: 0.670 vs 1.290
    assert got[1] > bayes + 0.05  # one weight for every n cannot shrink by n (0.763)
    assert got[2] < bayes + 0.01  # the count feature gets there (0.667)


def test_fit_start_keeps_the_feature_set_best_on_validation():
    from itnet_ts.estimators._fallback import _mix_data, _mix_mse, fit_start
    from itnet_ts.model.baselines import MIX_FEATURE_SETS

    train, _, _, _ = _levels(seed=0)
    val, _, _, _ = _levels(seed=1)
    torch.manual_seed(0)
    model = ITNet(ITNetConfig(n_channels=1, d_model=8, rank=2))
    out = fit_start(model, [train], torch.device("cpu"), val_iter=[val])
    # the periodic feature set needs a model with a period grid
    assert set(out["val_mse"]) == {k for k, v in MIX_FEATURE_SETS.items() if v <= 4}
    assert out["val_mse"][out["features"]] == min(out["val_mse"].values())
    assert out["features"] != "lead"  # the count matters here
    data = _mix_data(model, [val], torch.device("cpu"), None)
    assert _mix_mse(model.mix, data) == pytest.approx(out["val_mse"][out["features"]], rel=1e-6)
    assert int((model.mix.use == 0).sum()) == 4 - MIX_FEATURE_SETS[out["features"]]
    # the features a set leaves out do not move the weights
    with torch.no_grad():
        model.mix.lead.weight.normal_()
    _, feat = model.simple_forecasts(train)
    moved = feat.clone()
    moved[..., -4:] += 5.0
    model.mix.use[-4:] = 0.0
    w = model.mix.weights(train.q_chan, feat)
    assert torch.equal(w, model.mix.weights(train.q_chan, moved))
    model.mix.use[-4:] = 1.0
    assert not torch.allclose(w, model.mix.weights(train.q_chan, moved))


@pytest.mark.parametrize("code", [1, 2])
def test_fallback_channel_gets_the_simple_predictor(code):
    torch.manual_seed(0)
    r = _ragged(S=5)
    b = _batch(r)
    b.q_chan = torch.tensor([[0], [1], [2], [0], [1]])
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4)).eval()
    with torch.no_grad():
        model.head[-1].weight.normal_()  # a network far from its start
        P, _ = model.simple_forecasts(b)
        model.fallback[0] = code
        pred = model(b)[..., 0]
    on0 = b.q_chan == 0
    assert on0.any() and (~on0).any()
    torch.testing.assert_close(pred[on0], P[..., code][on0])
    assert not torch.allclose(pred[~on0], P[..., 1][~on0])


def test_trend_extrapolation_is_damped_and_bounded():
    torch.manual_seed(0)
    from itnet_ts.model.baselines import predictor_values

    t = torch.arange(-9.0, 1.0)  # a perfect line y = 0.1 t over 10 points
    w = TREND_DECAY ** torch.arange(9.0, -1.0, -1)
    y = 0.1 * t
    ew = torch.stack([torch.tensor(1.0), torch.tensor(0.0), w.sum(), (w * t).sum(),
                      (w * t * t).sum(), (w * y).sum(), (w * t * y).sum()])  # fmt: skip
    leads = torch.tensor([0.0, 0.5, 100.0, 1e6])
    P = predictor_values(torch.ones(4, dtype=torch.bool), torch.zeros(4), torch.zeros(4),
                         ew.expand(4, 7), leads)  # fmt: skip
    trend = P[:, PREDICTORS.index("damped_trend")]
    assert abs(float(trend[0])) < 1e-5  # the line's level at the last point
    assert 0 < float(trend[1]) < 0.05 + 1e-6  # slope 0.1, damped
    assert float(trend[2]) == pytest.approx(float(trend[3]), rel=1e-4)  # saturates
    assert float(trend[3]) < 1.0


def test_mix_mse_columns_equals_the_forward_mse_and_its_gradients():
    """``fit_start``'s column-major fast path is the same loss as ``forward`` (values and
    gradients), including the feature mask ``use`` and large logits."""
    from itnet_ts.model.baselines import BaselineMix

    g = torch.Generator().manual_seed(0)
    C, K, F, N = 5, 6, 9, 700
    mix = BaselineMix(C, F, K)
    with torch.no_grad():
        mix.chan.copy_(torch.randn(C, K, generator=g) * 30)  # softmax far from uniform
        mix.lead.weight.copy_(torch.randn(K, F, generator=g))
        mix.lead.bias.copy_(torch.randn(K, generator=g))
        mix.use[F - 3 :] = 0.0
    P, feat = torch.randn(N, K, generator=g), torch.randn(N, F, generator=g)
    chan, y = torch.randint(0, C, (N,), generator=g), torch.randn(N, generator=g)

    ref = ((mix(P, chan, feat)[0] - y) ** 2).mean()
    ref_grads = torch.autograd.grad(ref, list(mix.parameters()))
    fast = mix.mse_columns(P.t().contiguous(), feat.t().contiguous(), chan, y)
    fast_grads = torch.autograd.grad(fast, list(mix.parameters()))
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

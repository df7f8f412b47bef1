"""``encoder_mode``: one ITNet, its encoder evaluated as a recurrence, as causal (attention
form) sums, or with a lag-only kernel as a convolution; through the model and the estimator."""

import numpy as np
import pytest
import torch

from itnet_ts import ITNetForecaster, ITNetInputError
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler, forecast_windows, make_batch
from itnet_ts.datasets import make_irregular
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = dict(d_model=8, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def make_batch_for(n_channels: int, seed: int, S: int = 5):
    """float64 batch: S series of 3-30 irregular points (channels at their own times), each
    with 4 queries at leads 0.5-20 after its last point."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(3, 30, S)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    times = np.concatenate([np.cumsum(rng.exponential(1.0, n)) for n in lens])
    mask = rng.random((len(times), n_channels)) < 0.5
    mask[np.arange(len(times)), rng.integers(0, n_channels, len(times))] = True
    vals = np.where(mask, rng.normal(size=mask.shape), 0.0)
    ids = np.array([f"s{i}" for i in range(S)], dtype=object)
    r = RaggedSeries(ids, indptr, times, vals, mask, tuple("abcdef"[:n_channels]))
    last = r.times[r.indptr[1:] - 1]
    q_series = np.repeat(np.arange(S), 4)
    q_time = last[q_series] + np.tile([0.5, 2.0, 7.0, 20.0], S)
    q_chan = rng.integers(0, n_channels, len(q_series))
    w = forecast_windows(r, q_series, q_time, q_chan)
    b = make_batch(r, w, np.arange(S), ValueScaler.fit(r), 1.0)
    for name, v in vars(b).items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            setattr(b, name, v.double())
    return b


def _model(**kw) -> ITNet:
    torch.manual_seed(0)
    cfg = ITNetConfig(n_channels=3, d_model=8, rank=4, n_layers=2, kernel_hidden=8, **kw)
    return ITNet(cfg).eval()


@pytest.mark.parametrize(
    "opts",
    [{}, {"oscillatory": True, "kwn": True}, {"selective": True}, {"decoder": "both"}],
)
def test_attention_mode_gives_the_recurrent_forecasts(opts):
    batch = make_batch_for(n_channels=3, seed=1)
    model = _model(**opts)
    with torch.no_grad():
        rec = model(batch)
        att = model.set_encoder_mode("attention")(batch)
    assert model.encoder_mode == "attention"
    torch.testing.assert_close(att, rec, rtol=1e-9, atol=1e-9)


def test_conv_mode_has_a_lag_only_kernel_and_runs_in_every_mode():
    batch = make_batch_for(n_channels=3, seed=2)
    model = _model(encoder_mode="conv", oscillatory=True)
    t = model.blocks[0].transform
    p1 = t.scan_inputs(torch.randn(2, 5, 8))
    p2 = t.scan_inputs(torch.randn(2, 5, 8))
    torch.testing.assert_close(p1["Bm"], p2["Bm"])  # the factors ignore the features
    assert t.factors is None
    with torch.no_grad():
        conv = model(batch)
        rec = model.set_encoder_mode("recurrent")(batch)
        att = model.set_encoder_mode("attention")(batch)
    torch.testing.assert_close(conv, rec, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(att, rec, rtol=1e-9, atol=1e-9)


def test_conv_mode_is_refused_where_the_maths_does_not_allow_it():
    with pytest.raises(ValueError, match=r"depend on the input.*'recurrent' or 'attention'"):
        _model().set_encoder_mode("conv")
    with pytest.raises(ValueError, match="selective"):
        _model(encoder_mode="conv", selective=True)
    with pytest.raises(ValueError, match="encoder_mode must be one of"):
        _model().set_encoder_mode("fourier")


def test_gradients_agree_between_recurrent_and_attention_mode():
    batch = make_batch_for(n_channels=3, seed=3)
    grads = []
    for mode in ("recurrent", "attention"):
        model = _model(oscillatory=True).train()
        g = torch.Generator().manual_seed(3)
        torch.nn.init.normal_(model.head[-1].weight, generator=g)  # a head that reads the encoder
        model.set_encoder_mode(mode)
        torch.manual_seed(7)  # the same dropout masks
        model(batch).pow(2).sum().backward()
        named = model.named_parameters()
        grads.append({n: torch.zeros_like(p) if p.grad is None else p.grad for n, p in named})
    assert any(g.abs().sum() > 0 for n, g in grads[0].items() if ".transform." in n)
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-8, atol=1e-10, msg=name)


@pytest.mark.parametrize("mode", ["attention", "conv"])
def test_the_estimator_trains_and_forecasts_in_each_mode(mode, tmp_path):
    torch.set_default_dtype(torch.float32)
    df = make_irregular(n_series=8, n_channels=2, length=30.0, seed=0, family="mixed")
    est = ITNetForecaster(**TINY, encoder_mode=mode).fit(df)
    assert est.model_.encoder_mode == mode and est.config_.encoder_mode == mode
    pred = est.predict(h=3.0)
    assert np.isfinite(pred["y_hat"].to_numpy()).all()
    est.save(tmp_path / "m.itnet")
    loaded = ITNetForecaster.load(tmp_path / "m.itnet")
    again = loaded.predict(df=df, h=3.0)
    np.testing.assert_allclose(again["y_hat"], pred["y_hat"], rtol=1e-4, atol=1e-5)
    # evaluated in recurrent mode: the same forecasts (float32 rounding)
    loaded.model_.set_encoder_mode("recurrent")
    rec = loaded.predict(df=df, h=3.0)
    np.testing.assert_allclose(rec["y_hat"], pred["y_hat"], rtol=1e-3, atol=1e-4)


def test_conv_with_selective_is_a_clear_input_error():
    df = make_irregular(n_series=4, n_channels=1, length=20.0, seed=0)
    with pytest.raises(ITNetInputError, match="encoder_mode='conv', selective=True"):
        ITNetForecaster(**TINY, encoder_mode="conv", selective=True).fit(df)

"""``ITNetConfig.integral_norm``: the LayerNorm on the integral's output can be ablated; on is
the default, changes nothing, and configs saved before the field load with it on."""

import numpy as np
import pytest
import torch

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler, forecast_windows, make_batch
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the LayerNorms on the integral (per encoder block, and on the decoder's reads)
INTEGRAL_NORMS = ("blocks.0.transform.norm.", "blocks.1.transform.norm.", "norm_out.", "attn_norm.")


def _batch(S=3, C=2, seed=0):
    rng = np.random.default_rng(seed)
    lens = rng.integers(4, 12, S)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    times = np.concatenate([np.cumsum(rng.exponential(1.0, n)) for n in lens])
    mask = np.ones((len(times), C), bool)
    vals = rng.normal(size=(len(times), C))
    r = RaggedSeries(np.array([f"s{i}" for i in range(S)], object), indptr, times, vals, mask,
                     ("a", "b"))  # fmt: skip
    end = r.times[r.indptr[1:] - 1]
    w = forecast_windows(r, np.arange(S), end + 1.0, np.zeros(S, np.int64))
    w = type(w)(**{**w.__dict__, "hist_end": r.indptr[1:], "cutoff": end})
    return make_batch(r, w, np.arange(S), ValueScaler.fit(r), 1.0)


def _model(**kw) -> ITNet:
    torch.manual_seed(0)
    cfg = ITNetConfig(n_channels=2, d_model=8, rank=2, kernel_hidden=8, decoder="both", **kw)
    return ITNet(cfg).eval()


def test_on_is_the_default_and_unchanged():
    assert ITNetConfig().integral_norm is True
    # a config saved before the field existed loads with the LayerNorm on
    old = ITNetConfig().to_dict()
    del old["integral_norm"]
    assert ITNetConfig.from_dict(old).integral_norm is True
    default, on = _model(), _model(integral_norm=True)
    keys = set(default.state_dict())
    assert all(any(k.startswith(p) for k in keys) for p in INTEGRAL_NORMS)
    assert isinstance(default.blocks[0].transform.norm, torch.nn.LayerNorm)
    b = _batch()
    with torch.no_grad():
        assert torch.equal(default(b), on(b))
    for k, v in default.state_dict().items():
        assert torch.equal(v, on.state_dict()[k])


def test_off_drops_the_layernorms_and_changes_the_layer():
    on, off = _model(), _model(integral_norm=False)
    on_sd, off_sd = on.state_dict(), off.state_dict()
    dropped = set(on_sd) - set(off_sd)
    assert set(off_sd) < set(on_sd)
    assert dropped == {k for k in on_sd if k.startswith(INTEGRAL_NORMS)}
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in off.blocks[0].transform.modules())
    # every other parameter is drawn the same (the LayerNorms consume no random numbers)
    for k, v in off_sd.items():
        assert torch.equal(v, on_sd[k])
    h = torch.randn(2, 7, 8) * 5
    dtau, w = torch.rand(2, 7), torch.ones(2, 7)
    with torch.no_grad():
        y_on, _ = on.blocks[0].transform(h, dtau, w)
        y_off, _ = off.blocks[0].transform(h, dtau, w)
    assert not torch.allclose(y_on, y_off)
    with torch.no_grad():  # the whole model runs (and still starts at its baseline)
        assert torch.isfinite(off(_batch())).all()


def test_the_estimator_fits_saves_and_loads_without_it(tmp_path):
    from itnet_ts import ITNetForecaster
    from itnet_ts.datasets import make_irregular

    df = make_irregular(n_series=6, n_channels=2, length=20.0, seed=0)
    tiny = dict(d_model=8, rank=2, n_layers=1, max_epochs=2, windows_per_series=2)
    est = ITNetForecaster(**tiny, integral_norm=False, verbose=False).fit(df)
    assert est.config_.integral_norm is False
    assert not any("norm_out" in k for k in est.model_.state_dict())
    # the training loop records every step's gradient norm (before clipping)
    steps = est.train_result_.grad_norms
    assert len(steps) >= 2 and all(np.isfinite(steps)) and min(steps) > 0
    pred = est.predict(h=3.0)
    est.save(tmp_path / "m.itnet")
    loaded = ITNetForecaster.load(tmp_path / "m.itnet")
    assert loaded.get_params()["integral_norm"] is False and loaded.config_.integral_norm is False
    np.testing.assert_allclose(loaded.predict(df=df, h=3.0)["y_hat"], pred["y_hat"], rtol=1e-5)

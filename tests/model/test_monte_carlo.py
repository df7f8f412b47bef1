"""Monte Carlo integration: the sample, its weights (unbiased sums), and the encoder using it
only while training."""

import numpy as np
import pytest
import torch

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet
from itnet_ts.model.monte_carlo import mc_points, mc_subsample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_sample_sizes_follow_the_rule():
    n = torch.tensor([0, 1, 10, 64, 65, 256, 4096, 1_000_000])
    assert mc_points(n).tolist() == [0, 1, 10, 64, 65, 128, 512, 8000]


def test_sample_keeps_the_recent_half_in_order_and_its_sums_are_unbiased():
    valid = torch.zeros(3, 400, dtype=torch.bool)
    for b, n in enumerate((400, 250, 30)):
        valid[b, :n] = True
    m = mc_points(valid.sum(1))
    f = torch.randn(3, 400, dtype=torch.float64) * valid
    g = torch.Generator().manual_seed(0)
    draws, hits = [], torch.zeros(3, 400, dtype=torch.float64)
    for _ in range(3000):
        idx, keep, inv_pi = mc_subsample(valid, m, generator=g)
        assert (keep.sum(1) == m).all()
        for b in range(3):
            kept = idx[b, keep[b]]
            assert (torch.diff(kept) > 0).all() and kept.max() < valid[b].sum()
            n, k = int(valid[b].sum()), int(m[b]) // 2
            assert set(range(n - k, n)) <= set(kept.tolist())  # the recent half, always
        hits.scatter_add_(1, idx, keep.double())
        draws.append((f.gather(1, idx) * inv_pi * keep).sum(1))
    est = torch.stack(draws)  # (draws, 3)
    err = (est.mean(0) - f.sum(1)).abs()
    assert (err < 4 * est.std(0) / np.sqrt(len(draws)) + 1e-9).all()  # unbiased
    # inclusion frequency of the older points matches 1 / inv_pi
    n, k = 400, int(m[0]) // 2
    assert hits[0, : n - k].mean() / 3000 == pytest.approx((int(m[0]) - k) / (n - k), rel=0.02)
    assert (hits[2, :30] == 3000).all()  # short history: every point, weight 1


def test_encoder_samples_only_while_training():
    torch.manual_seed(0)
    cfg = ITNetConfig(n_channels=2, d_model=8, rank=4, n_layers=1, kernel_hidden=8,
                      integration="monte_carlo", mc_min_points=8, mc_factor=1.0)  # fmt: skip
    model = ITNet(cfg)
    torch.nn.init.normal_(model.head[-1].weight)  # a head that reads the encoder
    exact = ITNet(ITNetConfig(**{**cfg.to_dict(), "integration": "exact"}))
    exact.load_state_dict(model.state_dict())
    df = make_irregular(n_series=4, n_channels=2, length=200.0, seed=0)
    est = ITNetForecaster(d_model=8, rank=4, n_layers=1, max_epochs=1, verbose=False)
    est.fit(df)
    from itnet_ts.data._windows import validation_windows

    windows, _ = validation_windows(est.history_, 5.0)
    from itnet_ts.data._windows import make_batch

    batch = make_batch(est.history_, windows, np.arange(len(windows)), est.scaler_, est.time_unit_)
    assert int(batch.valid.sum(1).max()) > 40  # long enough to be sampled (M = 8 .. 14)
    model.eval(), exact.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(batch), exact(batch))  # eval: exact
        model.train(), exact.train()
        model.blocks[0].drop.p = exact.blocks[0].drop.p = 0.0
        sampled, full = model(batch), exact(batch)
    assert not torch.allclose(sampled, full)
    assert torch.isfinite(sampled).all()


def test_estimator_trains_with_monte_carlo_integration():
    df = make_irregular(n_series=8, n_channels=2, length=100.0, seed=1, family="mixed")
    est = ITNetForecaster(d_model=8, rank=4, n_layers=1, max_epochs=2, verbose=False,
                          integration="monte_carlo", max_history=512)  # fmt: skip
    est.fit(df)
    assert est.config_.integration == "monte_carlo"
    assert np.isfinite(est.predict(h=5.0)["y_hat"].to_numpy()).all()

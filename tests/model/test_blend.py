"""The per-channel blend of a network's median with the simple predictors
(``itnet_ts.model.blend``): the predictors match ITNet's, the weights solve the constrained
least squares, and the wrapper moves every output with the median."""

import itertools

import numpy as np
import pytest
import torch
from test_itnet import _batch, _ragged

from itnet_ts.model.blend import (
    PredictorBlend,
    _simplex_projection,
    batch_predictors,
    blend_stats,
    simplex_weights,
)
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet
from itnet_ts.model.universal import UniversalConfig, UniversalITNet


def test_batch_predictors_equal_itnets_own():
    r = _ragged(S=6, C=3, seed=3)
    b = _batch(r)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4)).eval()
    P, _ = model.simple_forecasts(b)
    torch.testing.assert_close(batch_predictors(b, P.shape[-1]), P)


def test_simplex_projection():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 5)) * 3
    w = _simplex_projection(v)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(_simplex_projection(w), w, atol=1e-12)  # idempotent
    # the projection is the nearest simplex point: no random simplex point is nearer
    u = rng.dirichlet(np.ones(5), size=(200,))
    for i in range(len(v)):
        assert np.linalg.norm(v[i] - w[i]) <= np.linalg.norm(v[i] - u, axis=1).min() + 1e-12


def _targets(T=4000, seed=0):
    """Three components and a target = 0.2 * c1 + 0.8 * c2 + noise, on two channels."""
    rng = np.random.default_rng(seed)
    comp = rng.normal(size=(T, 3))
    y = 0.2 * comp[:, 1] + 0.8 * comp[:, 2] + 0.1 * rng.normal(size=T)
    return comp, y, rng.integers(0, 2, T)


def test_weights_match_a_brute_force_search_on_the_simplex():
    comp, y, chan = _targets()
    G, b, yy, n = blend_stats(comp, y, chan, 2)
    w, _pooled = simplex_weights(G, b, n, shrink=0.0, iters=2000)
    grid = np.array([(i, j, 200 - i - j) for i, j in itertools.product(range(201), repeat=2)
                     if i + j <= 200]) / 200.0  # fmt: skip
    for c in range(2):
        comp_c, y_c = comp[chan == c], y[chan == c, None]
        mse = lambda w_, comp_c=comp_c, y_c=y_c: ((comp_c @ w_.T - y_c) ** 2).mean(0)  # noqa: E731
        assert mse(w[c][None])[0] <= mse(grid).min() + 1e-9
        np.testing.assert_allclose(w[c], [0.0, 0.2, 0.8], atol=0.02)
    # the statistics give the MSE: w^T G w - 2 b^T w + yy
    m = w[0] @ G[0] @ w[0] - 2 * b[0] @ w[0] + yy[0]
    np.testing.assert_allclose(m, ((comp[chan == 0] @ w[0] - y[chan == 0]) ** 2).mean())


def test_few_targets_keep_the_network_and_a_channel_without_targets_the_pooled_weights():
    comp, y, chan = _targets(T=4000)
    chan = np.where(chan == 1, 0, chan)  # every target on channel 0; channel 1 has none
    G, b, _, n = blend_stats(comp, y, chan, 2)
    w, pooled = simplex_weights(G, b, n, shrink=50.0)
    np.testing.assert_allclose(w[1], pooled)
    assert pooled[2] > 0.7
    few = slice(0, 5)
    G, b, _, n = blend_stats(comp[few], y[few], chan[few], 2)
    w, pooled = simplex_weights(G, b, n, shrink=50.0)
    assert w[0, 0] > 0.8 and pooled[0] > 0.8  # 5 targets: still mostly the network
    w, _ = simplex_weights(np.zeros((2, 3, 3)), np.zeros((2, 3)), np.zeros(2))
    np.testing.assert_array_equal(w, [[1.0, 0, 0], [1.0, 0, 0]])  # no target: the network


def _universal(levels=(0.1, 0.5, 0.9)):
    torch.manual_seed(0)
    net = UniversalITNet(UniversalConfig(d_model=16, rank=4, n_layers=1, n_heads=2)).eval()
    with torch.no_grad():
        for p in net.head[-1].parameters():
            p.normal_(std=0.3)
    return net.select_levels(levels)


@pytest.mark.parametrize("levels", [(), (0.1, 0.5, 0.9)])
def test_blend_moves_every_output_with_the_median(levels):
    from itnet_ts.model.quantiles import monotone_quantiles

    b = _batch(_ragged(S=5, C=3, seed=1))
    net = _universal(levels)
    with torch.no_grad():
        raw = net(b)
        same = PredictorBlend(net, np.tile([1.0, 0, 0, 0, 0, 0, 0], (3, 1)))(b)
        torch.testing.assert_close(same, raw)
        w = np.zeros((3, 7))
        w[:, 2] = 1.0  # persistence on every channel
        out = PredictorBlend(net, w)(b)
    P = batch_predictors(b, 6)
    torch.testing.assert_close(out[..., 0], P[..., 1])
    if levels:
        q_raw = monotone_quantiles(raw, levels)
        q_out = monotone_quantiles(out, levels)
        torch.testing.assert_close(q_out - q_out[..., 1:2], q_raw - q_raw[..., 1:2])
    with pytest.raises(ValueError, match="weights must be"):
        PredictorBlend(net, np.ones(7))


def test_lead_buckets_get_their_own_weights():
    from itnet_ts.model.blend import lead_bucket_weights, query_leads

    rng = np.random.default_rng(1)
    T = 6000
    comp = rng.normal(size=(T, 3))
    bucket = rng.integers(0, 2, T)
    y = np.where(bucket == 0, comp[:, 1], comp[:, 2]) + 0.05 * rng.normal(size=T)
    w, _ = lead_bucket_weights(comp, y, np.zeros(T, int), bucket, 1, 2, shrink=50.0)
    assert w.shape == (1, 2, 3)
    assert w[0, 0, 1] > 0.95 and w[0, 1, 2] > 0.95
    # the wrapper reads each query's bucket from its lead
    b = _batch(_ragged(S=5, C=3, seed=1))
    net = _universal(())
    lead = query_leads(b)
    edge = float(lead[b.q_valid].median())
    weights = np.zeros((3, 2, 7))
    weights[:, 0, 2] = 1.0  # short leads: persistence
    weights[:, 1, 3] = 1.0  # long leads: the history mean
    with torch.no_grad():
        out = PredictorBlend(net, weights, [edge])(b)[..., 0]
    P = batch_predictors(b, 6)
    want = torch.where(lead < edge, P[..., 1], P[..., 2])
    torch.testing.assert_close(out[b.q_valid], want[b.q_valid])
    with pytest.raises(ValueError, match="lead edges"):
        PredictorBlend(net, weights, [])

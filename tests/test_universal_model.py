"""The channel-agnostic ITNet (issue 13): any channel count, unit-free time and values,
channel order irrelevant, finite and deterministic, quantile outputs, checkpoint files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from itnet_ts.data._ingest import ingest
from itnet_ts.data._ragged import ragged_from_canonical
from itnet_ts.data._windows import ValueScaler, make_batch, training_windows
from itnet_ts.datasets import make_irregular
from itnet_ts.datasets.prior import draw_prior
from itnet_ts.model.quantiles import monotone_quantiles
from itnet_ts.model.universal import UniversalConfig, UniversalITNet, quantiles_to_raw
from itnet_ts.model.universal_io import load_universal, save_universal


def _batch(n_channels: int, n_series: int = 6, seed: int = 0):
    df = make_irregular(n_series=n_series, n_channels=n_channels, length=40, seed=seed,
                        shape="tidy")  # fmt: skip
    canon, spec = ingest(df, variable_col="variable", value_col="value")
    r = ragged_from_canonical(canon, spec.channels)
    ws = training_windows(r, 8.0, np.random.default_rng(seed), 1)
    return make_batch(r, ws, np.arange(len(ws)), ValueScaler.fit(r), 1.0, 64)


def _model(**kw) -> UniversalITNet:
    torch.manual_seed(0)
    m = UniversalITNet(UniversalConfig(d_model=16, rank=4, **kw))
    with torch.no_grad():  # a non-zero head, so the tests see the network, not the start
        for p in m.head[-1].parameters():
            p.normal_(0, 0.3)
    return m.eval()


@pytest.mark.parametrize("n_channels", [1, 7, 50])
def test_any_channel_count_finite_and_deterministic(n_channels):
    b = _batch(n_channels)
    m = _model()
    with torch.no_grad():
        a, a2 = m(b), m(b)
    assert a.shape == (*b.q_tau.shape, 1)
    assert torch.isfinite(a).all()
    assert torch.equal(a, a2)


def test_time_unit_invariance():
    b = _batch(3)
    m = _model()
    b24 = dataclasses.replace(b, tau=b.tau * 24, dtau=b.dtau * 24, q_tau=b.q_tau * 24)
    with torch.no_grad():
        torch.testing.assert_close(m(b24), m(b), rtol=1e-4, atol=1e-4)


def test_value_shift_equivariance():
    """A level shift of the scaled values shifts the forecasts (scale: the estimator's scaler
    absorbs it; tests/test_pretrained_api.py checks that end to end)."""
    b = _batch(3)
    m = _model()
    moved = dataclasses.replace(b, values=(b.values - 3.0) * b.mask)
    with torch.no_grad():
        torch.testing.assert_close(m(moved), m(b) - 3.0, rtol=1e-4, atol=1e-4)


def test_channel_order_does_not_matter():
    b = _batch(5)
    m = _model()
    perm = torch.tensor([3, 0, 4, 1, 2])
    inv = torch.argsort(perm)
    shuffled = dataclasses.replace(b, values=b.values[..., perm], mask=b.mask[..., perm],
                                   q_chan=inv[b.q_chan])  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(m(shuffled), m(b), rtol=1e-4, atol=1e-4)


def test_quantile_outputs_ordered_and_roundtrip():
    m = _model().select_levels((0.1, 0.5, 0.9))
    b = _batch(2)
    with torch.no_grad():
        q = monotone_quantiles(m(b), (0.1, 0.5, 0.9))
    assert (q[..., 0] <= q[..., 1]).all() and (q[..., 1] <= q[..., 2]).all()
    med = _model()(b)[..., 0]
    torch.testing.assert_close(q[..., 1], med.detach(), rtol=1e-5, atol=1e-5)
    x = torch.sort(torch.randn(10, 5) * 3, dim=-1).values
    levels = (0.025, 0.25, 0.5, 0.75, 0.975)
    torch.testing.assert_close(monotone_quantiles(quantiles_to_raw(x, levels), levels), x,
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    with pytest.raises(ValueError, match="gives the quantiles"):
        m.select_levels((0.05, 0.5))


def test_prior_draws_valid_series():
    r = draw_prior(np.random.default_rng(0), 5, 4)
    assert r.n_series == 5 and r.values.shape == r.mask.shape == (len(r.times), 4)
    assert r.mask.any(1).all() and np.isfinite(r.values).all()
    for s in range(5):
        assert np.all(np.diff(r.times[r.series(s)]) > 0)


def test_checkpoint_roundtrip_and_tamper(tmp_path):
    m = _model()
    path = save_universal(m, tmp_path / "ck", {"seed": 1})
    loaded, meta = load_universal(tmp_path / "ck")
    assert meta["recipe"] == {"seed": 1}
    b = _batch(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(b), m(b))
    meta["sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="sha256"):
        load_universal(tmp_path / "ck")


@pytest.mark.parametrize("family", ["async_channels", "bursty"])
def test_packed_channel_scans_equal_the_scan_over_every_time_point(family, monkeypatch):
    """Each channel is scanned over its own observations only (grouped by count); the forecasts
    equal a scan over every time point of the window, with the shipped weights and a fresh
    oscillatory model, for windows of different lengths and channels unseen in a window."""
    import itnet_ts.model.universal as uni

    df = make_irregular(n_series=8, n_channels=5, length=40, seed=3, family=family, shape="tidy")
    canon, spec = ingest(df, variable_col="variable", value_col="value")
    r = ragged_from_canonical(canon, spec.channels)
    ws = training_windows(r, 8.0, np.random.default_rng(1), 2)
    b = make_batch(r, ws, np.arange(len(ws)), ValueScaler.fit(r), 1.0, 64)
    assert (b.mask.sum(1) == 0).any() and b.valid.sum(1).unique().numel() > 1
    for m in (load_universal("itnet-zero-v1")[0].eval(), _model(oscillatory=True)):
        with torch.no_grad():
            packed = m(b)
            monkeypatch.setattr(uni, "SCAN_GROUPS", 1)
            one_group = m(b)
            monkeypatch.setattr(uni, "PACKED_SCANS", False)
            dense = m(b)
        monkeypatch.undo()
        torch.testing.assert_close(packed, dense, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(one_group, dense, rtol=1e-4, atol=1e-5)

"""ITNet with static and known-future covariates: step() still equals re-encoding, and the
covariates reach the forecasts."""

import dataclasses

import numpy as np
import pytest
import torch

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler, forecast_windows, make_batch
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet


def _with_covariates(S=4, C=3, seed=0):
    """Ragged series with asynchronous channels, two statics and one known-future column."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(3, 25, S)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    times = np.concatenate([np.cumsum(rng.exponential(1.0, n)) for n in lens])
    mask = rng.random((len(times), C)) < 0.5
    mask[np.arange(len(times)), rng.integers(0, C, len(times))] = True
    vals = np.where(mask, rng.normal(size=(len(times), C)), 0.0)
    ids = np.array([f"s{i}" for i in range(S)], dtype=object)
    r = RaggedSeries(ids, indptr, times, vals, mask, tuple("abc"[:C]))
    return dataclasses.replace(
        r, static=rng.normal(size=(r.n_series, 2)), futr=rng.normal(size=(len(r.times), 1))
    )


def _batch(r, cut_last=0, q_futr=None):
    S = r.n_series
    last = r.indptr[1:] - 1
    q_futr = np.zeros((S, 1)) if q_futr is None else q_futr
    w = forecast_windows(r, np.arange(S), r.times[last] + 1.0, np.zeros(S, np.int64), q_futr=q_futr)
    w = dataclasses.replace(w, hist_end=r.indptr[1:] - cut_last, cutoff=r.times[last])
    return make_batch(r, w, np.arange(S), ValueScaler.fit(r), 1.0)


def _model(**opts):
    torch.manual_seed(0)
    cfg = ITNetConfig(n_channels=3, d_model=16, rank=4, kernel_hidden=16, n_static=2, n_futr=1)
    model = ITNet(dataclasses.replace(cfg, **opts)).eval()
    torch.nn.init.normal_(model.head[-1].weight, std=0.3)
    return model


@pytest.mark.parametrize("opts", [{}, {"decoder": "both", "weights": "gap"}])
def test_step_with_covariates_equals_reencoding(opts):
    r = _with_covariates()
    model = _model(**opts)
    full = model.encode(_batch(r))
    short = model.encode(_batch(r, cut_last=1))
    last = r.indptr[1:] - 1
    scaler = ValueScaler.fit(r)
    f32 = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    vals = np.where(r.mask[last], scaler.transform(r.values[last]), 0)
    stepped = model.step(
        short, f32(np.zeros(r.n_series)), f32(vals), f32(r.mask[last]), f32(r.futr[last])
    )
    for a, b in zip(stepped.states, full.states, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(stepped.last_futr, full.last_futr)
    q = torch.full((r.n_series, 2), 0.7)
    qc = torch.tensor([[0, 2]] * r.n_series)
    qf = torch.randn(r.n_series, 2, 1)
    got = model.decode(stepped, q, qc, qf)
    if stepped.memory is not None:  # the attention memory is compared through decode
        assert stepped.memory.shape[1] == short.memory.shape[1] + 1
    torch.testing.assert_close(got, model.decode(full, q, qc, qf), rtol=1e-4, atol=1e-5)


def test_covariates_change_the_forecasts_and_are_required():
    r = _with_covariates()
    model = _model()
    b = _batch(r)
    base = model(b)
    b2 = _batch(r, q_futr=np.full((r.n_series, 1), 3.0))
    assert not torch.allclose(model(b2), base)  # the futr value at the query matters
    b3 = dataclasses.replace(b, static=b.static + 1.0)
    assert not torch.allclose(model(b3), base)  # so do the statics
    with pytest.raises(ValueError, match="static covariate"):
        model(dataclasses.replace(b, static=None))
    with pytest.raises(ValueError, match="q_futr covariate"):
        model(dataclasses.replace(b, q_futr=None))

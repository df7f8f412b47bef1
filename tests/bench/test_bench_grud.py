"""GRU-D baseline of the benchmark (itnet_ts.bench.grud) on tiny batches."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from itnet_ts.bench import grud as grud_module
from itnet_ts.bench.baselines import channel_history_mean
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler, WindowSet, make_batch


@pytest.fixture()
def grud():
    return grud_module


def _data(S=5, C=3, seed=0, empty=(1,)):
    """Ragged series whose windows have a history up to cutoff 10 and queries after it;
    the series in ``empty`` have no history at all."""
    rng = np.random.default_rng(seed)
    ids, times, vals, masks, indptr = [], [], [], [], [0]
    hist_start, hist_end, q_time, q_chan, q_target, q_indptr = [], [], [], [], [], [0]
    for s in range(S):
        n_h = 0 if s in empty else int(rng.integers(2, 12))
        n_f = int(rng.integers(1, 5))
        t = np.concatenate([np.sort(rng.uniform(0, 10, n_h)), np.sort(rng.uniform(10.5, 20, n_f))])
        m = rng.random((len(t), C)) < 0.5
        m[np.arange(len(t)), rng.integers(0, C, len(t))] = True
        v = np.where(m, rng.normal(size=(len(t), C)), 0.0)
        a = indptr[-1]
        hist_start.append(a)
        hist_end.append(a + n_h)
        pts, ch = np.nonzero(m[n_h:])
        q_time.append(t[n_h:][pts])
        q_chan.append(ch)
        q_target.append(v[n_h:][pts, ch])
        q_indptr.append(q_indptr[-1] + len(pts))
        ids.append(f"s{s}")
        times.append(t)
        vals.append(v)
        masks.append(m)
        indptr.append(a + len(t))
    ragged = RaggedSeries(
        np.array(ids, dtype=object),
        np.array(indptr, np.int64),
        np.concatenate(times),
        np.concatenate(vals),
        np.concatenate(masks),
        tuple("abc"[:C]),
    )
    windows = WindowSet(
        series=np.arange(S, dtype=np.int64),
        hist_start=np.array(hist_start, np.int64),
        hist_end=np.array(hist_end, np.int64),
        cutoff=np.full(S, 10.0),
        q_indptr=np.array(q_indptr, np.int64),
        q_time=np.concatenate(q_time),
        q_chan=np.concatenate(q_chan).astype(np.int64),
        q_target=np.concatenate(q_target),
    )
    return ragged, windows, ValueScaler.fit(ragged)


def _model(grud, C=3, seed=0):
    torch.manual_seed(seed)
    return grud.GRUDForecaster(C, np.array([0.1, -0.2, 0.3]), hidden=16, chan_dim=4).eval()


def test_shape_and_finite_with_empty_history(grud):
    ragged, windows, scaler = _data()
    b = make_batch(ragged, windows, np.arange(len(windows)), scaler, 1.0)
    assert not b.valid[1].any()  # series 1: empty history
    out = _model(grud)(b)
    assert out.shape == (*b.q_tau.shape, 1)
    assert torch.isfinite(out).all()
    # an empty history leaves the hidden state at zero
    assert torch.equal(_model(grud).encode(b)[1], torch.zeros(16))


def _pad(b, k):
    """``b`` with ``k`` padded history steps appended."""
    import dataclasses

    def cat(x):
        return torch.cat([x, torch.zeros((x.shape[0], k, *x.shape[2:]), dtype=x.dtype)], 1)

    names = ("tau", "dtau", "values", "mask", "age", "seen", "valid")
    return dataclasses.replace(b, **{n: cat(getattr(b, n)) for n in names})


def test_padding_does_not_change_outputs(grud):
    ragged, windows, scaler = _data()
    model = _model(grud)
    together = make_batch(ragged, windows, np.arange(len(windows)), scaler, 1.0)
    with torch.no_grad():
        out_all = model(together)
        torch.testing.assert_close(model(_pad(together, 7)), out_all, rtol=0, atol=0)
        lengths = together.valid.sum(1)
        assert (lengths < together.tau.shape[1]).any()  # the batch itself is padded
        for w in range(len(windows)):
            alone = make_batch(ragged, windows, np.array([w]), scaler, 1.0)
            q = int(windows.q_indptr[w + 1] - windows.q_indptr[w])
            torch.testing.assert_close(out_all[w, :q], model(alone)[0, :q], rtol=1e-5, atol=1e-6)


def test_decay_inputs_follow_the_paper(grud):
    """delta = time since the variable's last observation strictly before the step (from the
    first step if never); a missing input decays from its last value toward the mean."""
    ragged, windows, scaler = _data(S=3, empty=())
    b = make_batch(ragged, windows, np.arange(3), scaler, 1.0)
    model = _model(grud)
    inp, delta = model.gru_d_inputs(b)
    tau, m = b.tau.numpy(), b.mask.numpy()
    for i in range(3):
        n = int(b.valid[i].sum())
        for c in range(3):
            last = None
            for t in range(n):
                want = tau[i, t] - (tau[i, 0] if last is None else tau[i, last])
                assert abs(delta[i, t, c].item() - want) < 1e-5
                if m[i, t, c]:
                    last = t
    # a missing input: gamma * (last value before the step) + (1 - gamma) * x_mean, where
    # gamma = exp(-relu(w_x * delta + b_x)) and x_last = x_mean if never observed before
    x, xm = b.values.numpy(), model.x_mean.numpy()
    w_x, b_x = model.w_x.detach().numpy(), model.b_x.detach().numpy()
    checked = 0
    for i in range(3):
        for c in range(3):
            last = None
            for t in range(int(b.valid[i].sum())):
                if not m[i, t, c]:
                    g = np.exp(-max(w_x[c] * delta[i, t, c].item() + b_x[c], 0.0))
                    x_last = xm[c] if last is None else x[i, last, c]
                    want = g * x_last + (1 - g) * xm[c]
                    assert abs(inp[i, t, c].item() - want) < 1e-5
                    checked += 1
                else:
                    assert inp[i, t, c].item() == x[i, t, c]
                    last = t
                assert inp[i, t, 3 + c].item() == m[i, t, c]  # the mask is the second half
    assert checked > 5


def test_a_few_steps_reduce_the_loss(grud):
    ragged, windows, scaler = _data(S=8, seed=3)
    b = make_batch(ragged, windows, np.arange(len(windows)), scaler, 1.0)
    model = _model(grud).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss():  # the masked MSE fit_model trains on
        return ((model(b)[..., 0] - b.y)[b.y_known] ** 2).mean()

    first = loss().item()
    for _ in range(30):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < 0.8 * first


def test_x_mean_is_the_history_mean_per_channel():
    ragged, windows, scaler = _data(S=4, seed=2, empty=())
    got = channel_history_mean(SimpleNamespace(ragged=ragged, windows=windows), scaler)
    rows = np.concatenate(
        [np.arange(a, b) for a, b in zip(windows.hist_start, windows.hist_end, strict=True)]
    )
    m = ragged.mask[rows]
    v = scaler.transform(ragged.values[rows])
    want = [v[m[:, c], c].mean() for c in range(3)]
    np.testing.assert_allclose(got, want)

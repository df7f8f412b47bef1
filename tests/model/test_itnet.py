import numpy as np
import pytest
import torch

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler, forecast_windows, make_batch
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet


def _ragged(S=4, C=3, seed=0):
    rng = np.random.default_rng(seed)
    lens = rng.integers(3, 25, S)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    times = np.concatenate([np.cumsum(rng.exponential(1.0, n)) for n in lens])
    mask = rng.random((len(times), C)) < 0.5
    mask[np.arange(len(times)), rng.integers(0, C, len(times))] = True
    vals = np.where(mask, rng.normal(size=(len(times), C)), 0.0)
    ids = np.array([f"s{i}" for i in range(S)], dtype=object)
    return RaggedSeries(ids, indptr, times, vals, mask, tuple("abc"[:C]))


def _batch(r, cut_last=0):
    """Whole-history batch of every series, minus its last ``cut_last`` points, one query."""
    S = r.n_series
    hist_end = r.indptr[1:] - cut_last
    w = forecast_windows(r, np.arange(S), r.times[r.indptr[1:] - 1] + 1.0, np.zeros(S, np.int64))
    w = type(w)(**{**w.__dict__, "hist_end": hist_end, "cutoff": r.times[r.indptr[1:] - 1]})
    return make_batch(r, w, np.arange(S), ValueScaler.fit(r), 1.0)


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"oscillatory": True, "kwn": True},
        {"selective": True, "weights": "gap"},
        # one grid frequency: the search cannot pick another after the step
        {"period_f_min": 0.37, "period_df": 0.01, "period_n_freq": 1},
    ],
    ids=["plain", "osc-kwn", "sel-gap", "periodic"],
)
def test_step_equals_reencoding(opts, monkeypatch):
    # every row takes part in the period search (short ones too), so no row's frequency is 0
    # before the step (kept by step) and found after it (by re-encoding)
    monkeypatch.setattr("itnet_ts.model.periodic.SEARCH_MIN_OBS", 2)
    torch.manual_seed(0)
    r = _ragged()
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4, kernel_hidden=16, **opts)).eval()
    full = model.encode(_batch(r))
    short = model.encode(_batch(r, cut_last=1))
    last = r.indptr[1:] - 1
    scaler = ValueScaler.fit(r)
    cut = r.times[last]
    tau = torch.tensor(r.times[last] - cut, dtype=torch.float32)
    vals = torch.tensor(
        np.where(r.mask[last], scaler.transform(r.values[last]), 0), dtype=torch.float32
    )
    stepped = model.step(short, tau, vals, torch.tensor(r.mask[last], dtype=torch.float32))
    for a, b in zip(stepped.states, full.states, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(stepped.tau_last, full.tau_last)
    torch.testing.assert_close(stepped.last_value, full.last_value)
    torch.testing.assert_close(stepped.count, full.count)
    torch.testing.assert_close(stepped.ew, full.ew, rtol=1e-4, atol=1e-5)
    q = torch.full((r.n_series, 2), 0.7)
    qc = torch.tensor([[0, 2]] * r.n_series)
    torch.testing.assert_close(
        model.decode(stepped, q, qc), model.decode(full, q, qc), rtol=1e-4, atol=1e-5
    )


def test_untrained_head_is_exact_persistence():
    r = _ragged()
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4, start="persistence")).eval()
    b = _batch(r)
    pred = model(b)[..., 0]
    expected = torch.where(b.has_last.gather(1, b.q_chan) > 0, b.last_value.gather(1, b.q_chan), 0)
    torch.testing.assert_close(pred, expected)


def test_padding_does_not_change_predictions():
    torch.manual_seed(1)
    r = _ragged(S=5)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4)).eval()
    torch.nn.init.normal_(model.head[-1].weight)
    b = _batch(r)
    together = model(b)
    for s in range(r.n_series):
        single = make_batch(r, _window_subset(r, s), np.array([0]), ValueScaler.fit(r), 1.0)
        torch.testing.assert_close(model(single)[0, :1], together[s, :1], rtol=1e-4, atol=1e-5)


def _window_subset(r, s):
    S = r.n_series
    w = forecast_windows(r, np.arange(S), r.times[r.indptr[1:] - 1] + 1.0, np.zeros(S, np.int64))
    pick = lambda a: a[[s]]  # noqa: E731
    return type(w)(
        series=pick(w.series),
        hist_start=pick(w.hist_start),
        hist_end=pick(w.hist_end),
        cutoff=pick(w.cutoff),
        q_indptr=np.array([0, 1]),
        q_time=w.q_time[[s]],
        q_chan=w.q_chan[[s]],
        q_target=w.q_target[[s]],
    )

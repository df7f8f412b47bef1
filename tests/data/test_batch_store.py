"""BatchStore: a precomputed gather gives exactly make_batch's batch for the same windows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from itnet_ts.data._batch_store import BatchStore
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import (
    Batch,
    ValueScaler,
    WindowSet,
    make_batch,
    training_windows,
    validation_windows,
)


def _ragged(S=9, C=3, seed=0, covariates=False, ns_times=False):
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 30, S)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    times = np.concatenate([np.cumsum(rng.exponential(1.0, n)) for n in lens])
    if ns_times:  # datetime-like int64 nanoseconds
        times = (1_700_000_000e9 + times * 3.6e12).astype(np.int64)
    mask = rng.random((len(times), C)) < 0.4
    mask[rng.random(len(times)) < 0.2] = False  # time points with nothing observed
    vals = np.where(mask, rng.normal(3.0, 2.0, size=(len(times), C)), 0.0)
    ids = np.array([f"s{i}" for i in range(S)], dtype=object)
    r = RaggedSeries(ids, indptr, times, vals, mask, tuple("abcd"[:C]))
    if covariates:
        r = dataclasses.replace(
            r, static=rng.normal(size=(S, 2)), futr=rng.normal(size=(len(times), 2))
        )
    return r


def _windows(r, rng, covariates=False) -> WindowSet:
    horizon = 5.0 if r.times.dtype.kind == "f" else 5 * 3.6e12
    w = training_windows(r, horizon, rng, per_series=3)
    if covariates:
        w = dataclasses.replace(w, q_futr=rng.normal(size=(len(w.q_time), 2)))
    # unknown targets (NaN) are kept as queries with y_known False
    tgt = w.q_target.copy()
    tgt[rng.random(len(tgt)) < 0.1] = np.nan
    return dataclasses.replace(w, q_target=tgt)


def assert_same_batch(got: Batch, want: Batch):
    for f in dataclasses.fields(Batch):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if b is None:
            assert a is None, f.name
            continue
        assert a.dtype == b.dtype and a.shape == b.shape, (f.name, a.shape, b.shape)
        assert torch.equal(a, b), f.name  # bit for bit


@pytest.mark.parametrize("covariates", [False, True], ids=["plain", "covariates"])
@pytest.mark.parametrize("ns_times", [False, True], ids=["float", "ns"])
@pytest.mark.parametrize("max_history", [None, 4])
def test_batches_equal_make_batch(covariates, ns_times, max_history):
    rng = np.random.default_rng(1)
    r = _ragged(covariates=covariates, ns_times=ns_times)
    w = _windows(r, rng, covariates)
    unit = 1.0 if not ns_times else 3.6e12
    scaler = ValueScaler.fit(r)
    store = BatchStore(r, w, scaler, unit, max_history, chunk=5)  # several packing chunks
    assert len(store) == len(w)
    for idx in (
        np.arange(len(w)),
        rng.permutation(len(w))[:7],
        np.array([3]),
        np.array([2, 2, 0]),  # repeats
        np.zeros(0, np.int64),  # empty batch
    ):
        assert_same_batch(store.batch(idx), make_batch(r, w, idx, scaler, unit, max_history))


def test_empty_histories_queries_and_window_sets():
    r = _ragged(S=4)
    w, _ = validation_windows(r, 3.0)
    # a window with an empty history
    hist_end = w.hist_end.copy()
    hist_end[0] = w.hist_start[0]
    q_indptr = w.q_indptr.copy()
    w = dataclasses.replace(w, hist_end=hist_end)
    scaler = ValueScaler.fit(r)
    store = BatchStore(r, w, scaler, 1.0)
    idx = np.arange(len(w))
    assert_same_batch(store.batch(idx), make_batch(r, w, idx, scaler, 1.0))
    empty = dataclasses.replace(
        w,
        series=w.series[:0],
        hist_start=w.hist_start[:0],
        hist_end=w.hist_end[:0],
        cutoff=w.cutoff[:0],
        q_indptr=q_indptr[:1],
        q_time=w.q_time[:0],
        q_chan=w.q_chan[:0],
        q_target=w.q_target[:0],
    )
    s0 = BatchStore(r, empty, scaler, 1.0)
    none = np.zeros(0, np.int64)
    assert len(s0) == 0
    assert_same_batch(s0.batch(none), make_batch(r, empty, none, scaler, 1.0))


def test_batch_order_covers_every_window_once_and_pads_less():
    from itnet_ts.estimators._batches import batch_order

    rng = np.random.default_rng(0)
    h_len = rng.integers(1, 300, 5000)
    q_len = rng.integers(1, 60, 5000)

    def padded(groups):  # padded slots of history + queries
        return sum(len(g) * (h_len[g].max() + q_len[g].max()) for g in groups)

    bucketed = batch_order(h_len, q_len, 32, np.random.default_rng(1), bucket=32)
    plain = batch_order(h_len, q_len, 32, np.random.default_rng(1), bucket=1)
    for groups in (bucketed, plain):
        np.testing.assert_array_equal(np.sort(np.concatenate(groups)), np.arange(5000))
        assert max(len(g) for g in groups) == 32
    assert padded(bucketed) < 0.75 * padded(plain)
    # the same rng gives the same order; bucket=1 is a plain permutation cut into batches
    again = batch_order(h_len, q_len, 32, np.random.default_rng(1), bucket=32)
    assert all(np.array_equal(a, b) for a, b in zip(bucketed, again, strict=True))
    np.testing.assert_array_equal(np.concatenate(plain), np.random.default_rng(1).permutation(5000))
    # without an rng (evaluation): sorted by history length, then query count
    ev = np.concatenate(batch_order(h_len, q_len, 32, None))
    assert (np.diff(h_len[ev]) >= 0).all()

"""``RaggedSeries``' per-series quantities and ``head``, and the window algebra of
``data/_windows.py`` (``select_windows``, ``concat_windows``, ``hold_out_windows``)."""

from __future__ import annotations

import numpy as np

from itnet_ts.data._ingest import ingest
from itnet_ts.data._ragged import ragged_from_canonical
from itnet_ts.data._windows import (
    concat_windows,
    hold_out_windows,
    select_windows,
    training_windows,
)
from itnet_ts.datasets import make_irregular


def _ragged():
    canon, spec = ingest(make_irregular(n_series=5, n_channels=2, length=12.0, seed=4))
    return ragged_from_canonical(canon, spec.channels)


def test_per_series_quantities():
    r = _ragged()
    for s in range(r.n_series):
        t = r.times[r.series(s)]
        assert r.starts()[s] == r.indptr[s] and r.ends()[s] == r.indptr[s + 1]
        assert r.first_times()[s] == t[0] and r.last_times()[s] == t[-1]
        assert r.spans()[s] == float(t[-1] - t[0])
    assert r.spans().dtype == np.float64
    r.ends()[0] = -1  # copies: the series are untouched
    assert r.indptr[1] != -1


def test_head_keeps_the_first_points_of_every_series():
    r = _ragged()
    end = r.starts() + np.minimum(3, r.lengths())
    h = r.head(end)
    assert h.n_series == r.n_series and (h.lengths() == end - r.starts()).all()
    for s in range(r.n_series):
        np.testing.assert_array_equal(h.times[h.series(s)], r.times[r.indptr[s] : end[s]])
        np.testing.assert_array_equal(h.values[h.series(s)], r.values[r.indptr[s] : end[s]])


def test_window_algebra():
    r = _ragged()
    ws = training_windows(r, 3.0, np.random.default_rng(0), per_series=3)
    idx = np.array([4, 0, 2])
    sub = select_windows(ws, idx)
    assert len(sub) == 3 and (sub.series == ws.series[idx]).all()
    for j, w in enumerate(idx):
        got = sub.q_time[sub.q_indptr[j] : sub.q_indptr[j + 1]]
        np.testing.assert_array_equal(got, ws.q_time[ws.q_indptr[w] : ws.q_indptr[w + 1]])
    both = concat_windows(
        [select_windows(ws, np.arange(5)), select_windows(ws, np.arange(5, len(ws)))]
    )
    for f in ("series", "cutoff", "q_indptr", "q_time", "q_chan", "q_target"):
        np.testing.assert_array_equal(getattr(both, f), getattr(ws, f))
    train, val = hold_out_windows(ws, np.random.default_rng(1))
    assert len(train) + len(val) == len(ws) and len(val) == round(0.2 * len(ws))
    assert hold_out_windows(select_windows(ws, np.arange(4)), np.random.default_rng(1))[1] is None

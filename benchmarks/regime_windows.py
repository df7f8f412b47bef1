"""Why ITNet's start fell short on synthetic-regime_shifts (issue 10): where the generator puts
the level shifts, and how persistence fares on training windows (cut anywhere) versus the
validation windows (the last ``horizon`` of each series) that the estimator draws.

    OMP_NUM_THREADS=1 python benchmarks/regime_windows.py

Windows as ``ITNetForecaster.fit`` draws them on the suite's train + val series (horizon 10,
6 training windows per series, rng seed 0); persistence MSE in raw units.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from itnet_ts.bench.data import load_dataset
from itnet_ts.bench.runs import _full_frame
from itnet_ts.data._ingest import ingest
from itnet_ts.data._ragged import ragged_from_canonical
from itnet_ts.data._windows import training_windows, validation_windows
from itnet_ts.datasets.synthetic import _regime_shifts


def shift_times() -> None:
    _, _, _, ev = _regime_shifts(np.random.default_rng(0), 384, 3, 100.0, 1.0)
    cells = dict(zip(ev.__code__.co_freevars, ev.__closure__, strict=True))
    s = cells["shift_t"].cell_contents
    s = s[np.isfinite(s)]
    print(f"{s.size} shifts: median time {np.median(s):.1f} of 100, {np.mean(s < 50):.1%} in "
          f"the first half, {np.mean(s >= 90):.1%} in the last 10 units")  # fmt: skip


def persistence_errors(rg, ws):
    err, n_hist = [], []
    for w in range(len(ws)):
        a, e = ws.hist_start[w], ws.hist_end[w]
        for q in range(ws.q_indptr[w], ws.q_indptr[w + 1]):
            c = ws.q_chan[q]
            m = rg.mask[a:e, c]
            last = rg.values[a:e][m, c][-1] if m.any() else np.nan
            err.append(ws.q_target[q] - last)
            n_hist.append(e - a)
    return np.array(err), np.array(n_hist)


def main() -> None:
    shift_times()
    d = load_dataset("synthetic-regime_shifts")
    full = pl.concat([_full_frame(d.split(s)) for s in ("train", "val")])
    canon, spec = ingest(full, id_col="unique_id", time_col="ds", variable_col="variable",
                         value_col="value", shape="auto", duplicates="error")  # fmt: skip
    rg = ragged_from_canonical(canon, spec.channels)
    val, train_end = validation_windows(rg, 10.0)
    train = training_windows(rg, 10.0, np.random.default_rng(0), 6, train_end=train_end)
    for name, ws in (("training", train), ("validation", val)):
        e, n = persistence_errors(rg, ws)
        parts = [f"all {np.nanmean(e**2):.3f}"]
        for lo, hi in ((0, 10), (10, 100), (100, 10**9)):
            sel = (n >= lo) & (n < hi)
            if sel.any():
                parts.append(
                    f"history {lo}-{hi if hi < 10**9 else 'inf'} pts {np.nanmean(e[sel] ** 2):.3f}"
                )
        print(f"persistence MSE on {name} windows: " + ", ".join(parts))


if __name__ == "__main__":
    main()

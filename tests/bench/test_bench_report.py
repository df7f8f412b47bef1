"""Summaries and tables of benchmark runs, and the per-run peak memory."""

from __future__ import annotations

import numpy as np
import pytest

from itnet_ts.bench._memory import PeakMemory
from itnet_ts.bench.report import markdown, summarise


def _run(model, seed, mse, mae, **kw):
    return {"dataset": "physionet", "model": model, "seed": seed, "test_mse": mse,
            "test_mae": mae, "val_mse": mse * 1.1, "val_mae": mae * 1.1, "s_per_epoch": 40.0,
            "infer_s": 7.0, "peak_rss_mb": 1500.0 + seed, "params": 108177, "device": "cpu",
            "backend": "numba", **kw}  # fmt: skip


def test_mean_std_over_seeds_and_table():
    runs = [_run("itnet", s, m, a) for s, m, a in ((2, 4.4e-3, 3.4e-2), (1, 4.6e-3, 3.5e-2))]
    # a run file written before these fields existed (benchmarks/physionet_itnet.py)
    old = {"variant": "base", "seed": 1, "test_mse": 5.8e-3, "test_mae": 3.6e-2,
           "val_mse": 6e-3, "val_mae": 3.7e-2, "s_per_epoch": None, "params": 0}  # fmt: skip
    rows = summarise([*runs, old])
    it, base = rows
    assert it["seeds"] == [1, 2] and it["n_seeds"] == 2
    assert it["test_mse_mean"] == pytest.approx(4.5e-3)
    assert it["test_mse_std"] == pytest.approx(np.std([4.4e-3, 4.6e-3]))
    assert it["peak_rss_mb"] == 1502.0 and it["device"] == "cpu"
    assert base["model"] == "base" and base["infer_s"] is None and base["device"] == "n/a"
    md = markdown(rows)
    assert "test MSE ×1e-3" in md and "test MAE ×1e-2" in md
    assert "| itnet | 1,2 | 4.500 ± 0.100 | 3.450 ± 0.050 |" in md
    assert "| base | 1 | 5.800 | 3.600 |" in md  # one seed: no ± part
    assert "peak GPU MB" not in md
    gpu = markdown(summarise([_run("itnet", 1, 1.0, 0.5, peak_gpu_mb=900.0, device="cuda:0")]))
    assert "peak GPU MB" in gpu and "| 1.000 | 0.500 |" in gpu and "cuda:0" in gpu


def test_peak_memory_is_per_run():
    import mmap

    with PeakMemory() as first:
        # 40 MB of fresh anonymous pages, every page written: resident whatever state the
        # process's malloc is in (a numpy array can be served from already-resident free heap
        # memory after earlier tests, and then the peak does not move)
        big = mmap.mmap(-1, 40_000_000)
        for off in range(0, len(big), mmap.PAGESIZE):
            big[off] = 1
        big.close()
    with PeakMemory() as second:
        pass
    a, b = first.record(), second.record()
    assert a["peak_rss_mb"] >= a["rss_start_mb"]
    if a["mem_method"].startswith("VmHWM"):  # Linux: the peak is reset per run
        assert a["peak_rss_mb"] - a["rss_start_mb"] > 30
        assert b["peak_rss_mb"] - b["rss_start_mb"] < 20
    assert a["peak_gpu_mb"] is None

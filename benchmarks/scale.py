"""Scale without surprises: time and peak memory of ``predict`` over many series, and of
fitting / forecasting one very long series in recurrent mode.

    python benchmarks/scale.py            # the full run (a few minutes on 2 CPU cores)
    python benchmarks/scale.py --quick    # smaller sizes, for a smoke test
    python benchmarks/scale.py --threads 2

Each child runs with ``--threads`` torch / numba threads (default 1); the many-series table
adds one run with 2 threads for comparison.

Each measurement runs in a fresh subprocess so that one size's memory cannot hide another's.
Reported per run: wall seconds of the measured call, the peak resident-memory increase during
it (RSS sampled every 5 ms from /proc, so it covers numpy, polars and torch alike) and the
tracemalloc peak (Python and numpy allocations only). Prints a markdown table.

* many series: a tiny model (saved once, loaded in each child) forecasts ``S`` series of 16
  time points x 2 channels, 4 steps ahead, via ``predict(df=..., h=...)``. The network runs
  in batches of ``batch_size`` windows, so its memory is bounded; the frames in and out are
  linear in ``S``.
* one long series: ``fit`` on one series of ``N`` observations (training windows see the last
  ``max_history=256`` points), then ``predict`` with ``max_history=N``: the recurrent encoder
  scans all ``N`` observations, O(N) time and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

TINY = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


def frame(n_series: int, n_obs: int, seed: int = 0):
    """Wide polars frame: irregular float times, ch0 always and ch1 half the time observed."""
    import polars as pl

    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0, size=(n_series, n_obs))
    t = np.cumsum(gaps, axis=1).ravel()
    ch0 = np.sin(t / 3.0) + 0.1 * rng.normal(size=t.size)
    ch1 = np.where(rng.random(t.size) < 0.5, np.cos(t / 5.0), np.nan)
    ids = np.repeat(np.arange(n_series), n_obs)
    return pl.DataFrame({"unique_id": ids, "ds": t, "ch0": ch0, "ch1": ch1}).with_columns(
        pl.col("ch1").fill_nan(None)
    )


class PeakRSS:
    """Peak resident memory (bytes) above the level at ``__enter__``, sampled in a thread."""

    def __init__(self, every: float = 0.005):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)

    def __enter__(self):
        self.base = self.rss()
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())
        self.increase = self.peak - self.base


def measure(fn):
    tracemalloc.start()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, {"seconds": seconds, "rss_mb": mem.increase / 2**20, "traced_mb": traced / 2**20}


def child_many(model_path: str, n_series: int) -> dict:
    from itnet_ts import ITNetForecaster

    est = ITNetForecaster.load(model_path)
    df = frame(n_series, 16, seed=1)
    est.predict(h=2.0, df=frame(8, 16, seed=2))  # warm-up: numba / torch initialisation
    pred, m = measure(lambda: est.predict(h=4 * est.time_unit_, df=df))
    assert pred["y_hat"].is_finite().all()
    return {**m, "rows_in": df.height, "rows_out": pred.height}


def child_long_fit(n_obs: int, model_path: str) -> dict:
    from itnet_ts import ITNetForecaster

    df = frame(1, n_obs, seed=3)
    ITNetForecaster(**TINY).fit(frame(1, 64, seed=4)).predict(h=2.0)  # warm-up
    est, m = measure(lambda: ITNetForecaster(**TINY).fit(df))
    est.save(model_path)
    return m


def child_long_predict(n_obs: int, model_path: str) -> dict:
    from itnet_ts import ITNetForecaster

    df = frame(1, n_obs, seed=3)
    est = ITNetForecaster.load(model_path)
    est.predict(h=2.0, df=frame(1, 64, seed=4))  # warm-up
    est.set_params(max_history=n_obs)  # forecast from the whole history: one O(N) scan
    pred, m = measure(lambda: est.predict(h=4 * est.time_unit_, df=df))
    assert pred["y_hat"].is_finite().all()
    return m


def run_child(*args: str, threads: int = 1) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True,
        check=False, env=env,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch / numba threads per run (default 1: on a shared or small machine "
                   "more threads can be much slower, see RESULTS.md)")  # fmt: skip
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        kind, *rest = a.child
        if kind == "many":
            res = child_many(rest[0], int(rest[1]))
        elif kind == "long-fit":
            res = child_long_fit(int(rest[0]), rest[1])
        else:
            res = child_long_predict(int(rest[0]), rest[1])
        print(json.dumps(res))
        return 0

    many = [1_000, 10_000] if a.quick else [1_000, 10_000, 100_000]
    long = [10_000, 100_000] if a.quick else [10_000, 100_000, 1_000_000]
    from itnet_ts import ITNetForecaster

    print(f"cpu count {os.cpu_count()}, torch / numba threads per child {a.threads}",
          file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny.itnet"
        ITNetForecaster(**TINY).fit(frame(200, 32)).save(model)
        print("### predict over many series (16 time points x 2 channels each, 4 steps ahead)\n")
        print(
            "| series | threads | rows in | forecasts out | seconds | us / series | "
            "peak RSS +MB | tracemalloc MB |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        runs = [(s, a.threads) for s in many] + [(many[0], 2)] * (a.threads != 2)
        for s, th in runs:
            r = run_child("many", str(model), str(s), threads=th)
            print(f"| {s:,} | {th} | {r['rows_in']:,} | {r['rows_out']:,} | {r['seconds']:.1f} | "
                  f"{1e6 * r['seconds'] / s:.0f} | {r['rss_mb']:.0f} | {r['traced_mb']:.0f} |",
                  flush=True)  # fmt: skip
        print("\n### one long series (recurrent mode)\n")
        print(
            "| observations | fit s | fit peak RSS +MB | predict s (scan of all N) | "
            "predict us / obs | predict peak RSS +MB |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for n in long:
            path = str(Path(tmp) / f"long_{n}.itnet")
            f = run_child("long-fit", str(n), path, threads=a.threads)
            q = run_child("long-predict", str(n), path, threads=a.threads)
            print(f"| {n:,} | {f['seconds']:.1f} | {f['rss_mb']:.0f} | {q['seconds']:.2f} | "
                  f"{1e6 * q['seconds'] / n:.2f} | {q['rss_mb']:.0f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

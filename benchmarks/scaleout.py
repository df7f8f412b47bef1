"""Throughput of the scale-out paths on this machine: batch forecasting (series / second) in
one process and on a Dask LocalCluster of 1 and 2 workers, and DDP training (windows / second)
with 1 and 2 processes.

    python benchmarks/scaleout.py                 # the full run (a few minutes on 2 cores)
    python benchmarks/scaleout.py --quick         # smaller sizes, a smoke test
    python benchmarks/scaleout.py --json out.json

Forecasting: a tiny model (fit once) forecasts ``--series`` series (``--points`` irregular time
points x 2 channels, 4 steps ahead) from a parquet dataset of ``--files`` files, whole series
per file. Rows, timed after one untimed warm-up run of the same call (worker start-up, imports,
model shipping and numba loading are not in the numbers; each row is the best of ``--repeat``):

- ``predict (1 process)``: ``ITNetForecaster.predict(df=...)`` on the frame read in memory;
- ``predict_parquet (1 process)``: lazy polars scan, 1,000 series per batch;
- ``dask, N workers``: ``itnet_ts.distributed.predict(model, folder, out=...)`` on a
  ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``, writing one parquet
  file per partition (the series-split check included).

Training: ``ITNetForecaster.fit`` on ``--train-series`` series with 8 windows per series per
epoch (global batch 64), ``--epochs`` epochs, no early stop; windows / second over the epochs
after the first (the first one loads numba and builds DDP's buckets). ``1 process`` runs
``strategy="single"``; ``2 processes`` spawns two gloo ranks on loopback
(``strategy="ddp"``, each rank 1 torch thread, per-rank batch 32). Both have the same global
batch, so they take the same number of optimizer steps per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

# this file is named like the ``distributed`` package it uses: keep its folder off the path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402

TINY = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)
TRAIN = dict(d_model=32, rank=8, n_layers=2, windows_per_series=8, batch_size=64, verbose=False)


def frame(n_series: int, n_obs: int, seed: int = 0):
    """Wide polars frame: irregular float times, ch0 always and ch1 half the time observed."""
    import polars as pl

    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0, size=(n_series, n_obs)), axis=1).ravel()
    ch0 = np.sin(t / 3.0) + 0.1 * rng.normal(size=t.size)
    ch1 = np.where(rng.random(t.size) < 0.5, np.cos(t / 5.0), np.nan)
    ids = np.repeat(np.arange(n_series), n_obs)
    return pl.DataFrame({"unique_id": ids, "ds": t, "ch0": ch0, "ch1": ch1}).with_columns(
        pl.col("ch1").fill_nan(None)
    )


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: imports, numba, model shipping
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# ---- forecasting -------------------------------------------------------------------------------


def bench_forecast(args, tmp: Path) -> list[dict]:
    import polars as pl
    import torch

    from itnet_ts import ITNetForecaster
    from itnet_ts.distributed import predict, predict_parquet

    torch.set_num_threads(1)
    data = frame(args.series, args.points)
    model = ITNetForecaster(**TINY).fit(frame(32, args.points, seed=1))
    model.save(tmp / "m.itnet")
    folder = tmp / "data"
    folder.mkdir()
    part = data["unique_id"] % args.files
    for i in range(args.files):
        data.filter(part == i).write_parquet(folder / f"part-{i:03d}.parquet")
    S, rows = args.series, []

    def row(name, seconds):
        rows.append(
            {"path": name, "seconds": round(seconds, 3), "series_per_s": round(S / seconds)}
        )
        print(f"  {name}: {seconds:.2f} s, {S / seconds:,.0f} series/s", flush=True)

    row(
        "predict (1 process)",
        best_of(lambda: model.predict(h=4.0, df=pl.read_parquet(folder)), args.repeat),
    )
    row(
        "predict_parquet (1 process)",
        best_of(lambda: predict_parquet(model, folder, h=4.0, series_per_batch=1000), args.repeat),
    )
    from distributed import Client, LocalCluster

    for n in (1, 2):
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            out = tmp / f"out{n}"

            def run(client=client, out=out):
                predict(tmp / "m.itnet", folder, h=4.0, client=client, out=out, overwrite=True)

            row(f"dask, {n} worker{'s' if n > 1 else ''}", best_of(run, args.repeat))
    return rows


# ---- training ----------------------------------------------------------------------------------


def _fit(strategy: str, args, out: Path, threads: int) -> None:
    import torch

    from itnet_ts import ITNetForecaster

    torch.set_num_threads(threads)
    est = ITNetForecaster(**TRAIN, max_epochs=args.epochs, patience=args.epochs, strategy=strategy)
    est.fit(frame(args.train_series, args.points, seed=2))
    rank = (est.distributed_ or {}).get("rank", 0)
    if rank == 0:
        out.write_text(json.dumps(est.train_result_.history))


def _ddp_worker(rank: int, world: int, port: int, args, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)  # fmt: skip
    try:
        _fit("ddp", args, Path(out), threads=1)
    finally:
        dist.destroy_process_group()


def bench_train(args, tmp: Path) -> list[dict]:
    import torch.multiprocessing as mp

    windows = args.train_series * TRAIN["windows_per_series"]
    rows = []

    def row(name, history):
        secs = [h["seconds"] for h in history[1:]]  # epoch 0 warms up
        s = float(np.median(secs))
        rows.append({"setup": name, "seconds_per_epoch": round(s, 3),
                     "windows_per_s": round(windows / s)})  # fmt: skip
        print(f"  {name}: {s:.2f} s/epoch, {windows / s:,.0f} windows/s", flush=True)

    for threads in (1, 2):
        out = tmp / f"single{threads}.json"
        _fit("single", args, out, threads)
        row(f"1 process, {threads} torch thread{'s' if threads > 1 else ''}",
            json.loads(out.read_text()))  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    out = tmp / "ddp.json"
    mp.spawn(_ddp_worker, args=(2, port, args, str(out)), nprocs=2, join=True)
    row("2 processes (DDP, gloo), 1 torch thread each", json.loads(out.read_text()))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=20_000)
    p.add_argument("--points", type=int, default=32)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--train-series", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.series, args.train_series, args.repeat, args.epochs = 2000, 64, 1, 2
    load = os.getloadavg()[0]
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"forecasting {args.series} series x {args.points} points:", flush=True)
        fc = bench_forecast(args, Path(tmp))
        print(f"training on {args.train_series} series ({args.epochs} epochs):", flush=True)
        tr = bench_train(args, Path(tmp))
    report = {"args": vars(args) | {"json": None}, "load_average": load, "forecast": fc,
              "train": tr}  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    print("| forecasting path | seconds | series / s |\n|---|---|---|")
    for r in fc:
        print(f"| {r['path']} | {r['seconds']:.2f} | {r['series_per_s']:,} |")
    print("\n| training | s / epoch | windows / s |\n|---|---|---|")
    for r in tr:
        print(f"| {r['setup']} | {r['seconds_per_epoch']:.2f} | {r['windows_per_s']:,} |")


if __name__ == "__main__":
    sys.exit(main())

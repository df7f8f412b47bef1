"""Speed of the pretrained network on sparse multichannel data (issue 13): zero-shot forecasts
and one head-only fine-tuning step on PhysioNet 2012 records, with each channel scanned over its
own observations (``PACKED_SCANS``, the default) or over every time point of the window (the
reference), alternating in one process.

    OMP_NUM_THREADS=1 python benchmarks/pretrain_speed.py [--records 512] [--repeats 2]

Zero-shot: ``ITNetForecaster.pretrained().predict(df=<first --records test histories>,
times=<their protocol targets>)``, wall seconds (min over ``--repeats``) and the largest
forecast difference between the two arms. Fine-tuning: forward + backward of the network on
one batch of 64 training windows with only the head and adapter trainable (what an epoch of
``finetune="head"`` repeats), min seconds over ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet2012"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=512)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data-dir", default=os.environ.get("ITNET_PHYSIONET_DIR") or str(DEFAULT_DATA))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import itnet_ts.model.universal as uni
    from itnet_ts import ITNetForecaster
    from itnet_ts.bench.data import load_physionet

    split = load_physionet(Path(args.data_dir)).test
    ids = split.history["unique_id"].unique(maintain_order=True)[: args.records]
    hist = split.history.filter(split.history["unique_id"].is_in(ids.to_list()))
    times = split.targets.filter(split.targets["unique_id"].is_in(ids.to_list()))
    times = times.select("unique_id", "ds", "variable")
    est = ITNetForecaster.pretrained(verbose=False)
    batch = _head_batch(est, hist)
    secs = {True: [], False: []}
    step = {True: [], False: []}
    preds = {}
    for _ in range(args.repeats):
        for packed in (True, False):
            uni.PACKED_SCANS = packed
            t0 = time.perf_counter()
            preds[packed] = est.predict(df=hist, times=times)["y_hat"].to_numpy()
            secs[packed].append(time.perf_counter() - t0)
            step[packed].append(_head_step(est.model_, batch))
    uni.PACKED_SCANS = True
    diff = float(np.max(np.abs(preds[True] - preds[False])))
    print(f"PhysioNet test records: {len(ids)}, targets: {len(times):,}; CPU, 1 thread")
    print("| channel scans | zero-shot predict s | head-only fine-tuning step s (64 windows) |")
    print("|---|---|---|")
    for packed, name in ((False, "every time point (reference)"), (True, "own observations")):
        print(f"| {name} | {min(secs[packed]):.1f} | {min(step[packed]):.2f} |")
    print(f"largest forecast difference: {diff:.2e}")
    return 0


def _head_batch(est, hist):
    """One batch of 64 windows of ``hist`` as ``fit`` builds them."""
    from itnet_ts.data._ingest import ingest
    from itnet_ts.data._ragged import ragged_from_canonical
    from itnet_ts.data._windows import ValueScaler, make_batch, training_windows

    canon, spec = ingest(hist, variable_col="variable", value_col="value")
    r = ragged_from_canonical(canon, spec.channels)
    ws = training_windows(r, 24.0, np.random.default_rng(0), 1)
    return make_batch(r, ws, np.arange(min(64, len(ws))), ValueScaler.fit(r), 1.0, 256)


def _head_step(model, batch) -> float:
    model.train()
    model.requires_grad_(False)
    for p in model.head_parameters():
        p.requires_grad_(True)
    t0 = time.perf_counter()
    model(batch).square().mean().backward()
    secs = time.perf_counter() - t0
    model.zero_grad(set_to_none=True)
    model.requires_grad_(True)
    model.eval()
    return secs


if __name__ == "__main__":
    sys.exit(main())

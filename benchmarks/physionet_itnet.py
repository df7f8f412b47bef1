"""ITNet on the published PhysioNet 2012 forecasting protocol (t-PatchGNN, ICML 2024).

Each patient is one window: history = its observations with t < 24 h, queries = every observed
target entry with t >= 24 h. The protocol's min-max scaled values are the data; the model's
time unit is the hour. The model is the public estimator: ``ITNetForecaster(**variant).fit(
train records, cutoffs=<just before 24 h>, val_df=<val records>, val_cutoffs=...)`` (early
stopping with patience 10 on the validation MSE, best-validation epoch kept, then the check
against persistence / history mean), ``predict(df=<test histories>, times=<test targets>)``
scored with ``protocol_metrics`` on the protocol's scaled units.

    python benchmarks/physionet_itnet.py --variant base --seeds 1 2 3 4 5 \\
        [--epochs 100] [--out benchmarks/runs/physionet] [--threads 2]

One JSON per (variant, seed) under ``--out``; a finished one is not rerun (``--force`` reruns).
``--list`` prints the named variants; ``--table`` only prints the table of finished runs.
Data: ``--data-dir`` or ``$ITNET_PHYSIONET_DIR`` (default ../shared/data/physionet2012).

The harness (data, batches, training, scoring, timing, memory) is the package's
``itnet_ts.bench`` (also behind ``itnet-ts bench``); this script adds the named variants, its
output folder layout (``--out/<variant>/seed<N>.json``) and its log lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet2012"
DEFAULT_OUT = Path(__file__).resolve().parent / "runs" / "physionet"

#: Named variants: ``ITNetForecaster`` parameters over its defaults (the ablations of issue 10).
VARIANTS: dict[str, dict] = {
    "base": {},  # the estimator's defaults (start="mix")
    "b32": {"batch_size": 32},  # the batch of the published protocol (twice the steps)
    # the protocol's metric is the per-variable averaged MSE in the data's units
    "b32-data": {"batch_size": 32, "channel_weights": "data"},
    "b32-data-per-channel": {"batch_size": 32, "channel_weights": "data_per_channel"},
    "persistence-start": {"start": "persistence"},
    "kwn": {"kwn": True},
    "gap": {"weights": "gap"},
    "oscillatory": {"oscillatory": True},
    "selective": {"selective": True},
    "decoder-attention": {"decoder": "attention"},
    "decoder-both": {"decoder": "both"},
    "b32-decoder-both": {"batch_size": 32, "decoder": "both"},
    # training batches from length-sorted pools of 32 batches instead of at random
    # ("_bucket" sets itnet_ts.estimators._batches.BUCKET for the run)
    "bucketed": {"_bucket": 32},
    # the mix start alone, and with a moving average of the weights kept instead of the last
    # step's ("_average" sets itnet_ts.estimators._engine.AVERAGE_DECAY for the run)
    "mix": {"start": "mix"},
    "mix-average": {"start": "mix", "_average": 0.999},
    # issue 12: the encoder's integral estimated from M(N) sampled points while training
    "mix-monte-carlo": {"start": "mix", "integration": "monte_carlo"},
    # the shipped pretrained network (issue 13; pretrained without PhysioNet): as shipped,
    # its head and channel adapter fine-tuned, or every weight fine-tuned
    "pretrained-zero-shot": {"checkpoint": "itnet-zero-v1", "finetune": "zero-shot"},
    "pretrained-head": {"checkpoint": "itnet-zero-v1", "finetune": "head"},
    "pretrained-full": {"checkpoint": "itnet-zero-v1", "finetune": "full"},
}


def _variant(name: str) -> dict:
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; known: {sorted(VARIANTS)}")
    return dict(VARIANTS[name])


# ---------------------------------------------------------------------------------------------


def progress_callback(out: Path, name: str, seed: int, eval_seconds: bool = False):
    """``on_val`` for ``run_model``: print a line per validation pass (with its duration if
    ``eval_seconds``) and keep ``out/<name>/seed<N>.partial.json`` (a live run's progress)."""
    partial = out / name / f"seed{seed}.partial.json"

    def on_val(epoch: str, val_log: list[dict]) -> None:
        sc = val_log[-1]
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"variant": name, "seed": seed, "val": val_log}))
        line = f"  [{name} s{seed}] epoch {epoch}  val mse {sc['mse'] * 1e3:.4f}e-3  "
        line += f"mae {sc['mae'] * 1e2:.4f}e-2"
        if eval_seconds:
            line += f"  ({sc['eval_seconds']:.0f} s eval)"
        print(line, flush=True)

    return on_val


def run_one(name: str, seed: int, args, data) -> dict:
    """One (variant, seed) run on the protocol through the public estimator
    (``itnet_ts.bench.runs.run_model("itnet", ...)``: ``fit(cutoffs=, val_df=, val_cutoffs=)``,
    ``predict(df=, times=)``)."""
    from itnet_ts.bench.runs import run_model
    from itnet_ts.estimators import _batches, _engine

    print(f"  [{name} s{seed}] training ...", flush=True)
    params = _variant(name)
    default_bucket, default_average = _batches.BUCKET, _engine.AVERAGE_DECAY
    _batches.BUCKET = params.pop("_bucket", default_bucket)
    _engine.AVERAGE_DECAY = params.pop("_average", default_average)
    try:
        return run_model(
            "itnet",
            data,
            seed,
            epochs=args.epochs,
            patience=args.patience,
            device=args.device,
            params=params,
            variant=name,
        )
    finally:
        _batches.BUCKET, _engine.AVERAGE_DECAY = default_bucket, default_average


def load_data(data_dir: Path):
    """The protocol's splits as ``itnet_ts.bench.data.BenchData`` (checked against the
    published split sizes and min / max)."""
    from itnet_ts.bench.data import load_physionet

    return load_physionet(data_dir)


def print_table(out: Path, variants: list[str] | None = None) -> None:
    import numpy as np

    rows: dict[str, list[dict]] = {}
    for f in sorted(out.glob("*/seed*.json")):
        if f.name.endswith(".partial.json"):
            continue
        r = json.loads(f.read_text())
        if variants is None or r["variant"] in variants:
            rows.setdefault(r["variant"], []).append(r)
    print(
        "| variant | seeds | val MSE×1e-3 | val MAE×1e-2 | test MSE×1e-3 | test MAE×1e-2 "
        "| best ep / run | s/epoch | params |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    def fmt(xs: list[float], k: float) -> str:
        """Mean (± std over seeds) scaled by ``k``."""
        return f"{np.mean(xs) * k:.3f}" + (f" ± {np.std(xs) * k:.3f}" if len(xs) > 1 else "")

    for name, rs in rows.items():
        rs.sort(key=lambda r: r["seed"])
        print(
            f"| {name} | {','.join(str(r['seed']) for r in rs)} "
            f"| {fmt([r['val_mse'] for r in rs], 1e3)} | {fmt([r['val_mae'] for r in rs], 1e2)} "
            f"| {fmt([r['test_mse'] for r in rs], 1e3)} | {fmt([r['test_mae'] for r in rs], 1e2)} "
            f"| {'/'.join(str(r['best_epoch']) + ':' + str(r['epochs_run']) for r in rs)} "
            f"| {_mean_or_dash([r['s_per_epoch'] for r in rs])} | {rs[0]['params']:,} |"
        )


def _mean_or_dash(xs: list) -> str:
    """The mean of ``xs`` to 0.1, or a dash where a run has none (zero-shot: no epochs)."""
    import numpy as np

    return "–" if any(x is None for x in xs) else f"{np.mean(xs):.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="+", default=["base"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--data-dir", default=os.environ.get("ITNET_PHYSIONET_DIR") or str(DEFAULT_DATA)
    )
    parser.add_argument("--force", action="store_true", help="rerun finished (variant, seed)")
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    parser.add_argument("--table", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.list:
        for k, v in VARIANTS.items():
            print(f"{k}: {v}")
        return 0
    if args.table:
        print_table(out)
        return 0
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    for name in args.variant:
        _variant(name)  # fail early on unknown names
    todo = [
        (v, s)
        for v in args.variant
        for s in args.seeds
        if args.force or not (out / v / f"seed{s}.json").exists()
    ]
    if todo:
        t0 = time.perf_counter()
        data = load_data(Path(args.data_dir))
        print(f"data loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    for name, seed in todo:
        r = run_one(name, seed, args, data)
        path = out / name / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(r, indent=1))
        os.replace(tmp, path)
        path.with_name(f"seed{seed}.partial.json").unlink(missing_ok=True)
        print(
            f"{name} seed {seed}: val {r['val_mse'] * 1e3:.4f}/{r['val_mae'] * 1e2:.4f}  "
            f"test {r['test_mse'] * 1e3:.4f}/{r['test_mae'] * 1e2:.4f}  "
            f"best epoch {r['best_epoch']} of {r['epochs_run']}, "
            f"{_mean_or_dash([r['s_per_epoch']])} s/epoch",
            flush=True,
        )
    print_table(out, args.variant)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GRU-D (Che et al., 2018) re-implemented as a forecaster on the PhysioNet 2012 protocol.

A published neural baseline run by our own harness (issue 4, item 3): same data, split, windows,
scaling of the metric, early stopping and test scoring as ``physionet_itnet.py``. The model
(``GRUDForecaster``), its forecasting adaptation and the training defaults are documented in
``itnet_ts/bench/grud.py`` and ``itnet_ts.bench.runs.GRUD_DEFAULTS``; the run is
``itnet_ts.bench.runs.run_model("grud", ...)`` (also behind ``itnet-ts bench --model grud``).
Published reference (t-PatchGNN, ICML 2024, Table 1; ANCHORS.md section 1): GRU-D on
PhysioNet, test MSE 5.59e-3, MAE 4.08e-2, mean of 5 seeds.

    python benchmarks/physionet_grud.py --seeds 1 2 3 4 5 [--epochs 100] \\
        [--out benchmarks/runs/physionet_grud] [--threads 2]

One JSON per seed under ``--out/<name>/``; a finished one is not rerun (``--force`` reruns);
``--table`` only prints the table of finished runs. Data: ``--data-dir`` or
``$ITNET_PHYSIONET_DIR`` (default ../shared/data/physionet2012).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # sibling benchmark script, run as a file or imported by tests
    sys.path.insert(0, str(_HERE))
import physionet_itnet as pit  # noqa: E402

from itnet_ts.bench.grud import GRUDForecaster  # noqa: E402, F401  (re-exported)
from itnet_ts.bench.runs import GRUD_DEFAULTS  # noqa: E402

DEFAULT_OUT = _HERE / "runs" / "physionet_grud"


def run_one(name: str, seed: int, args, data) -> dict:
    """One seed of GRU-D on the protocol, printing a line per validation pass and keeping
    ``--out/<name>/seed<N>.partial.json`` up to date."""
    from itnet_ts.bench.runs import run_model

    on_val = pit.progress_callback(Path(args.out), name, seed, eval_seconds=True)

    hparams = {
        "hidden": args.hidden,
        "chan_dim": args.chan_dim,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "schedule": args.schedule,
        "grad_clip": args.grad_clip,
        "scaling": args.scaling,
    }
    return run_model(
        "grud",
        data,
        seed,
        epochs=args.epochs,
        patience=args.patience,
        device="cpu",
        params=hparams,
        variant=name,
        on_val=on_val,
    )


def main(argv: list[str] | None = None) -> int:
    d = GRUD_DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="grud", help="run name (subfolder of --out)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--data-dir", default=os.environ.get("ITNET_PHYSIONET_DIR") or str(pit.DEFAULT_DATA)
    )
    parser.add_argument("--hidden", type=int, default=d["hidden"])
    parser.add_argument("--chan-dim", type=int, default=d["chan_dim"])
    parser.add_argument("--lr", type=float, default=d["lr"])
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--schedule", choices=("constant", "cosine"), default=d["schedule"])
    parser.add_argument("--grad-clip", type=float, default=d["grad_clip"], help="0: no clipping")
    parser.add_argument(
        "--scaling",
        choices=("none", "standard"),
        default=d["scaling"],
        help="network units: the protocol's min-max units (none) or train z-scores",
    )
    parser.add_argument("--force", action="store_true", help="rerun finished seeds")
    parser.add_argument("--table", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.table:
        pit.print_table(out)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    todo = [s for s in args.seeds if args.force or not (out / args.name / f"seed{s}.json").exists()]
    if todo:
        t0 = time.perf_counter()
        data = pit.load_data(Path(args.data_dir))
        print(f"data loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    for seed in todo:
        r = run_one(args.name, seed, args, data)
        path = out / args.name / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(r, indent=1))
        os.replace(tmp, path)
        path.with_name(f"seed{seed}.partial.json").unlink(missing_ok=True)
        print(
            f"{args.name} seed {seed}: val {r['val_mse'] * 1e3:.4f}/{r['val_mae'] * 1e2:.4f}  "
            f"test {r['test_mse'] * 1e3:.4f}/{r['test_mae'] * 1e2:.4f}  "
            f"best epoch {r['best_epoch']} of {r['epochs_run']}, {r['s_per_epoch']:.1f} s/epoch",
            flush=True,
        )
    pit.print_table(out, [args.name])
    return 0


if __name__ == "__main__":
    sys.exit(main())

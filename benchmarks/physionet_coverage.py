"""Empirical interval coverage of ITNet's quantile forecasts on PhysioNet 2012 (test split).

The protocol of ``itnet_ts.bench`` (one window per patient, cutoff 24 h, every observed target
entry queried); an ITNet with quantile outputs (median + non-crossing gaps, ``itnet_ts.model.
quantiles``) trained with the pinball loss, early stopping on the validation pinball loss.
Reports the share of test targets inside each central interval (and per-variable spread).

    python benchmarks/physionet_coverage.py [--epochs 3] [--level 80 95] [--seed 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from itnet_ts.bench.data import bucketed_batches, load_physionet
from itnet_ts.data._windows import ValueScaler, make_batch
from itnet_ts.estimators._training import fit_model
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet
from itnet_ts.model.quantiles import monotone_quantiles

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet2012"


def quantile_predictions(model, split, scaler, unit, quantiles, batch_size=64) -> np.ndarray:
    """(n_targets, K) quantile forecasts in the protocol's units, in ``split.targets`` order."""
    w = split.windows
    out = np.zeros((len(w.q_time), len(quantiles)), np.float64)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(w), batch_size):
            idx = np.arange(i, min(i + batch_size, len(w)))
            b = make_batch(split.ragged, w, idx, scaler, unit)
            q = monotone_quantiles(model(b), quantiles).numpy()  # (B, Q, K)
            for j, k in enumerate(idx):
                qa, qb = w.q_indptr[k], w.q_indptr[k + 1]
                out[qa:qb] = q[j, : qb - qa]
    raw = np.stack([scaler.inverse(out[:, k], w.q_chan) for k in range(len(quantiles))], 1)
    result = np.empty_like(raw)
    result[split.perm] = raw
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--level", type=float, nargs="+", default=[80.0, 95.0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = load_physionet(args.data_dir)
    qs = sorted({0.5} | {round(0.5 - lv / 200, 6) for lv in args.level}
                | {round(0.5 + lv / 200, 6) for lv in args.level})  # fmt: skip
    scaler = ValueScaler.fit(data.train.ragged, "standard")
    model = ITNet(ITNetConfig(n_channels=len(data.variables), n_outputs=len(qs)))

    def val_batches():
        w = data.val.windows
        for i in range(0, len(w), 64):
            yield make_batch(data.val.ragged, w, np.arange(i, min(i + 64, len(w))), scaler,
                             data.unit)  # fmt: skip

    t0 = time.perf_counter()
    result = fit_model(
        model,
        lambda epoch: bucketed_batches(data.train, scaler, data.unit, 32, rng),
        val_batches,
        max_epochs=args.epochs,
        learning_rate=1e-3,
        patience=10,
        device=torch.device("cpu"),
        progress=True,
        loss="pinball",
        quantiles=qs,
    )
    fit_s = time.perf_counter() - t0
    pred = quantile_predictions(model, data.test, scaler, data.unit, qs)
    y = data.test.targets["value"].to_numpy()
    var = data.test.targets["variable"].to_numpy()
    report = {"quantiles": qs, "epochs": args.epochs, "best_epoch": result.best_epoch,
              "seed": args.seed, "fit_s": fit_s, "n_targets": len(y), "levels": {}}  # fmt: skip
    print(f"{len(y)} test targets; fit {fit_s:.0f} s, best epoch {result.best_epoch}")
    print("| interval | coverage (all targets) | per-variable coverage: median [min, max] |")
    print("|---|---|---|")
    for lv in args.level:
        lo, hi = qs.index(round(0.5 - lv / 200, 6)), qs.index(round(0.5 + lv / 200, 6))
        inside = (y >= pred[:, lo]) & (y <= pred[:, hi])
        per_var = [inside[var == v].mean() for v in np.unique(var)]
        report["levels"][str(lv)] = {"coverage": float(inside.mean()),
                                     "per_variable": [float(c) for c in per_var]}  # fmt: skip
        print(f"| {lv:g} % | {inside.mean():.3f} | {np.median(per_var):.3f} "
              f"[{min(per_var):.3f}, {max(per_var):.3f}] |")  # fmt: skip
    med = pred[:, qs.index(0.5)]
    print(f"median forecast: pooled test MSE {np.mean((med - y) ** 2):.4e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

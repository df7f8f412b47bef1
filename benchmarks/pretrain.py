"""Pretrain the channel-agnostic ITNet on the synthetic prior (issue 13); resumable.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE nohup python benchmarks/pretrain.py \\
        --out benchmarks/runs/pretrain/v1 --minutes 55 > benchmarks/runs/pretrain/v1.log 2>&1 &
    python benchmarks/pretrain.py --out benchmarks/runs/pretrain/v1 --export itnet-zero-v1

Every step draws a fresh group of ``--batch`` series from :func:`itnet_ts.datasets.prior.
draw_prior` (1 channel with probability 0.3, else 2-32 channels), one random window each
(``training_windows``: a random cutoff, every observation within a random horizon after it),
values scaled per channel over the group (as the estimator scales a frame it is given), time
unit 1 (the network divides by each window's median gap itself). The steps are the training
engine's (``itnet_ts.estimators._training._Steps``: the pinball loss over the network's
quantiles, gradient clipping, divergence checks) with AdamW and a cosine schedule over
``--epochs`` epochs of ``--steps`` steps. After every epoch: the validation pinball loss on a
fixed set of groups, and a checkpoint (``ckpt.pt``: weights, optimiser, schedule, random state,
history; ``torch.load(weights_only=True)``), so a killed run resumes where it stopped.
``--minutes`` stops cleanly after the epoch that passes the budget. ``--export NAME`` writes the
best-validation weights as a shipped checkpoint (``itnet_ts/pretrained/NAME.safetensors`` +
``.json`` with the recipe, seed, history and sha256). PhysioNet is not in this corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from itnet_ts.data._windows import ValueScaler, make_batch, training_windows
from itnet_ts.datasets.prior import draw_prior
from itnet_ts.estimators._training import _Steps, evaluate_loss
from itnet_ts.model.universal import UniversalConfig, UniversalITNet
from itnet_ts.model.universal_io import SHIPPED_DIR, save_universal

MAX_HISTORY = 256


def draw_batch(rng: np.random.Generator, batch: int):
    """One training batch from a fresh group of prior series (module docstring)."""
    C = 1 if rng.random() < 0.3 else int(np.exp(rng.uniform(np.log(2), np.log(32))))
    while True:
        ragged = draw_prior(rng, batch, C)
        horizon = float(np.exp(rng.uniform(0, np.log(30)))) / max(1.0, C / 4)
        ws = training_windows(ragged, horizon, rng, 1, max_history=MAX_HISTORY)
        keep = np.flatnonzero(np.diff(ws.q_indptr) > 0)
        if len(keep):
            break
    scaler = ValueScaler.fit(ragged)
    return make_batch(ragged, ws, keep, scaler, 1.0, MAX_HISTORY)


def validation_set(seed: int, n: int, batch: int) -> list:
    rng = np.random.default_rng([seed, 999])
    return [draw_batch(rng, batch) for _ in range(n)]


def persistence_mse(val: list) -> float:
    """MSE of the last value (0 where the channel was never seen) on the validation targets."""
    se, n = 0.0, 0
    for b in val:
        last = b.last_value.gather(1, b.q_chan)
        err = (last - b.y)[b.y_known]
        se, n = se + float((err**2).sum()), n + int(b.y_known.sum())
    return se / max(n, 1)


def median_mse(model: UniversalITNet, val: list) -> float:
    levels = model.levels
    model.select_levels(())
    model.eval()
    se, n = 0.0, 0
    with torch.no_grad():
        for b in val:
            err = (model(b)[..., 0] - b.y)[b.y_known]
            se, n = se + float((err**2).sum()), n + int(b.y_known.sum())
    model.select_levels(levels)
    return se / max(n, 1)


def _state(model, opt, sched, epoch, rng, history) -> dict:
    return {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
            "epoch": epoch, "rng": json.dumps(rng.bit_generator.state),
            "history": json.dumps(history)}  # fmt: skip


def _save_ckpt(path: Path, state: dict) -> None:
    from itnet_ts._files import atomic_write

    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def setup(args):
    """(model, optimiser, schedule, first epoch, rng, history), resumed from ``ckpt.pt``."""
    torch.manual_seed(args.seed)
    cfg = UniversalConfig(d_model=args.d_model, n_layers=args.n_layers)
    model = UniversalITNet(cfg)
    model.select_levels(cfg.quantiles)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    total = args.epochs

    def lr_at(e: int) -> float:  # warm-up over the first epoch, then cosine to lr / 20
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(e, total) / total))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = np.random.default_rng(args.seed)
    ckpt, start, history = Path(args.out) / "ckpt.pt", 0, []
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        rng.bit_generator.state = json.loads(st["rng"])
        start, history = int(st["epoch"]) + 1, json.loads(st["history"])
        print(f"resumed at epoch {start}", flush=True)
    return model, opt, sched, start, rng, history


def train(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(vars(args), indent=1))
    model, opt, sched, start, rng, history = setup(args)
    val = validation_set(args.seed, args.val_batches, args.batch)
    qs = model.cfg.quantiles
    steps = _Steps(model, torch.device("cpu"), "pinball", qs, None, 1.0, None)
    best = min((h["val_pinball"] for h in history), default=math.inf)
    t_start = time.time()
    for epoch in range(start, args.epochs):
        t0 = time.perf_counter()
        batches = (draw_batch(rng, args.batch) for _ in range(args.steps))
        train_loss = steps.train_epoch(model, opt, batches, epoch)
        sched.step()
        v = evaluate_loss(model, iter(val), torch.device("cpu"), qs)
        rec = {"epoch": epoch, "train_pinball": train_loss, "val_pinball": v,
               "val_median_mse": median_mse(model, val), "val_persistence_mse": persistence_mse(val),
               "seconds": round(time.perf_counter() - t0, 1), "lr": sched.get_last_lr()[0]}  # fmt: skip
        history.append(rec)
        print(json.dumps(rec), flush=True)
        if v < best:
            best = v
            save_universal(model, out / "best", {"epoch": epoch, "val_pinball": v})
        _save_ckpt(out / "ckpt.pt", _state(model, opt, sched, epoch, rng, history))
        if args.minutes and (time.time() - t_start) / 60 > args.minutes:
            print("time budget reached", flush=True)
            break


def export(args) -> None:
    """Copy the run's best weights to the package as checkpoint ``args.export``."""
    from itnet_ts.model.universal_io import load_universal

    out = Path(args.out)
    model, meta = load_universal(out / "best")
    st = torch.load(out / "ckpt.pt", weights_only=True)
    history = json.loads(st["history"])
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    recipe = {"script": "benchmarks/pretrain.py", "args": json.loads((out / "args.json").read_text()),
              "corpus": "itnet_ts.datasets.prior.draw_prior (synthetic only; no PhysioNet)",
              "best": meta["recipe"], "history": history, "git_commit": commit.strip(),
              "torch": torch.__version__}  # fmt: skip
    path = save_universal(model, SHIPPED_DIR / args.export, recipe)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/runs/pretrain/v1")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--val-batches", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=0.0, help="stop after this (0: no limit)")
    ap.add_argument("--export", default=None, help="write the best weights as this checkpoint")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.export:
        export(args)
    else:
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

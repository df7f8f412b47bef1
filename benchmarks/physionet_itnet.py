"""ITNet on the published PhysioNet 2012 forecasting protocol (t-PatchGNN, ICML 2024).

Each patient is one window: history = its observations with t < 24 h, cutoff = 24 h (not its
last observation), queries = every observed target entry with t >= 24 h. The protocol's
min-max scaled values are the data; the model's time unit is the hour (``tau`` = hours relative
to the 24 h cutoff). Training: ``fit_model`` (AdamW, early stopping with patience 10 on the
validation split's protocol MSE -- the per-variable averaged metric -- best-validation epoch
kept); test scored with ``protocol_metrics`` on the protocol's scaled units.

    python benchmarks/physionet_itnet.py --variant base --seeds 1 2 3 4 5 \\
        [--epochs 100] [--out benchmarks/runs/physionet] [--threads 2]

One JSON per (variant, seed) under ``--out``; a finished one is not rerun (``--force`` reruns).
``--list`` prints the named variants; ``--table`` only prints the table of finished runs.
Data: ``--data-dir`` or ``$ITNET_PHYSIONET_DIR`` (default ../shared/data/physionet2012).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet2012"
DEFAULT_OUT = Path(__file__).resolve().parent / "runs" / "physionet"
UNIT_HOURS = 1.0 / 48.0  # protocol time is hours / 48: one model time unit = one hour

#: Training defaults; a variant overrides any of them (and any ITNetConfig field under "cfg").
TRAIN_DEFAULTS = dict(
    lr=1e-3,
    batch_size=32,
    weight_decay=0.0,
    loss="mse",
    # per-query loss weight: (scale_c^2 if standardised) * n_c^-alpha, n_c = train target count
    # of channel c; alpha = 1 reproduces the per-variable averaged metric, 0 the pooled one
    cw_alpha=0.0,
    scaling="standard",  # network units: "standard" (z-score of the train split) or "shift"
    schedule="cosine",
    grad_clip=1.0,
)

#: Named variants: {"cfg": ITNetConfig overrides, **training overrides}.
VARIANTS: dict[str, dict] = {
    "base": {},  # ITNetConfig defaults, pooled MSE in protocol units
    "cw1": {"cw_alpha": 1.0},  # loss = the protocol's per-variable averaged MSE
    "cw05": {"cw_alpha": 0.5},
    "both": {"cfg": {"decoder": "both", "query_cutoff_time": True}},
    "attn": {"cfg": {"decoder": "attention", "query_cutoff_time": True}},
    "qt": {"cfg": {"query_cutoff_time": True}},
    "msemae": {"loss": "mse+mae"},
    "cw1-msemae": {"cw_alpha": 1.0, "loss": "mse+mae"},
    "cw05-msemae": {"cw_alpha": 0.5, "loss": "mse+mae"},
    "cw1-qt": {"cw_alpha": 1.0, "cfg": {"query_cutoff_time": True}},
    "cw1-both": {"cw_alpha": 1.0, "cfg": {"decoder": "both", "query_cutoff_time": True}},
    "cw1-attn": {"cw_alpha": 1.0, "cfg": {"decoder": "attention", "query_cutoff_time": True}},
    "cw1-gap-kwn": {"cw_alpha": 1.0, "cfg": {"weights": "gap", "kwn": True}},
    "cw1-d96": {"cw_alpha": 1.0, "cfg": {"d_model": 96, "kernel_hidden": 96}},
    "cw1-drop0": {"cw_alpha": 1.0, "cfg": {"dropout": 0.0}},
    "cw1-shift": {"cw_alpha": 1.0, "scaling": "shift"},
}


def _variant(name: str) -> tuple[dict, dict]:
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; known: {sorted(VARIANTS)}")
    v = dict(VARIANTS[name])
    cfg = v.pop("cfg", {})
    train = {**TRAIN_DEFAULTS, **v}
    unknown = set(train) - set(TRAIN_DEFAULTS)
    if unknown:
        raise SystemExit(f"variant {name!r} has unknown training options {sorted(unknown)}")
    return cfg, train


# ---------------------------------------------------------------------------------------------
# data: protocol splits -> RaggedSeries + one WindowSet per split


def build_split(split, variables):
    """RaggedSeries of history + targets of ``split`` and its WindowSet (one window per
    patient, cutoff 0.5 = 24 h); also ``perm``: query k of the WindowSet is row ``perm[k]`` of
    ``split.targets``."""
    import numpy as np
    import polars as pl

    from itnet_ts.data._ragged import ragged_from_canonical
    from itnet_ts.data._windows import WindowSet

    hist = split.history.with_columns(_h=pl.lit(True))
    tgt = split.targets.with_columns(_h=pl.lit(False))
    canon = pl.concat([hist, tgt]).rename({"ds": "time"})
    ragged = ragged_from_canonical(canon.drop("_h"), tuple(variables))
    pos = {sid: s for s, sid in enumerate(ragged.ids)}
    S = ragged.n_series
    # history end: number of distinct history times of each patient (history times < 24 h)
    n_hist = np.zeros(S, np.int64)
    hcount = hist.group_by("unique_id").agg(n=pl.col("ds").n_unique())
    for sid, n in zip(hcount["unique_id"].to_list(), hcount["n"].to_list(), strict=True):
        n_hist[pos[sid]] = n
    hist_start = ragged.indptr[:-1].astype(np.int64)
    hist_end = hist_start + n_hist
    # queries: the target rows, grouped by series (stable within a series)
    q_series = np.array([pos[s] for s in split.targets["unique_id"].to_list()], np.int64)
    perm = np.argsort(q_series, kind="stable")
    chan = {v: i for i, v in enumerate(variables)}
    q_chan = np.array([chan[v] for v in split.targets["variable"].to_list()], np.int64)
    counts = np.bincount(q_series, minlength=S)
    windows = WindowSet(
        series=np.arange(S, dtype=np.int64),
        hist_start=hist_start,
        hist_end=hist_end,
        cutoff=np.full(S, 0.5),
        q_indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        q_time=split.targets["ds"].to_numpy()[perm],
        q_chan=q_chan[perm],
        q_target=split.targets["value"].to_numpy()[perm],
    )
    return ragged, windows, perm


def bucketed_batches(ragged, windows, scaler, batch_size, rng, bucket=32):
    """Shuffled batches of windows of similar query / history length (less padding)."""
    import numpy as np

    from itnet_ts.data._windows import make_batch

    qn = np.diff(windows.q_indptr)
    hn = windows.hist_end - windows.hist_start
    order = rng.permutation(len(windows))
    groups = []
    step = batch_size * bucket
    for i in range(0, len(order), step):
        chunk = order[i : i + step]
        chunk = chunk[np.lexsort((hn[chunk], qn[chunk]))]
        groups += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    for k in rng.permutation(len(groups)):
        yield make_batch(ragged, windows, groups[k], scaler, UNIT_HOURS)


def predict_protocol(model, ragged, windows, perm, scaler, device, batch_size=64):
    """Predictions (in the protocol's scaled units) for the rows of ``split.targets``; windows
    are evaluated in order of query count (less padding)."""
    import numpy as np
    import torch

    from itnet_ts.data._windows import make_batch

    model.eval()
    pred = np.zeros(len(windows.q_time), np.float64)
    order = np.argsort(np.diff(windows.q_indptr), kind="stable")
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            b = make_batch(ragged, windows, idx, scaler, UNIT_HOURS).to(device)
            out = model(b)[..., 0].cpu().numpy()  # (B, Q)
            for j, w in enumerate(idx):
                qa, qb = windows.q_indptr[w], windows.q_indptr[w + 1]
                pred[qa:qb] = out[j, : qb - qa]
    raw = scaler.inverse(pred, windows.q_chan)
    result = np.empty_like(raw)
    result[perm] = raw
    return result


# ---------------------------------------------------------------------------------------------


def run_one(name: str, seed: int, args, data) -> dict:
    import numpy as np
    import torch

    from itnet_ts.data._windows import ChannelScaler
    from itnet_ts.datasets.protocol import protocol_metrics
    from itnet_ts.estimators._training import fit_model
    from itnet_ts.model.config import ITNetConfig
    from itnet_ts.model.itnet import ITNet
    from itnet_ts.ops import resolve_backend

    proto, splits = data
    cfg_over, tr = _variant(name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device("cpu")
    (rg_tr, w_tr, _), (rg_va, w_va, p_va), (rg_te, w_te, p_te) = (
        splits["train"],
        splits["val"],
        splits["test"],
    )
    C = len(proto.variables)
    if tr["scaling"] == "standard":
        scaler = ChannelScaler.fit(rg_tr, "standard")
    elif tr["scaling"] == "shift":  # protocol units, centred on the train mean
        st = ChannelScaler.fit(rg_tr, "standard")
        scaler = ChannelScaler(st.loc, np.ones(C))
    else:
        raise SystemExit(f"unknown scaling {tr['scaling']!r}")
    # channel weights: back to protocol units (scale^2), then n_c^-alpha; mean 1 per train query
    n_c = np.bincount(w_tr.q_chan, minlength=C).astype(np.float64)
    cw = scaler.scale**2 * np.where(n_c > 0, np.maximum(n_c, 1.0) ** -tr["cw_alpha"], 0.0)
    cw = cw * n_c.sum() / (cw * n_c).sum()
    cfg = ITNetConfig(n_channels=C, **cfg_over)
    model = ITNet(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    val_log: list[dict] = []
    trained = [False]  # the first val_score call scores the untrained model

    def val_score(m) -> float:
        t0 = time.perf_counter()
        pred = predict_protocol(m, rg_va, w_va, p_va, scaler, device)
        sc = protocol_metrics(pred, proto.val.targets)
        val_log.append({**sc, "eval_seconds": time.perf_counter() - t0})
        e = f"{len(val_log) - 1:5d}" if trained[0] else " init"
        partial = Path(args.out) / name / f"seed{seed}.partial.json"  # progress of a live run
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"variant": name, "seed": seed, "val": val_log}))
        print(
            f"  [{name} s{seed}] epoch {e}  val mse {sc['mse'] * 1e3:.4f}e-3  "
            f"mae {sc['mae'] * 1e2:.4f}e-2",
            flush=True,
        )
        return sc["mse"]

    # epoch -1: the untrained model (must equal persistence up to the fallback)
    model.eval()
    val_score(model)
    init = val_log.pop()
    trained[0] = True
    t_fit = time.perf_counter()
    result = fit_model(
        model,
        lambda epoch: bucketed_batches(rg_tr, w_tr, scaler, tr["batch_size"], rng),
        None,
        max_epochs=args.epochs,
        learning_rate=tr["lr"],
        patience=args.patience,
        device=device,
        grad_clip=tr["grad_clip"],
        progress=False,
        weight_decay=tr["weight_decay"],
        loss=tr["loss"],
        channel_weights=torch.tensor(cw, dtype=torch.float32),
        val_score=val_score,
        schedule=tr["schedule"],
    )
    t_fit = time.perf_counter() - t_fit
    val = val_log[result.best_epoch]
    test = protocol_metrics(
        predict_protocol(model, rg_te, w_te, p_te, scaler, device), proto.test.targets
    )
    secs = [h["seconds"] for h in result.history]
    history = [
        {**h, "val_mse": v["mse"], "val_mae": v["mae"]}
        for h, v in zip(result.history, val_log, strict=True)
    ]
    return {
        "variant": name,
        "seed": seed,
        "cfg": cfg.to_dict(),
        "train": tr,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "max_epochs": args.epochs,
        "patience": args.patience,
        "init_val_mse": init["mse"],
        "init_val_mae": init["mae"],
        "val_mse": val["mse"],
        "val_mae": val["mae"],
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "s_per_epoch": float(np.median(secs)),
        "eval_s": float(np.median([v["eval_seconds"] for v in val_log])),
        "fit_s": t_fit,
        "params": n_params,
        "backend": resolve_backend(device),
        "threads": torch.get_num_threads(),
        "host": f"{platform.machine()}, {os.cpu_count()} cores",
        "history": history,
    }


def load_data(data_dir: Path):
    from itnet_ts.datasets.physionet import load_physionet2012
    from itnet_ts.datasets.protocol import physionet_protocol

    frame = load_physionet2012(data_dir, descriptor_missing="protocol")
    proto = physionet_protocol(frame, data_dir / "split_tpatchgnn.json")
    splits = {s: build_split(proto.split(s), proto.variables) for s in ("train", "val", "test")}
    return proto, splits


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
            f"| {np.mean([r['s_per_epoch'] for r in rs]):.1f} | {rs[0]['params']:,} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="+", default=["base"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--threads", type=int, default=2)
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
            f"best epoch {r['best_epoch']} of {r['epochs_run']}, {r['s_per_epoch']:.1f} s/epoch",
            flush=True,
        )
    print_table(out, args.variant)
    return 0


if __name__ == "__main__":
    sys.exit(main())

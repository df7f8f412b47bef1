"""GRU-D (Che et al., 2018) re-implemented as a forecaster on the PhysioNet 2012 protocol.

A published neural baseline run by our own harness (issue 4, item 3): same data, split, windows,
scaling of the metric, early stopping and test scoring as ``physionet_itnet.py`` (its
``load_data``, ``bucketed_batches``, ``predict_protocol`` and ``print_table`` are imported, not
copied; training is ``itnet_ts.estimators._training.fit_model``). Published reference
(t-PatchGNN, ICML 2024, Table 1; ANCHORS.md section 1): GRU-D on PhysioNet, test MSE 5.59e-3,
MAE 4.08e-2, mean of 5 seeds.

Model (``GRUDForecaster``):

* Encoder: GRU-D over the union time points of the history (Che et al. 2018, eqs. 9-13).
  At step t, per variable d: ``delta_t^d`` = time since d was last observed strictly before t
  (``s_t - s_1`` if never; ``delta_1 = 0``), ``x_last`` = that last value (the training mean if
  none). Input decay ``gamma_x = exp(-relu(w_x * delta + b_x))`` (diagonal, per variable) pulls
  a missing input from its last value toward its training mean ``x_mean``:
  ``x_hat = m * x + (1 - m) * (gamma_x * x_last + (1 - gamma_x) * x_mean)``. Hidden decay
  ``gamma_h = exp(-relu(W_h delta + b_h))`` (full matrix) multiplies the hidden state before the
  GRU update, whose input is ``[x_hat, m]`` (the mask enters every gate, as in the paper).
  Padded steps leave the state untouched; an empty history leaves ``h = 0``.
* Decoder: an MLP on ``[h, time embedding of the query, channel embedding]`` -> value.

What we followed for the forecasting adaptation: t-PatchGNN's repository
(usail-hkust/t-PatchGNN) does not contain its baselines' code (its issue #18 asks for it; the
authors' comments in issues #3 and #15 only describe how *regular* MTS models were fed:
canonical pre-alignment, padding to the batch's longest sequence, queries appended). We
therefore mirror t-PatchGNN's own forecasting head (``tPatchGNN/model/tPatchGNN.py``:
``decoder = Linear(enc_dim + te_dim, hid) - ReLU - Linear(hid, hid) - ReLU - Linear(hid, 1)``
on ``[h, LearnableTE(t)]`` with ``LearnableTE(t) = [Linear(1, 1)(t), sin(Linear(1, te_dim -
1)(t))]``, ``te_dim = 10``, time in units of 48 h). GRU-D's hidden state is shared by all
variables, so a learned channel embedding is added to the decoder input to say which
variable is queried. Query time: hours after the 24 h cutoff / 48 (the protocol's absolute
time minus 0.5, a shift the first linear layer absorbs). Training as the published baselines:
Adam, lr 1e-3 constant, batch 32, the pooled masked MSE in the protocol's min-max units
(``--scaling none``), early stopping on the validation protocol MSE with patience 10, no
gradient clipping (``--grad-clip 0``).

    python benchmarks/physionet_grud.py --seeds 1 2 3 4 5 [--epochs 100] \\
        [--out benchmarks/runs/physionet_grud] [--threads 2]

One JSON per seed under ``--out/<name>/``; a finished one is not rerun (``--force`` reruns);
``--table`` only prints the table of finished runs. Data: ``--data-dir`` or
``$ITNET_PHYSIONET_DIR`` (default ../shared/data/physionet2012).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # sibling benchmark script, run as a file or imported by tests
    sys.path.insert(0, str(_HERE))
import physionet_itnet as pit  # noqa: E402

DEFAULT_OUT = _HERE / "runs" / "physionet_grud"


class GRUDForecaster(nn.Module):
    """GRU-D encoder + query MLP decoder; ``forward(batch)`` -> (B, Q, 1) in scaled units.

    Args:
        n_channels: C, the number of variables.
        x_mean: (C,) training mean of each variable's history values, in the batch's (scaled)
            units: the value a missing input decays toward.
        hidden: GRU-D hidden size (also the decoder's hidden width).
        te_dim: size of the learnable time embedding of the query time.
        chan_dim: size of the channel embedding.
        time_scale: multiplies ``batch.q_tau`` before the time embedding (1/48 with the
            benchmark's hour unit: t-PatchGNN's normalised time). The encoder's decays use
            ``batch.tau`` as is (hours).
    """

    def __init__(
        self,
        n_channels: int,
        x_mean=None,
        hidden: int = 64,
        te_dim: int = 10,
        chan_dim: int = 16,
        time_scale: float = 1.0,
    ):
        super().__init__()
        C, H = n_channels, hidden
        self.n_channels, self.hidden, self.time_scale = C, H, float(time_scale)
        xm = torch.zeros(C) if x_mean is None else torch.as_tensor(x_mean, dtype=torch.float32)
        if xm.shape != (C,):
            raise ValueError(f"x_mean must have shape ({C},), got {tuple(xm.shape)}")
        self.register_buffer("x_mean", xm.clone())
        # input decay: diagonal (one rate and offset per variable), as in the paper
        bound = 1.0 / math.sqrt(C)
        self.w_x = nn.Parameter(torch.empty(C).uniform_(-bound, bound))
        self.b_x = nn.Parameter(torch.empty(C).uniform_(-bound, bound))
        # hidden decay: full matrix from the C time gaps to the H hidden units
        self.decay_h = nn.Linear(C, H)
        # GRU on [x_hat, m] (the input-side matmuls of all steps are done at once)
        self.cell = nn.GRUCell(2 * C, H)
        # decoder (t-PatchGNN's head + a channel embedding)
        self.te_scale = nn.Linear(1, 1)
        self.te_periodic = nn.Linear(1, te_dim - 1)
        self.chan_emb = nn.Embedding(C, chan_dim)
        self.decoder = nn.Sequential(
            nn.Linear(H + te_dim + chan_dim, H),
            nn.ReLU(),
            nn.Linear(H, H),
            nn.ReLU(),
            nn.Linear(H, 1),
        )

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """t-PatchGNN's LearnableTE: ``[lin(t), sin(lin'(t))]`` for t of shape (..., 1)."""
        return torch.cat([self.te_scale(t), torch.sin(self.te_periodic(t))], -1)

    def gru_d_inputs(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per step GRU input ``[x_hat, m]`` (B, N, 2C) and time gaps ``delta`` (B, N, C)."""
        tau, x, m = batch.tau, batch.values, batch.mask  # (B,N), (B,N,C), (B,N,C)
        B, N, C = x.shape
        steps = torch.arange(N, device=x.device).view(1, N, 1)
        # index of the last observation of each variable at or before each step, -1 if none
        last_at = torch.cummax(torch.where(m > 0, steps, -1).expand(B, N, C), dim=1).values
        # ... strictly before each step
        prev = torch.cat([torch.full_like(last_at[:, :1], -1), last_at[:, :-1]], dim=1)
        has_prev = prev >= 0
        idx = prev.clamp(min=0)
        tau_c = tau.unsqueeze(-1).expand(B, N, C)
        # time since last observed strictly before t; since the first step if never (paper)
        t_prev = torch.where(has_prev, tau_c.gather(1, idx), tau[:, :1].unsqueeze(-1))
        delta = (tau_c - t_prev).clamp(min=0)
        x_last = torch.where(has_prev, x.gather(1, idx), self.x_mean)
        gamma_x = torch.exp(-torch.relu(self.w_x * delta + self.b_x))
        x_hat = m * x + (1 - m) * (gamma_x * x_last + (1 - gamma_x) * self.x_mean)
        return torch.cat([x_hat, m], -1), delta

    def encode(self, batch) -> torch.Tensor:
        """Final GRU-D hidden state (B, H) after the last valid history step."""
        inp, delta = self.gru_d_inputs(batch)
        B, N, _ = inp.shape
        H = self.hidden
        gamma_h = torch.exp(-torch.relu(self.decay_h(delta)))  # (B, N, H)
        gi = nn.functional.linear(inp, self.cell.weight_ih, self.cell.bias_ih)  # (B, N, 3H)
        valid = batch.valid.unsqueeze(-1)  # (B, N, 1)
        h = inp.new_zeros(B, H)
        w_hh, b_hh = self.cell.weight_hh, self.cell.bias_hh
        for t in range(N):
            hd = gamma_h[:, t] * h
            gh = nn.functional.linear(hd, w_hh, b_hh)
            i_r, i_z, i_n = gi[:, t].chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h_new = (1 - z) * n + z * hd
            h = torch.where(valid[:, t], h_new, h)
        return h

    def forward(self, batch) -> torch.Tensor:
        h = self.encode(batch)  # (B, H)
        B, Q = batch.q_tau.shape
        te = self.time_embedding((batch.q_tau * self.time_scale).unsqueeze(-1))  # (B, Q, te)
        feats = torch.cat([h.unsqueeze(1).expand(B, Q, -1), te, self.chan_emb(batch.q_chan)], -1)
        return self.decoder(feats)  # (B, Q, 1)


# ---------------------------------------------------------------------------------------------


def history_mean(ragged, windows, scaler):
    """(C,) mean of each variable over the windows' history observations, scaled units (0
    for a variable never observed in a history)."""
    import numpy as np

    rows = np.concatenate(
        [np.arange(a, b) for a, b in zip(windows.hist_start, windows.hist_end, strict=True)]
        or [np.zeros(0, np.int64)]
    )
    m = ragged.mask[rows]
    v = np.where(m, scaler.transform(ragged.values[rows]), 0.0)
    return v.sum(0) / np.maximum(m.sum(0), 1)


def run_one(name: str, seed: int, args, data) -> dict:
    import numpy as np

    from itnet_ts.data._windows import ChannelScaler
    from itnet_ts.datasets.protocol import protocol_metrics
    from itnet_ts.estimators._training import fit_model

    proto, splits = data
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device("cpu")
    (rg_tr, w_tr, _), (rg_va, w_va, p_va), (rg_te, w_te, p_te) = (
        splits["train"],
        splits["val"],
        splits["test"],
    )
    C = len(proto.variables)
    if args.scaling == "none":  # the protocol's min-max units, as the published baselines
        scaler = ChannelScaler(np.zeros(C), np.ones(C))
    else:
        scaler = ChannelScaler.fit(rg_tr, "standard")
    x_mean = history_mean(rg_tr, w_tr, scaler)
    model = GRUDForecaster(
        C, x_mean, hidden=args.hidden, time_scale=pit.UNIT_HOURS, chan_dim=args.chan_dim
    ).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    val_log: list[dict] = []

    def val_score(m) -> float:
        t0 = time.perf_counter()
        pred = pit.predict_protocol(m, rg_va, w_va, p_va, scaler, device)
        sc = protocol_metrics(pred, proto.val.targets)
        val_log.append({**sc, "eval_seconds": time.perf_counter() - t0})
        partial = Path(args.out) / name / f"seed{seed}.partial.json"  # progress of a live run
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"variant": name, "seed": seed, "val": val_log}))
        print(
            f"  [{name} s{seed}] epoch {len(val_log) - 1:5d}  val mse {sc['mse'] * 1e3:.4f}e-3"
            f"  mae {sc['mae'] * 1e2:.4f}e-2  ({val_log[-1]['eval_seconds']:.0f} s eval)",
            flush=True,
        )
        return sc["mse"]

    t_fit = time.perf_counter()
    result = fit_model(
        model,
        lambda epoch: pit.bucketed_batches(rg_tr, w_tr, scaler, args.batch_size, rng),
        None,
        max_epochs=args.epochs,
        learning_rate=args.lr,
        patience=args.patience,
        device=device,
        grad_clip=args.grad_clip if args.grad_clip > 0 else math.inf,
        progress=False,
        loss="mse",
        val_score=val_score,
        schedule=args.schedule,
    )
    t_fit = time.perf_counter() - t_fit
    val = val_log[result.best_epoch]
    test = protocol_metrics(
        pit.predict_protocol(model, rg_te, w_te, p_te, scaler, device), proto.test.targets
    )
    secs = [h["seconds"] for h in result.history]
    history = [
        {**h, "val_mse": v["mse"], "val_mae": v["mae"]}
        for h, v in zip(result.history, val_log, strict=True)
    ]
    return {
        "variant": name,
        "model": "GRU-D",
        "seed": seed,
        "hparams": {
            "hidden": args.hidden,
            "te_dim": 10,
            "chan_dim": args.chan_dim,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "schedule": args.schedule,
            "grad_clip": args.grad_clip,
            "scaling": args.scaling,
            "loss": "mse",
        },
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "max_epochs": args.epochs,
        "patience": args.patience,
        "val_mse": val["mse"],
        "val_mae": val["mae"],
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "s_per_epoch": float(np.median(secs)),
        "eval_s": float(np.median([v["eval_seconds"] for v in val_log])),
        "fit_s": t_fit,
        "params": n_params,
        "threads": torch.get_num_threads(),
        "host": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "history": history,
    }


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--chan-dim", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--grad-clip", type=float, default=0.0, help="0: no clipping")
    parser.add_argument(
        "--scaling",
        choices=("none", "standard"),
        default="none",
        help="network units: the protocol's min-max units (none) or train z-scores",
    )
    parser.add_argument("--force", action="store_true", help="rerun finished seeds")
    parser.add_argument("--table", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.table:
        pit.print_table(out)
        return 0
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

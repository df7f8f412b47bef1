"""The ITNet paper's claims on numbers (issue 12): one table per claim.

    OMP_NUM_THREADS=1 python benchmarks/claims.py modes  [--n 1000 10000 100000 1000000]
    OMP_NUM_THREADS=1 python benchmarks/claims.py params
    OMP_NUM_THREADS=1 python benchmarks/claims.py montecarlo [--epochs 5]
    OMP_NUM_THREADS=1 python benchmarks/claims.py mc-error [--n 1000 10000 100000]
        [--factors 1 2 4 8 16 32] [--draws 16]
    OMP_NUM_THREADS=1 python benchmarks/claims.py kwn [--seeds 0 1 2 3 4] [--lrs 1e-3 1e-2]
    OMP_NUM_THREADS=1 python benchmarks/claims.py mha [--seeds 0 1 2] [--widths 64 128 256]
    OMP_NUM_THREADS=1 python benchmarks/claims.py modes-accuracy [--seeds 0]

``modes``: one encoder transform (B=1, D=64, R=16, float32, CPU) evaluated in each encoder
mode at N observations: forward seconds (no autograd, as in predict), forward+backward
seconds (as in training) and the peak RSS growth of the process during each. The quadratic
modes are timed at the smallest N first and not run where the O(N^2) extrapolation exceeds
``--budget`` seconds; the table says so. ``params``: parameters of one encoder transform with
the low-rank MLP kernel against ``torch.nn.MultiheadAttention`` of the same width.
``montecarlo``: long irregular series (synthetic multirate sines, ~1,500 points per channel),
``ITNetForecaster`` fit on 48 series and scored on the last 20 time units of 24 unseen ones:
exact integration over the last 256 points (the default), exact over 2,048, and Monte Carlo
over 2,048 (M(N) ~ 8 sqrt(N) sampled points while training): fit seconds and test MSE.
``mc-error``: the Monte Carlo estimate of one encoder transform's final state (the integral
the decoder reads) against the exact one, at N observations and M = factor x sqrt(N) sampled
points (the model's sampler, ``itnet_ts.model.monte_carlo.mc_subsample``), over ``--draws``
independent draws: relative RMS error, relative error of the mean over the draws (the bias
plus the mean's own noise, about RMS / sqrt(draws)), and seconds per forward.

``kwn``, ``mha`` and ``modes-accuracy`` share one small synthetic task (``_small_task``:
``make_irregular`` family "mixed", 2 channels, ``--length`` time units per series, ``--n-train``
training series, ``--n-test`` unseen test series scored on their last ``--test-h`` time units,
raw units), each run an ``ITNetForecaster`` fit of ``--epochs`` epochs at width ``--d-model``:
``kwn``: KWN x LayerNorm on the integral (``kwn``, ``integral_norm``), 4 arms, at each of ``--lrs``,
per ``--seeds``: test MSE, the gradient norms of every step before clipping (median, max;
``TrainResult.grad_norms``), runs diverged (training raised: a non-finite loss or gradient)
and runs stuck (``best_epoch == -1``: no epoch beat the untrained start, the fitted mix, on
validation, so the estimator kept the start); runs are also evaluated with their encoder
switched to attention mode after training in recurrent mode (test MSE and the largest
forecast change; the LayerNorm-on arms at the first ``--lrs``: the quadratic predict is slow). ``mha``: the ITNet encoder against a ``torch.nn.MultiheadAttention`` encoder
of the same width (``MHATransform``, swapped into each encoder block in place of the ITNet
transform; both with the attention decoder, which reads the encoder's tokens, since the MHA
encoder has no recurrent state to read): test MSE and parameter counts at ``--widths``;
``--encoders ... itnet-recurrent`` adds the ITNet encoder with its default recurrent decoder.
``modes-accuracy``: one model per ``encoder_mode``: test MSE and seconds per epoch.
``--start persistence`` fits every model from persistence instead of the fitted mix (the
network then has to learn what the mix gives; runs under ``--out/<claim>_persistence/``).
One JSON per run under ``--out/<claim>/`` (resumable: an existing run is not rerun) and a
summary ``--out/<claim>.json``; the table goes to stdout as markdown (append it to
benchmarks/RESULTS.md with the machine).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from itnet_ts._files import write_text_atomic
from itnet_ts.bench._memory import PeakMemory
from itnet_ts.model.layers import FourierFeatures, RecurrentTransform


def _transform(mode: str, D: int, R: int) -> RecurrentTransform:
    torch.manual_seed(0)
    return RecurrentTransform(D, R, hidden=D, timescale_min=0.5, timescale_max=200.0, mode=mode)


def _inputs(N: int, D: int, grad: bool):
    g = torch.Generator().manual_seed(1)
    h = torch.randn(1, N, D, generator=g).requires_grad_(grad)
    dtau = torch.empty(1, N).exponential_(1.0, generator=g)
    return h, dtau, torch.ones(1, N)


def _run(t: RecurrentTransform, N: int, D: int, backward: bool) -> tuple[float, float]:
    """Seconds and peak RSS growth (MB) of one forward (+ backward) at N observations."""
    h, dtau, w = _inputs(N, D, backward)
    with PeakMemory() as pm:
        t0 = time.perf_counter()
        if backward:
            y, state = t(h, dtau, w)
            (y.square().mean() + state.square().mean()).backward()
        else:
            with torch.no_grad():
                t(h, dtau, w)
        secs = time.perf_counter() - t0
    rec = pm.record()
    return secs, rec["peak_rss_mb"] - rec["rss_start_mb"]


def modes(ns: list[int], budget: float, D: int = 64, R: int = 16) -> str:
    lines = [
        f"Encoder transform, B=1 D={D} R={R} float32, CPU ({platform.processor() or 'x86_64'}, "
        f"{torch.get_num_threads()} thread(s)), torch {torch.__version__}",
        "",
        "| mode | N | forward s | forward peak MB | fwd+bwd s | fwd+bwd peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("recurrent", "attention", "conv"):
        t = _transform(mode, D, R)
        _run(t, 64, D, True)  # warm-up: numba compilation, allocator
        first: tuple[int, float] | None = None  # (N, fwd+bwd seconds) at the smallest N
        for N in ns:
            if first is not None and mode != "recurrent":
                est = first[1] * (N / first[0]) ** 2
                if est > budget:
                    lines.append(
                        f"| {mode} | {N:,} | not run: O(N^2) extrapolation {est:,.0f} s "
                        f"> budget {budget:.0f} s | | | |"
                    )
                    continue
            fs, fm = _run(t, N, D, False)
            bs, bm = _run(t, N, D, True)
            if first is None:
                first = (N, bs)
            lines.append(f"| {mode} | {N:,} | {fs:.3f} | {fm:,.0f} | {bs:.3f} | {bm:,.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def mc_error(ns: list[int], factors: list[float], draws: int, D: int = 64, R: int = 16) -> str:
    from itnet_ts.model.monte_carlo import mc_subsample

    t = _transform("recurrent", D, R)
    lines = [
        f"One encoder transform, B=1 D={D} R={R} float32, CPU, {torch.get_num_threads()} "
        f"thread(s); {draws} draws per row",
        "",
        "| N | M / sqrt(N) | M | relative RMS error | relative error of the mean | "
        "forward s (MC) | forward s (exact) |",
        "|---|---|---|---|---|---|---|",
    ]
    g = torch.Generator().manual_seed(2)
    for N in ns:
        h, dtau, w = _inputs(N, D, False)
        dtau[:, 0] = 0.0
        tau = torch.cumsum(dtau, 1)
        tau = tau - tau[:, -1:]
        valid = torch.ones(1, N, dtype=torch.bool)
        with torch.no_grad():
            t(h[:, :64], dtau[:, :64], w[:, :64])  # warm-up
            t0 = time.perf_counter()
            exact = t(h, dtau, w)[1].double()
            exact_s = time.perf_counter() - t0
            for f in factors:
                M = min(N, math.ceil(f * math.sqrt(N)))
                states, secs = [], 0.0
                for _ in range(draws):
                    idx, keep, inv_pi = mc_subsample(valid, torch.tensor([M]), generator=g)
                    hs = h.gather(1, idx[..., None].expand(-1, -1, D)) * keep[..., None]
                    ts = tau.gather(1, idx) * keep
                    dts = torch.diff(ts, dim=1, prepend=ts[:, :1]).clamp(min=0) * keep
                    t0 = time.perf_counter()
                    states.append(t(hs, dts, w.gather(1, idx) * inv_pi.float())[1].double())
                    secs += time.perf_counter() - t0
                S = torch.stack(states)
                norm = exact.norm()
                rmse = ((S - exact).flatten(1).norm(dim=1) ** 2).mean().sqrt() / norm
                bias = (S.mean(0) - exact).norm() / norm
                lines.append(f"| {N:,} | {f:g} | {M:,} | {rmse:.4f} | {bias:.4f} | "
                             f"{secs / draws:.4f} | {exact_s:.4f} |")  # fmt: skip
                print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def params(widths=(64, 128, 256), R: int = 16) -> str:
    lines = [
        f"| width D | ITNet transform (rank {R}, MLP kernel) | of which kernel MLP "
        "| nn.MultiheadAttention(D) | ITNet / attention |",
        "|---|---|---|---|---|",
    ]
    for D in widths:
        t = _transform("recurrent", D, R)
        mine = sum(p.numel() for p in t.parameters())
        kernel = sum(p.numel() for p in t.factors.parameters())
        mha = sum(p.numel() for p in torch.nn.MultiheadAttention(D, 4).parameters())
        lines.append(f"| {D} | {mine:,} | {kernel:,} | {mha:,} | {mine / mha - 1:+.0%} |")
    return "\n".join(lines)


def montecarlo(epochs: int, seed: int = 0) -> str:
    import numpy as np
    import polars as pl

    from itnet_ts import ITNetForecaster
    from itnet_ts.datasets import make_irregular

    kw = dict(family="multirate_sines", n_channels=2, length=1500.0, obs_rate=1.0)
    train = make_irregular(n_series=48, seed=seed, **kw)
    test = make_irregular(n_series=24, seed=seed + 100, **kw)
    cut = 1500.0 - 20.0
    hist, target = test.filter(pl.col("ds") <= cut), test.filter(pl.col("ds") > cut)
    long = target.unpivot(index=["unique_id", "ds"], variable_name="variable", value_name="y")
    long = long.drop_nulls("y")
    n_points = int(train.group_by("unique_id").len()["len"].median())
    lines = [
        f"Long series: {n_points:,} time points per series (median), 48 train / 24 test series, "
        f"{epochs} epochs, seed {seed}, CPU, {torch.get_num_threads()} thread(s)",
        "",
        "| integration | max_history | fit s | s / epoch | test MSE |",
        "|---|---|---|---|---|",
    ]
    for integration, max_history in (("exact", 256), ("exact", 2048), ("monte_carlo", 2048)):
        est = ITNetForecaster(
            integration=integration, max_history=max_history, horizon=20.0, max_epochs=epochs,
            patience=epochs, random_state=seed, verbose=False,
        )  # fmt: skip
        t0 = time.perf_counter()
        est.fit(train)
        fit_s = time.perf_counter() - t0
        secs = np.mean([h["seconds"] for h in est.train_result_.history])
        pred = est.predict(df=hist, times=long.select("unique_id", "ds", "variable"))
        joined = long.join(pred, on=["unique_id", "ds", "variable"], how="left")
        mse = float(((joined["y_hat"] - joined["y"]) ** 2).mean())
        lines.append(f"| {integration} | {max_history:,} | {fit_s:.0f} | {secs:.1f} | {mse:.4f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


# ---- the small synthetic task of kwn / mha / modes-accuracy ---------------------------------
@dataclass
class SmallTask:
    """Sizes of the small task (the defaults are the recorded runs; tests shrink them)."""

    n_train: int = 96
    n_test: int = 48
    length: float = 60.0
    test_h: float = 10.0
    epochs: int = 10
    d_model: int = 32
    windows_per_series: int = 16
    start: str = "mix"  # the estimator's start: "persistence" leaves the network more to do

    def runs_dir(self, claim: str) -> str:
        """The claim's run folder (suffixed by a start other than the default mix)."""
        return claim if self.start == "mix" else f"{claim}_{self.start}"


def _small_task(t: SmallTask):
    """Training frame, the test series' histories and their long targets (data seed fixed)."""
    import polars as pl

    from itnet_ts.datasets import make_irregular

    kw = dict(family="mixed", n_channels=2, length=t.length)
    train = make_irregular(n_series=t.n_train, seed=0, **kw)
    test = make_irregular(n_series=t.n_test, seed=100, **kw)
    cut = t.length - t.test_h
    hist, target = test.filter(pl.col("ds") <= cut), test.filter(pl.col("ds") > cut)
    long = target.unpivot(index=["unique_id", "ds"], variable_name="variable", value_name="y")
    return train, hist, long.drop_nulls("y")


def _test_mse(est, hist, long) -> float:
    pred = est.predict(df=hist, times=long.select("unique_id", "ds", "variable"))
    joined = long.join(pred, on=["unique_id", "ds", "variable"], how="left")
    return float(((joined["y_hat"] - joined["y"]) ** 2).mean())


def _persistence_mse(hist, long) -> float:
    """Test MSE of each channel's last observed value (the reference every table shows)."""
    h = hist.unpivot(index=["unique_id", "ds"], variable_name="variable", value_name="y_last")
    last = h.drop_nulls("y_last").sort("ds").group_by("unique_id", "variable").last()
    joined = long.join(last.drop("ds"), on=["unique_id", "variable"], how="left")
    return float(((joined["y_last"].fill_null(0.0) - joined["y"]) ** 2).mean())


def _fit_run(task: SmallTask, data, seed: int, switch: bool = False, model_cls=None, **params):
    """One ``ITNetForecaster`` fit on the small task -> a JSON-able record. ``model_cls``
    replaces the estimator's network class (the MHA comparison); ``switch`` also scores the
    model with its encoder evaluated in attention mode."""
    from unittest import mock

    from itnet_ts import ITNetForecaster
    from itnet_ts.errors import TrainingDivergedError

    train, hist, long = data
    est = ITNetForecaster(
        d_model=task.d_model, max_epochs=task.epochs, patience=task.epochs,
        windows_per_series=task.windows_per_series, start=task.start, random_state=seed,
        verbose=False, **params,
    )  # fmt: skip
    rec: dict = {"seed": seed, "params": params, "diverged": False}
    patch = mock.patch("itnet_ts.estimators._start_choice.ITNet", model_cls) if model_cls else None
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # baseline fallbacks: counted below
            if patch is not None:
                with patch:
                    est.fit(train)
            else:
                est.fit(train)
    except TrainingDivergedError as e:
        rec.update(diverged=True, error=str(e)[:300], test_mse=math.nan, stuck=False)
        rec["fit_s"] = time.perf_counter() - t0
        return rec
    rec["fit_s"] = time.perf_counter() - t0
    res = est.train_result_
    g = torch.tensor(res.grad_norms, dtype=torch.float64)
    rec.update(
        test_mse=_test_mse(est, hist, long),
        best_epoch=res.best_epoch,
        stuck=res.best_epoch == -1,
        epochs_run=len(res.history),
        s_per_epoch=sum(h["seconds"] for h in res.history) / max(len(res.history), 1),
        val_loss=res.best_val_loss,
        start_val_loss=res.start_val_loss,
        grad_steps=len(res.grad_norms),
        grad_median=float(g.median()) if len(g) else math.nan,
        grad_max=float(g.max()) if len(g) else math.nan,
        grad_first=res.grad_norms[:5],
        fallback_channels=int((est.model_.fallback > 0).sum()),
        n_params=sum(p.numel() for p in est.model_.parameters()),
        encoder_params=sum(p.numel() for p in est.model_.blocks.parameters()),
    )
    if not math.isfinite(rec["test_mse"]):
        rec["diverged"] = True
    head = est.model_.head[-1]  # zeroed: the start alone (the mix, trained with the network)
    kept = head.weight.detach().clone(), head.bias.detach().clone()
    with torch.no_grad():
        head.weight.zero_(), head.bias.zero_()
        rec["start_test_mse"] = _test_mse(est, hist, long)
        head.weight.copy_(kept[0]), head.bias.copy_(kept[1])
    if switch:
        pred_rec = est.predict(df=hist, times=long.select("unique_id", "ds", "variable"))
        est.model_.set_encoder_mode("attention")
        t1 = time.perf_counter()
        pred_att = est.predict(df=hist, times=long.select("unique_id", "ds", "variable"))
        rec["attention_predict_s"] = time.perf_counter() - t1
        rec["attention_test_mse"] = _test_mse(est, hist, long)
        diff = (pred_att["y_hat"] - pred_rec["y_hat"]).abs().max()
        rec["attention_max_abs_diff"] = float(diff)
        est.model_.set_encoder_mode("recurrent")
    return rec


def _runs(claim: str, out: Path, jobs: list[tuple[str, dict]], runner) -> list[dict]:
    """Run each ``(name, spec)`` job not already on disk (``out/claim/name.json``)."""
    d = out / claim
    d.mkdir(parents=True, exist_ok=True)
    recs = []
    for name, spec in jobs:
        f = d / f"{name}.json"
        if f.exists():
            recs.append(json.loads(f.read_text()))
            continue
        rec = {"run": name, **spec, **runner(spec)}
        rec["threads"] = torch.get_num_threads()
        rec["date"] = time.strftime("%Y-%m-%d")
        write_text_atomic(f, json.dumps(rec, indent=1, default=str))
        print(f"[{claim}] {name}: test MSE {rec.get('test_mse', math.nan):.4f} "
              f"({rec.get('fit_s', 0):.1f} s)", file=sys.stderr, flush=True)  # fmt: skip
        recs.append(rec)
    return recs


def _summary(claim: str, out: Path, task: SmallTask, recs: list[dict], extra: dict) -> None:
    drop = ("grad_first",)
    runs = [{k: v for k, v in r.items() if k not in drop} for r in recs]
    doc = {"claim": claim, "task": task.__dict__, "host": platform.node(),
           "threads": torch.get_num_threads(), "torch": torch.__version__, **extra, "runs": runs}  # fmt: skip
    write_text_atomic(out / f"{claim}.json", json.dumps(doc, indent=1, default=str))


def _mean_sd(xs: list[float]) -> str:
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return "–"
    t = torch.tensor(xs, dtype=torch.float64)
    sd = float(t.std()) if len(xs) > 1 else 0.0
    return f"{float(t.mean()):.4f} ± {sd:.4f}"


def _header(task: SmallTask, data, seeds, recs: list[dict]) -> str:
    _train, hist, long = data
    start = _mean_sd([r.get("start_test_mse", math.nan) for r in recs])
    what = "the mix of simple predictors, as trained" if task.start == "mix" else "persistence"
    return (
        f"Small task: make_irregular mixed, 2 channels, length {task.length:g}, "
        f"{task.n_train} train / {task.n_test} test series, last {task.test_h:g} time units "
        f"scored ({len(long)} targets); d_model {task.d_model}, {task.epochs} epochs, "
        f"{task.windows_per_series} windows per series, start={task.start!r}; "
        f"seeds {list(seeds)}; CPU, "
        f"{torch.get_num_threads()} thread(s), torch {torch.__version__}. "
        f"Persistence test MSE {_persistence_mse(hist, long):.4f}; each run's model with its "
        f"head zeroed ({what}) {start}."
    )


KWN_ARMS = {  # name: (kwn, integral_norm)
    "LN on, KWN off (default)": (False, True),
    "LN on, KWN on": (True, True),
    "LN off, KWN off": (False, False),
    "LN off, KWN on": (True, False),
}


def kwn(task: SmallTask, seeds, lrs, out: Path) -> str:
    data = _small_task(task)
    jobs = []
    for lr in lrs:
        for arm, (k, ln) in KWN_ARMS.items():
            for seed in seeds:
                name = f"kwn{int(k)}_ln{int(ln)}_lr{lr:g}_seed{seed}"
                jobs.append((name, {"arm": arm, "lr": lr, "kwn": k, "integral_norm": ln,
                                    "seed": seed}))  # fmt: skip

    def runner(spec):  # the mode switch (attention-mode predict is O(N^2)): LN-on arms, lr 1
        switch = spec["integral_norm"] and spec["lr"] == lrs[0]
        return _fit_run(task, data, spec["seed"], switch=switch, kwn=spec["kwn"],
                        integral_norm=spec["integral_norm"], learning_rate=spec["lr"])  # fmt: skip

    recs = _runs(task.runs_dir("kwn"), out, jobs, runner)
    _summary(task.runs_dir("kwn"), out, task, recs, {"arms": KWN_ARMS, "lrs": list(lrs)})
    lines = [
        _header(task, data, seeds, recs),
        "",
        "| lr | arm | test MSE (mean ± sd) | grad norm median | grad norm max | diverged "
        "| stuck at start | attention-mode predict: test MSE | max abs change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lr in lrs:
        for arm in KWN_ARMS:
            rs = [r for r in recs if r["arm"] == arm and r["lr"] == lr]
            ok = [r for r in rs if not r["diverged"]]
            med = torch.tensor([r["grad_median"] for r in ok] or [math.nan]).median()
            gmax = max((r["grad_max"] for r in ok), default=math.nan)
            diffs = [r["attention_max_abs_diff"] for r in ok if "attention_max_abs_diff" in r]
            diff = f"{max(diffs):.1e}" if diffs else "–"
            lines.append(
                f"| {lr:g} | {arm} | {_mean_sd([r['test_mse'] for r in ok])} | {float(med):,.2f} "
                f"| {gmax:,.1f} | {sum(r['diverged'] for r in rs)}/{len(rs)} "
                f"| {sum(r['stuck'] for r in ok)}/{len(rs)} "
                f"| {_mean_sd([r.get('attention_test_mse', math.nan) for r in ok])} "
                f"| {diff} |"
            )
    return "\n".join(lines)


class MHATransform(nn.Module):
    """A standard attention encoder transform with the call signature of ``RecurrentTransform``
    (``h, dtau, w[, s0] -> y, state``): ``torch.nn.MultiheadAttention(D, heads)`` over the
    window's tokens, causal (each token attends to itself and the valid tokens before it),
    with a learned embedding of each token's time before the last observation (Fourier
    features, the ITNet encoder's own, through a linear map) added to its input, since
    attention alone cannot see the elapsed times that the ITNet transform integrates over.
    It keeps no recurrent state: the returned state is a dummy (B, 1, 1, 1) zero, so the model
    must decode with the attention decoder (which reads the encoder's output tokens)."""

    def __init__(self, d_model: int, heads: int, timescale_min: float, timescale_max: float):
        super().__init__()
        self.heads = heads
        self.time = FourierFeatures(8, timescale_min, timescale_max)
        self.time_proj = nn.Linear(self.time.out_dim, d_model)
        self.attn = nn.MultiheadAttention(d_model, heads, batch_first=True)

    def forward(self, h, dtau, w, s0=None):
        B, N, _ = h.shape
        tau = torch.cumsum(dtau, 1)
        x = h + self.time_proj(self.time(tau - tau[:, -1:]))  # padding has dtau = 0
        eye = torch.eye(N, dtype=torch.bool, device=h.device)
        causal = torch.ones(N, N, dtype=torch.bool, device=h.device).triu(1)
        blocked = causal | ((w == 0)[:, None, :] & ~eye)  # (B, N, N): True = not attended
        y, _ = self.attn(x, x, x, attn_mask=blocked.repeat_interleave(self.heads, 0),
                         need_weights=False)  # fmt: skip
        return y, h.new_zeros(B, 1, 1, 1)


def _mha_itnet(heads: int = 4):
    """An ``ITNet`` whose encoder blocks use ``MHATransform`` (same pre-norm residual blocks,
    FFNs, embedding, decoder and head)."""
    from itnet_ts.model.itnet import ITNet

    class MHAEncoderITNet(ITNet):
        def __init__(self, cfg):
            super().__init__(cfg)
            if cfg.decoder == "recurrent":
                raise ValueError("the MHA encoder has no recurrent state: use decoder='attention'")
            for block in self.blocks:
                block.transform = MHATransform(cfg.d_model, heads, cfg.timescale_min,
                                               cfg.timescale_max)  # fmt: skip

    return MHAEncoderITNet


def _transform_params(D: int, R: int = 16) -> tuple[int, int]:
    """Parameters of one encoder transform: ITNet (kernel_hidden = D, as the estimator builds
    it) and ``MHATransform``."""
    itn = _transform("recurrent", D, R)
    mha = MHATransform(D, 4, 0.5, 200.0)
    return sum(p.numel() for p in itn.parameters()), sum(p.numel() for p in mha.parameters())


#: encoders of the ``mha`` claim: (label, network class swapped in?, decoder)
MHA_ENCODERS = {
    "itnet": ("ITNet (low-rank MLP kernel)", False, "attention"),
    "mha": ("nn.MultiheadAttention", True, "attention"),
    "itnet-recurrent": ("ITNet, recurrent decoder (the default)", False, "recurrent"),
}


def mha(task: SmallTask, seeds, widths, out: Path, encoders=("itnet", "mha")) -> str:
    data = _small_task(task)
    jobs = []
    for D in widths:
        for enc in encoders:
            for seed in seeds:
                jobs.append((f"{enc}_D{D}_seed{seed}", {"encoder": enc, "D": D, "seed": seed}))

    def runner(spec):
        t = SmallTask(**{**task.__dict__, "d_model": spec["D"]})
        _, swap, decoder = MHA_ENCODERS[spec["encoder"]]
        cls = _mha_itnet() if swap else None
        return _fit_run(t, data, spec["seed"], model_cls=cls, decoder=decoder)

    recs = _runs(task.runs_dir("mha"), out, jobs, runner)
    _summary(task.runs_dir("mha"), out, task, recs, {"widths": list(widths)})
    lines = [
        _header(task, data, seeds, recs).replace(f"d_model {task.d_model}", "d_model D"),
        "Both encoders with the attention decoder (unless the row says otherwise); 2 blocks, "
        "rank 16.",
        "",
        "| D | encoder | transform params | encoder params | model params | test MSE (mean ± sd) "
        "| vs MHA | s / epoch | stuck |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for D in widths:
        itn, mh = _transform_params(D)
        tp = {"itnet": itn, "mha": mh, "itnet-recurrent": itn}
        means = {}
        for enc in encoders:
            rs = [r for r in recs if r["encoder"] == enc and r["D"] == D and not r["diverged"]]
            means[enc] = sum(r["test_mse"] for r in rs) / max(len(rs), 1)
        for enc in encoders:
            rs = [r for r in recs if r["encoder"] == enc and r["D"] == D]
            ok = [r for r in rs if not r["diverged"]]
            rel = means[enc] / means["mha"] - 1 if means.get("mha") else math.nan
            secs = sum(r["s_per_epoch"] for r in ok) / max(len(ok), 1)
            lines.append(
                f"| {D} | {MHA_ENCODERS[enc][0]} | {tp[enc]:,} "
                f"| {ok[0]['encoder_params'] if ok else 0:,} "
                f"| {ok[0]['n_params'] if ok else 0:,} | {_mean_sd([r['test_mse'] for r in ok])} "
                f"| {rel:+.1%} | {secs:.2f} | {sum(r['stuck'] for r in ok)}/{len(rs)} |"
            )
    return "\n".join(lines)


def modes_accuracy(task: SmallTask, seeds, out: Path) -> str:
    data = _small_task(task)
    jobs = [(f"{m}_seed{s}", {"mode": m, "seed": s}) for m in ("recurrent", "attention", "conv")
            for s in seeds]  # fmt: skip

    def runner(spec):
        return _fit_run(task, data, spec["seed"], encoder_mode=spec["mode"])

    recs = _runs(task.runs_dir("modes_accuracy"), out, jobs, runner)
    _summary(task.runs_dir("modes_accuracy"), out, task, recs, {})
    lines = [
        _header(task, data, seeds, recs),
        "",
        "| encoder_mode | test MSE (mean ± sd) | s / epoch | fit s | stuck |",
        "|---|---|---|---|---|",
    ]
    for m in ("recurrent", "attention", "conv"):
        rs = [r for r in recs if r["mode"] == m]
        ok = [r for r in rs if not r["diverged"]]
        secs = sum(r["s_per_epoch"] for r in ok) / max(len(ok), 1)
        fit = sum(r["fit_s"] for r in ok) / max(len(ok), 1)
        lines.append(f"| {m} | {_mean_sd([r['test_mse'] for r in ok])} | {secs:.2f} "
                     f"| {fit:.0f} | {sum(r['stuck'] for r in ok)}/{len(rs)} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("claim", choices=["modes", "params", "montecarlo", "mc-error", "kwn", "mha",
                                     "modes-accuracy"])  # fmt: skip
    p.add_argument("--epochs", type=int, default=None,
                   help="montecarlo: 5; kwn / mha / modes-accuracy: 10")  # fmt: skip
    p.add_argument("--n", nargs="+", type=int, default=[1000, 10000, 100000, 1000000])
    p.add_argument("--budget", type=float, default=300.0, help="seconds per quadratic run")
    p.add_argument("--factors", nargs="+", type=float, default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--draws", type=int, default=16)
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 1e-2])
    p.add_argument("--widths", nargs="+", type=int, default=[64, 128, 256])
    p.add_argument("--encoders", nargs="+", choices=list(MHA_ENCODERS), default=["itnet", "mha"])
    small = SmallTask()
    for f in ("n_train", "n_test", "length", "test_h", "d_model", "windows_per_series"):
        p.add_argument(f"--{f.replace('_', '-')}", type=type(getattr(small, f)),
                       default=getattr(small, f))  # fmt: skip
    p.add_argument("--start", choices=["mix", "persistence"], default="mix")
    p.add_argument("--out", type=Path, default=Path("benchmarks/runs/claims"))
    args = p.parse_args(argv)
    task = SmallTask(args.n_train, args.n_test, args.length, args.test_h,
                     args.epochs or small.epochs, args.d_model, args.windows_per_series,
                     args.start)  # fmt: skip
    if args.claim == "modes":
        print(modes(args.n, args.budget))
    elif args.claim == "params":
        print(params())
    elif args.claim == "montecarlo":
        print(montecarlo(args.epochs or 5))
    elif args.claim == "mc-error":
        print(mc_error(args.n, args.factors, args.draws))
    elif args.claim == "kwn":
        print(kwn(task, args.seeds or [0, 1, 2, 3, 4], args.lrs, args.out))
    elif args.claim == "mha":
        print(mha(task, args.seeds or [0, 1, 2], args.widths, args.out, args.encoders))
    else:
        print(modes_accuracy(task, args.seeds or [0], args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

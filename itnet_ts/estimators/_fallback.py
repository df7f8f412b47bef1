"""The simple baselines around the network: the predictor mix the forecast starts from, fitted
before training (``fit_start``), and the per-channel fallback to a baseline that beat the
trained network on validation (``apply_fallback``)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch

from itnet_ts.data._batch_store import BatchStore
from itnet_ts.errors import BaselineFallbackWarning
from itnet_ts.estimators._batches import stored_batches
from itnet_ts.model.itnet import ITNet

__all__ = [
    "FALLBACK_BASELINES",
    "FALLBACK_MARGIN_SE",
    "apply_fallback",
    "fit_start",
    "paired_margin",
    "select_fallback",
    "summarise_validation",
    "validation_scores",
]

#: Simple predictors the trained network is checked against on validation (model.baselines
#: index = the model's per-channel ``fallback`` code).
FALLBACK_BASELINES = {"persistence": 1, "history_mean": 2}


def fit_start(
    model: ITNet,
    batch_iter,
    device: torch.device,
    *,
    val_iter=None,
    steps: int = 200,
    learning_rate: float = 0.05,
    max_queries: int = 200_000,
) -> dict:
    """Fit the model's predictor mix (``model.mix``: weights per channel, lead time and, with
    the second mix, the channel's history) to the targets of ``batch_iter`` by full-batch Adam
    on the MSE, before the network trains; the network's weights are untouched.

    With ``val_iter`` (the validation batches) and the second mix, the mix is fitted with each
    nested feature set of :data:`~itnet_ts.model.baselines.MIX_FEATURE_SETS` and the one with
    the lowest validation MSE is kept (a feature that only fits the training windows' quirks
    is dropped). Returns ``{"mse_before", "mse_after", "n_targets"}`` (scaled units, training
    windows) and, with ``val_iter``, ``"features"`` (the set kept) and ``"val_mse"`` (of each).
    """
    if model.mix is None:
        return {}
    train = _mix_data(model, batch_iter, device, max_queries)
    if train is None:
        return {}
    mix = model.mix
    init = copy.deepcopy(mix.state_dict())
    sets = {"all": None}
    val = None
    if val_iter is not None and model.cfg.mix_version >= 2:
        from itnet_ts.model.baselines import MIX_FEATURE_SETS

        val = _mix_data(model, val_iter, device, None)
        n_feat, n_history = mix.use.numel(), model.n_history_features
        sets = {}
        for name, n_hist in MIX_FEATURE_SETS.items():
            if n_hist > n_history:
                continue
            use = torch.ones(n_feat, device=mix.use.device)
            use[n_feat - n_history + n_hist :] = 0.0
            sets[name] = use
    out: dict = {"n_targets": int(train[3].numel())}
    best = (math.inf, None, None)
    val_mse = {}
    for name, use in sets.items():
        mix.load_state_dict(init)
        if use is not None:
            mix.use.copy_(use)
        before, after = _fit_mix(mix, train, steps, learning_rate)
        out.setdefault("mse_before", before)
        if val is None:
            out["mse_after"] = after
            break
        with torch.no_grad():
            val_mse[name] = _mix_mse(mix, val)
        if val_mse[name] < best[0]:
            best = (val_mse[name], name, (copy.deepcopy(mix.state_dict()), after))
    if val is not None:
        mix.load_state_dict(best[2][0])
        out.update(mse_after=best[2][1], features=best[1], val_mse=val_mse)
    return out


def _mix_data(model: ITNet, batch_iter, device, max_queries: int | None):
    """The simple predictors, mix features, channels and targets of every known target."""
    P, F, chan, y = [], [], [], []
    n = 0
    for b in batch_iter:
        b = b.to(device)
        p, lf = model.simple_forecasts(b)
        k = b.y_known
        P.append(p[k])
        F.append(lf[k])
        chan.append(b.q_chan[k])
        y.append(b.y[k])
        n += int(k.sum())
        if max_queries is not None and n >= max_queries:
            break
    if n == 0:
        return None
    # predictor- / feature-major (K, N) and (F, N): the layout of ``BaselineMix.mse_columns``
    return (torch.cat(P).t().contiguous(), torch.cat(F).t().contiguous(), torch.cat(chan),
            torch.cat(y))  # fmt: skip


def _mix_mse(mix, data) -> float:
    with torch.no_grad():
        return float(mix.mse_columns(*data))


def _fit_mix(mix, data, steps: int, learning_rate: float) -> tuple[float, float]:
    """Full-batch Adam on the mix's MSE; returns the MSE before and after."""
    params = list(mix.parameters())
    opt = torch.optim.Adam(params, lr=learning_rate)
    with torch.enable_grad():
        before = _mix_mse(mix, data)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            mix.mse_columns(*data).backward()
            opt.step()
        after = _mix_mse(mix, data)
    for p in params:
        p.grad = None
    return before, after


def validation_scores(model: ITNet, batch_iter, device: torch.device) -> dict:
    """Per-channel squared-error sums and counts (scaled units) on ``batch_iter`` of the model's
    point forecast and of each simple baseline of :data:`FALLBACK_BASELINES`, and the sums the
    paired comparison of :func:`select_fallback` needs.

    Returns ``{"count": (C,), "model": (C,), "persistence": (C,), "history_mean": (C,),
    "windows": (C,), "d1": {baseline: (C,)}, "d2": {baseline: (C,)}}`` (numpy float64):
    ``windows`` counts the validation windows with a target of the channel; ``d1`` / ``d2``
    sum, over those windows, the window's squared-error sum of the model minus the baseline's
    and its square. The baselines are computed from the batch alone (0 = the channel's
    training mean where a channel was never observed in the history)."""
    C = model.cfg.n_channels
    out = {k: np.zeros(C) for k in ("count", "model", "windows", *FALLBACK_BASELINES)}
    out["d1"] = {k: np.zeros(C) for k in FALLBACK_BASELINES}
    out["d2"] = {k: np.zeros(C) for k in FALLBACK_BASELINES}
    model.eval()
    with torch.no_grad():
        for b in batch_iter:
            b = b.to(device)
            pred = model(b)[..., 0]
            k = b.y_known
            has = b.has_last.gather(1, b.q_chan) > 0
            last = torch.where(has, b.last_value.gather(1, b.q_chan), 0.0)
            mean = torch.where(has, b.hist_mean.gather(1, b.q_chan), 0.0)
            B = pred.shape[0]
            # (B, C) per-window sums: flat index window * C + channel of each known target
            flat = (torch.arange(B, device=pred.device)[:, None] * C + b.q_chan)[k]
            per_window = {}
            for name, p in (("model", pred), ("persistence", last), ("history_mean", mean)):
                e2 = ((p - b.y)[k] ** 2).double()
                per_window[name] = torch.bincount(flat, weights=e2, minlength=B * C).view(B, C)
                out[name] += per_window[name].sum(0).cpu().numpy()
            n = torch.bincount(flat, minlength=B * C).view(B, C)
            out["count"] += n.sum(0).cpu().numpy()
            out["windows"] += (n > 0).sum(0).cpu().numpy()
            for name in FALLBACK_BASELINES:
                d = per_window["model"] - per_window[name]  # 0 where the window lacks c
                out["d1"][name] += d.sum(0).cpu().numpy()
                out["d2"][name] += (d * d).sum(0).cpu().numpy()
    return out


#: how many standard errors the network must beat a baseline by on validation to be kept
#: (one-sided; the differences are paired per validation window; 0 = any margin). The
#: network's validation score is the best of its epochs (selected on the same windows), the
#: baselines' are not: half a standard error offsets part of that optimism. Measured on
#: benchmarks/holdout_real.py (RESULTS.md): 1.0 also threw away real wins on small data.
FALLBACK_MARGIN_SE = 0.5


def paired_margin(scores: dict, c: int, name: str) -> tuple[float, float]:
    """Mean over validation windows of (network - baseline ``name``) squared-error sum on
    channel ``c`` and its standard error (nan with fewer than 2 windows)."""
    n = float(scores["windows"][c])
    if n < 1:
        return float("nan"), float("nan")
    mean = scores["d1"][name][c] / n
    if n < 2:
        return float(mean), float("nan")
    var = max(scores["d2"][name][c] - n * mean * mean, 0.0) / (n - 1)
    return float(mean), float(np.sqrt(var / n))


def select_fallback(scores: dict, margin_se: float = FALLBACK_MARGIN_SE) -> np.ndarray:
    """Per channel (C,): 0 to keep the network, else the ``FALLBACK_BASELINES`` code of the
    simple baseline with the lowest validation error, unless the network beats that baseline
    by more than ``margin_se`` standard errors of the paired per-window difference (a win
    within the noise of a small validation set does not count; with fewer than two windows,
    any win counts)."""
    codes = np.zeros(len(scores["count"]), np.int64)
    for c in np.nonzero(scores["count"] > 0)[0]:
        name = min(FALLBACK_BASELINES, key=lambda k: scores[k][c])
        mean, se = paired_margin(scores, c, name) if "d1" in scores else (np.nan, np.nan)
        if np.isfinite(se):
            keep = mean + margin_se * se < 0
        else:
            keep = scores["model"][c] <= scores[name][c]
        codes[c] = 0 if keep else FALLBACK_BASELINES[name]
    return codes


def summarise_validation(scores: dict, codes: np.ndarray, channels) -> dict:
    """The validation MSE (scaled units) of the network, of each baseline and of the fitted
    model after the per-channel fallback, overall and per channel."""
    n = scores["count"]
    total = max(float(n.sum()), 1.0)
    names = ("model", *FALLBACK_BASELINES)
    chosen = scores["model"].copy()
    for name, code in FALLBACK_BASELINES.items():
        chosen = np.where(codes == code, scores[name], chosen)
    inv = {code: name for name, code in FALLBACK_BASELINES.items()}
    per_channel = {}
    for c, ch in enumerate(channels):
        row = {"n_targets": int(n[c]), "n_windows": int(scores.get("windows", n)[c])}
        row.update({k: float(scores[k][c] / n[c]) if n[c] else None for k in names})
        if n[c] and "d1" in scores:
            best = min(FALLBACK_BASELINES, key=lambda k: scores[k][c])
            mean, se = paired_margin(scores, c, best)
            row["network_minus_best_baseline"] = {"baseline": best, "per_window": mean, "se": se}
        row["uses"] = "network" if codes[c] == 0 else inv[int(codes[c])]
        per_channel[str(ch)] = row
    return {
        "n_targets": int(n.sum()),
        "mse_network": float(scores["model"].sum() / total),
        **{f"mse_{k}": float(scores[k].sum() / total) for k in FALLBACK_BASELINES},
        "mse_fitted": float(chosen.sum() / total),
        "units": "scaled (each channel standardised on the training data)",
        "fallback": {str(channels[c]): inv[int(codes[c])] for c in np.nonzero(codes)[0]},
        "rule": f"network kept where it beats the best baseline by > {FALLBACK_MARGIN_SE:g} "
        "standard error(s) of the paired per-window difference",
        "per_channel": per_channel,
    }


def apply_fallback(
    model: ITNet, val_store: BatchStore | None, batch_size: int, device, channels
) -> dict:
    """Score the trained network and the simple baselines on the validation windows; set
    the model's per-channel fallback where a baseline did better, and warn. Returns the
    summary ``get_fitted_summary()["validation"]`` shows."""
    if val_store is None:
        return {"n_targets": 0, "note": "no validation windows: nothing was checked"}
    scores = validation_scores(model, stored_batches(val_store, batch_size), device)
    codes = select_fallback(scores)
    model.fallback.copy_(torch.as_tensor(codes))
    summary = summarise_validation(scores, codes, channels)
    if summary["fallback"]:
        chans = summary["fallback"]
        warnings.warn(
            f"ITNetForecaster: on the validation windows the trained network (MSE "
            f"{summary['mse_network']:.4g}) was not better than a simple baseline by more "
            f"than the noise of the check on {len(chans)} of {len(summary['per_channel'])} "
            "channels "
            f"({dict(list(chans.items())[:5])}{' ...' if len(chans) > 5 else ''}); those "
            f"channels use it (MSE after: {summary['mse_fitted']:.4g}; persistence "
            f"{summary['mse_persistence']:.4g}, history mean "
            f"{summary['mse_history_mean']:.4g}). Details: "
            "get_fitted_summary()['validation'].",
            BaselineFallbackWarning,
            stacklevel=4,
        )
    return summary

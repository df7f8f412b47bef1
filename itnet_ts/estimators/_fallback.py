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
    "BASELINE_CHOICES",
    "FALLBACK_BASELINES",
    "FALLBACK_MARGIN_SE",
    "add_scores",
    "apply_fallback",
    "baseline_contest",
    "baseline_scores",
    "choose_baselines",
    "fit_start",
    "paired_margin",
    "rolling_baseline_scores",
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
    and its square; ``b1`` / ``b2`` (C,) the same for persistence minus the history mean (the
    choice between the baselines). The baselines are computed from the batch alone (0 = the
    channel's training mean where a channel was never observed in the history)."""
    C = model.cfg.n_channels
    out = {k: np.zeros(C) for k in ("count", "model", "windows", "b1", "b2", *FALLBACK_BASELINES)}
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
            d = per_window["persistence"] - per_window["history_mean"]
            out["b1"] += d.sum(0).cpu().numpy()
            out["b2"] += (d * d).sum(0).cpu().numpy()
    return out


def baseline_scores(ragged, windows, scaler, max_history: int | None) -> dict:
    """Per-channel squared-error sums and counts (scaled units) of each simple baseline of
    :data:`FALLBACK_BASELINES` on ``windows`` over ``ragged``, computed as the model computes
    them (the last observed value and the mean of the channel in the window's history, its
    last ``max_history`` points; 0 = the training mean where the channel was never observed),
    without the network. Returns ``{"count": (C,), "windows": (C,), "persistence": (C,),
    "history_mean": (C,), "b1": (C,), "b2": (C,)}`` (numpy float64): ``b1`` / ``b2`` sum,
    over the windows with a target of the channel, the window's squared-error sum of
    persistence minus the history mean's and its square."""
    C = len(ragged.channels)
    out = {k: np.zeros(C) for k in ("count", "windows", "b1", "b2", *FALLBACK_BASELINES)}
    for w in range(len(windows)):
        a, b = int(windows.hist_start[w]), int(windows.hist_end[w])
        if max_history is not None:
            a = max(a, b - max_history)
        m = ragged.mask[a:b]
        v = np.where(m, scaler.transform(np.where(m, ragged.values[a:b], 0.0)), 0.0)
        cnt = m.sum(0)
        last_idx = (b - a) - 1 - np.argmax(m[::-1], axis=0)
        last = np.where(cnt > 0, v[last_idx, np.arange(C)], 0.0) if b > a else np.zeros(C)
        mean = v.sum(0) / np.maximum(cnt, 1)
        qa, qb = int(windows.q_indptr[w]), int(windows.q_indptr[w + 1])
        ch = windows.q_chan[qa:qb]
        y = windows.q_target[qa:qb]
        known = np.isfinite(y)
        ch, y = ch[known], scaler.transform(y[known], ch[known])
        if len(ch) == 0:
            continue
        out["count"] += np.bincount(ch, minlength=C)
        out["windows"] += np.bincount(ch, minlength=C) > 0
        e_last = np.bincount(ch, weights=(last[ch] - y) ** 2, minlength=C)
        e_mean = np.bincount(ch, weights=(mean[ch] - y) ** 2, minlength=C)
        out["persistence"] += e_last
        out["history_mean"] += e_mean
        out["b1"] += e_last - e_mean
        out["b2"] += (e_last - e_mean) ** 2
    return out


def add_scores(a: dict, b: dict) -> dict:
    """The sums of two :func:`baseline_scores` results."""
    return {k: a[k] + b[k] for k in a}


def rolling_baseline_scores(data, max_history: int | None, per_series: int = 32) -> dict:
    """:func:`baseline_scores` on more windows than the validation ones, for the choice
    between the baselines (they need no training, so any window of the fitted data is fair):
    rolling-origin windows over the whole fitted series (``rolling_windows``: up to
    ``per_series`` cutoffs per series, fewer when there are many series), or with
    ``fit(cutoffs=...)`` every series' window at its cutoff; plus the validation windows when
    they come from other series (``val_df``) or from the fixed windows' held-out fifth."""
    from itnet_ts.data._windows import rolling_windows

    if data.fixed is not None:
        out = baseline_scores(data.ragged, data.fixed, data.scaler, max_history)
    else:
        k = int(min(per_series, max(2, math.ceil(20_000 / max(data.ragged.n_series, 1)))))
        windows = rolling_windows(data.ragged, data.horizon, k)
        out = baseline_scores(data.ragged, windows, data.scaler, max_history)
    if data.val_windows is not None and (
        data.fixed is not None or data.val_ragged is not data.ragged
    ):
        out = add_scores(
            out, baseline_scores(data.val_ragged, data.val_windows, data.scaler, max_history)
        )
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


#: two-sided 5% critical values of Student's t with 1..30 degrees of freedom (1.96 beyond):
#: the validation windows choose between the baselines only when their paired difference is
#: this many standard errors from 0.
_T975 = (12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip

#: how the simple baseline a channel falls back to is chosen (``ITNetForecaster(baseline_choice=)``):
#: "validation": the one with the lower MSE on the validation windows; "rolling": the same
#: where the validation windows separate the two (paired t-test, 5% two-sided), else the one
#: with the lower MSE on rolling-origin windows over the fitted series (many more targets).
BASELINE_CHOICES = ("rolling", "validation")


def _paired(n: float, s1: float, s2: float) -> tuple[float, float]:
    """Mean and standard error of a per-window difference from its count, sum and sum of
    squares (se nan under 2 windows)."""
    if n < 1:
        return float("nan"), float("nan")
    mean = s1 / n
    if n < 2:
        return float(mean), float("nan")
    return float(mean), float(np.sqrt(max(s2 - n * mean * mean, 0.0) / (n - 1) / n))


def baseline_contest(scores: dict, c: int) -> dict:
    """Persistence minus history mean on channel ``c`` of ``scores`` (validation or
    rolling): windows, targets, the MSE of each, the mean per-window difference, its standard
    error, t and whether it separates the two (|t| beyond the 5% two-sided critical value)."""
    n = float(scores["windows"][c])
    mean, se = _paired(n, float(scores["b1"][c]), float(scores["b2"][c]))
    t = mean / se if np.isfinite(se) and se > 0 else float("nan")
    crit = _T975[int(n) - 2] if 2 <= n <= 31 else 1.96
    count = float(scores["count"][c])
    return {
        "n_windows": int(n),
        "n_targets": int(count),
        **{f"mse_{k}": float(scores[k][c] / count) if count else None for k in FALLBACK_BASELINES},
        "persistence_minus_history_mean": {"per_window": mean, "se": se, "t": t},
        "separates": bool(np.isfinite(t) and abs(t) > crit),
    }


def choose_baselines(scores: dict, rolling: dict | None, choice: str = "rolling") -> list:
    """Per channel, ``(baseline name, what decided)`` of the simple baseline the network is
    compared with: see :data:`BASELINE_CHOICES` (``rolling``: :func:`rolling_baseline_scores`,
    None = the validation windows decide)."""
    if choice not in BASELINE_CHOICES:
        raise ValueError(f"baseline_choice must be one of {list(BASELINE_CHOICES)}, got {choice!r}")
    out = []
    for c in range(len(scores["count"])):
        by_val = min(FALLBACK_BASELINES, key=lambda k: scores[k][c])
        if choice == "validation" or rolling is None or rolling["count"][c] == 0:
            out.append((by_val, "validation windows"))
        elif "b1" in scores and baseline_contest(scores, c)["separates"]:
            out.append((by_val, "validation windows (they separate the baselines)"))
        else:
            by_roll = min(FALLBACK_BASELINES, key=lambda k: rolling[k][c])
            out.append((by_roll, "rolling windows (the validation windows do not separate them)"))
    return out


def select_fallback(
    scores: dict,
    margin_se: float = FALLBACK_MARGIN_SE,
    rolling: dict | None = None,
    choice: str = "rolling",
) -> np.ndarray:
    """Per channel (C,): 0 to keep the network, else the ``FALLBACK_BASELINES`` code of the
    simple baseline of :func:`choose_baselines` (without ``rolling``: the one with the lowest
    validation error), unless the network beats that baseline on the validation windows by
    more than ``margin_se`` standard errors of the paired per-window difference (a win within
    the noise of a small validation set does not count; with fewer than two windows, any win
    counts)."""
    codes = np.zeros(len(scores["count"]), np.int64)
    chosen = choose_baselines(scores, rolling, choice)
    for c in np.nonzero(scores["count"] > 0)[0]:
        name = chosen[c][0]
        mean, se = paired_margin(scores, c, name) if "d1" in scores else (np.nan, np.nan)
        if np.isfinite(se):
            keep = mean + margin_se * se < 0
        else:
            keep = scores["model"][c] <= scores[name][c]
        codes[c] = 0 if keep else FALLBACK_BASELINES[name]
    return codes


def summarise_validation(
    scores: dict,
    codes: np.ndarray,
    channels,
    rolling: dict | None = None,
    choice: str = "validation",
) -> dict:
    """The validation MSE (scaled units) of the network, of each baseline and of the fitted
    model after the per-channel fallback, overall and per channel; per channel also which
    baseline the network was compared with and what chose it (``baseline_choice``: the
    persistence-vs-history-mean contest on the validation windows and, with ``rolling``, on
    the rolling windows)."""
    n = scores["count"]
    total = max(float(n.sum()), 1.0)
    names = ("model", *FALLBACK_BASELINES)
    chosen = scores["model"].copy()
    for name, code in FALLBACK_BASELINES.items():
        chosen = np.where(codes == code, scores[name], chosen)
    inv = {code: name for name, code in FALLBACK_BASELINES.items()}
    picks = choose_baselines(scores, rolling, choice)
    per_channel = {}
    for c, ch in enumerate(channels):
        row = {"n_targets": int(n[c]), "n_windows": int(scores.get("windows", n)[c])}
        row.update({k: float(scores[k][c] / n[c]) if n[c] else None for k in names})
        if n[c] and "d1" in scores:
            best = picks[c][0]
            mean, se = paired_margin(scores, c, best)
            row["network_minus_best_baseline"] = {"baseline": best, "per_window": mean, "se": se}
            row["network_minus_each_baseline"] = {
                k: dict(zip(("per_window", "se"), paired_margin(scores, c, k), strict=True))
                for k in FALLBACK_BASELINES
            }
            bc = {"baseline": best, "decided_by": picks[c][1]}
            if "b1" in scores:
                bc["validation"] = baseline_contest(scores, c)
            if rolling is not None and choice == "rolling":
                bc["rolling"] = baseline_contest(rolling, c)
            row["baseline_choice"] = bc
        row["uses"] = "network" if codes[c] == 0 else inv[int(codes[c])]
        per_channel[str(ch)] = row
    how = (
        "the better baseline on the validation windows where they separate persistence and "
        "the history mean (paired t-test, 5% two-sided), else the better one on rolling-origin "
        "windows over the fitted series"
        if choice == "rolling" and rolling is not None
        else "the better baseline on the validation windows"
    )
    return {
        "n_targets": int(n.sum()),
        "mse_network": float(scores["model"].sum() / total),
        **{f"mse_{k}": float(scores[k].sum() / total) for k in FALLBACK_BASELINES},
        "mse_fitted": float(chosen.sum() / total),
        "units": "scaled (each channel standardised on the training data)",
        "fallback": {str(channels[c]): inv[int(codes[c])] for c in np.nonzero(codes)[0]},
        "baseline_choice": choice,
        "rule": f"network kept where it beats the baseline ({how}) by > {FALLBACK_MARGIN_SE:g} "
        "standard error(s) of the paired per-window difference on the validation windows",
        "per_channel": per_channel,
    }


def apply_fallback(
    model: ITNet,
    val_store: BatchStore | None,
    batch_size: int,
    device,
    channels,
    rolling: dict | None = None,
    choice: str = "rolling",
) -> dict:
    """Score the trained network and the simple baselines on the validation windows; set
    the model's per-channel fallback where the network did not beat the baseline chosen by
    :func:`choose_baselines` (``rolling``: :func:`rolling_baseline_scores`), and warn.
    Returns the summary ``get_fitted_summary()["validation"]`` shows."""
    if val_store is None:
        return {"n_targets": 0, "note": "no validation windows: nothing was checked"}
    scores = validation_scores(model, stored_batches(val_store, batch_size), device)
    codes = select_fallback(scores, rolling=rolling, choice=choice)
    model.fallback.copy_(torch.as_tensor(codes))
    summary = summarise_validation(scores, codes, channels, rolling, choice)
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

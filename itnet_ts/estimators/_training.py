"""Training loop: Adam on a masked (optionally channel-weighted) loss over windows, early stopping
on validation windows (or on a caller-supplied validation score)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from itnet_ts.data._batch_store import BatchStore
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import Batch, ChannelScaler, WindowSet, make_batch
from itnet_ts.errors import ITNetInputError, TrainingDivergedError
from itnet_ts.model.itnet import ITNet
from itnet_ts.model.quantiles import monotone_quantiles, pinball

__all__ = [
    "TrainResult",
    "TrainingDivergedError",
    "batches",
    "fit_model",
    "predict_windows",
    "stored_batches",
]


@dataclass
class TrainResult:
    """``best_epoch``: the epoch whose weights were kept, ``-1`` for the untrained start (with
    ``keep_start``: no epoch beat it on validation); ``start_val_loss``: the start's
    validation loss (``None`` when it was not scored); ``grad_norms``: the gradient norm of
    every training step, before clipping (``clip_grad_norm_``'s total norm)."""

    best_epoch: int
    best_val_loss: float
    history: list[dict] = field(default_factory=list)
    start_val_loss: float | None = None
    grad_norms: list[float] = field(default_factory=list)


#: Pools of ``BUCKET`` batches' worth of shuffled windows, each sorted by history length (then
#: query count), make batches of similar lengths that pad less. 1 (default): plain random
#: batches. On PhysioNet (3 seeds, CPU) pools of 32 trained ~30% faster per epoch but ended
#: 3.9% worse on test MSE (benchmarks/RESULTS.md), so they are off.
BUCKET = 1


def batch_order(
    h_len: np.ndarray,
    q_len: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None,
    bucket: int | None = None,
) -> list[np.ndarray]:
    """Window indices of each batch of one pass.

    With ``rng`` (training): the windows shuffled, cut into pools of ``bucket * batch_size``,
    each pool sorted by (history length, query count) and cut into batches, the batches
    shuffled; every window once per pass. Without ``rng`` (evaluation): sorted by length.
    ``h_len``, ``q_len`` (W,): each window's history points and queries.
    """
    bucket = BUCKET if bucket is None else bucket
    W = len(h_len)
    if rng is None:
        order = np.lexsort((q_len, h_len))
        return [order[i : i + batch_size] for i in range(0, W, batch_size)]
    order = rng.permutation(W)
    if bucket <= 1:
        return [order[i : i + batch_size] for i in range(0, W, batch_size)]
    groups = []
    step = batch_size * bucket
    for a in range(0, W, step):
        pool = order[a : a + step]
        pool = pool[np.lexsort((q_len[pool], h_len[pool]))]
        groups += [pool[j : j + batch_size] for j in range(0, len(pool), batch_size)]
    return [groups[k] for k in rng.permutation(len(groups))]


def _window_lengths(windows: WindowSet, max_history: int | None) -> tuple[np.ndarray, ...]:
    h = windows.hist_end - windows.hist_start
    if max_history is not None:
        h = np.minimum(h, max_history)
    return h, np.diff(windows.q_indptr)


def batches(
    ragged: RaggedSeries,
    windows: WindowSet,
    scaler: ChannelScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
    rng: np.random.Generator | None = None,
):
    """Yield padded batches of ``windows`` in ``batch_order`` (shuffled when ``rng`` is given,
    in windows of similar lengths)."""
    h_len, q_len = _window_lengths(windows, max_history)
    for idx in batch_order(h_len, q_len, batch_size, rng):
        yield make_batch(ragged, windows, idx, scaler, unit, max_history)


def stored_batches(store: BatchStore, batch_size: int, rng: np.random.Generator | None = None):
    """The batches ``batches`` would yield for the store's windows (same order for the same
    ``rng``), gathered from a :class:`~itnet_ts.data._batch_store.BatchStore` on its device."""
    for idx in batch_order(store.h_len, store.q_len, batch_size, rng):
        yield store.batch(idx)


LOSSES = ("mse", "mae", "mse+mae", "pinball")


def masked_loss(
    pred: torch.Tensor,
    batch: Batch,
    loss: str = "mse",
    channel_weights: torch.Tensor | None = None,
    quantiles: Sequence[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the point output's errors over known targets, and their count.

    loss: "mse" (squared error), "mae" (absolute error) or "mse+mae" (their sum), or
    "pinball": the pinball loss, averaged over ``quantiles`` (increasing, 0.5 among them), of
    the quantile forecasts ``monotone_quantiles(pred, quantiles)`` (``itnet_ts.model.quantiles``).
    channel_weights: optional (C,) weight of each queried channel's error (e.g. to match a
    per-variable averaged metric); the count stays the number of known targets.
    """
    known = batch.y_known  # (B, Q)
    if loss == "pinball":
        if not quantiles:
            raise ValueError("loss='pinball' needs the quantile levels (quantiles=)")
        qs = monotone_quantiles(pred, quantiles)  # (B, Q, K)
        e = pinball(qs, batch.y, quantiles)[known]  # (n_known,)
        if channel_weights is not None:
            e = e * channel_weights[batch.q_chan[known]]
        return e.sum(), known.sum()
    err = (pred[..., 0] - batch.y)[known]  # (K,)
    if loss == "mse":
        e = err**2
    elif loss == "mae":
        e = err.abs()
    elif loss == "mse+mae":
        e = err**2 + err.abs()
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if channel_weights is not None:
        e = e * channel_weights[batch.q_chan[known]]
    return e.sum(), known.sum()


def loss_channel_weights(
    how: str | dict, channels: Sequence, scale: np.ndarray, counts: np.ndarray
) -> np.ndarray | None:
    """(C,) weight of each channel's squared error in the scaled units, or None (all 1).

    ``how``: "scaled" (None), "data" (``scale**2``: errors in the data's units), or
    "data_per_channel" (``scale**2 / counts``: each channel's mean error in the data's units
    counts the same), or a dict {channel: weight} (channels not named weigh 1).
    ``counts`` (C,): training observations per channel. Normalised so the mean weight over
    the training observations is 1 (the learning rate keeps its meaning).
    """
    if isinstance(how, str) and how == "scaled":
        return None
    scale = np.asarray(scale, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if how == "data":
        w = scale**2
    elif how == "data_per_channel":
        w = np.where(counts > 0, scale**2 / np.maximum(counts, 1.0), 0.0)
    elif isinstance(how, dict):
        names = [str(c) for c in channels]
        unknown = sorted(set(map(str, how)) - set(names))
        if unknown:
            raise ITNetInputError(
                f"channel_weights names channels the training data does not have: {unknown}; "
                f"its channels are {names}"
            )
        w = np.array([float(how.get(c, 1.0)) for c in names])
    else:
        raise ValueError(f"unknown channel_weights {how!r}")
    total = float((w * counts).sum())
    if not total > 0:
        return None
    return w * counts.sum() / total


def evaluate_loss(
    model: ITNet,
    batch_iter,
    device: torch.device,
    quantiles: Sequence[float] | None = None,
    distributed=None,
    channel_weights: torch.Tensor | None = None,
) -> float:
    """Mean squared error (scaled units) over every known target of ``batch_iter`` (with
    ``quantiles``: the mean pinball loss of the quantile outputs), each error weighted by
    ``channel_weights`` (C,) if given. With ``distributed`` (a ``_ddp.DDPContext``) the
    errors and counts are summed over the ranks' batches."""
    model.eval()
    total, count = 0.0, 0
    loss = "pinball" if quantiles else "mse"
    with torch.no_grad():
        for b in batch_iter:
            b = b.to(device)
            sse, n = masked_loss(model(b), b, loss, channel_weights, quantiles=quantiles)
            total += float(sse)
            count += int(n)
    if distributed is not None:
        total, count = distributed.sum(total, count)
    return total / max(count, 1)


def fit_model(
    model: ITNet,
    train_batches: Callable[[int], object],
    val_batches: Callable[[], object] | None,
    *,
    max_epochs: int,
    learning_rate: float,
    patience: int,
    device: torch.device,
    grad_clip: float = 1.0,
    progress: bool = True,
    weight_decay: float = 0.0,
    loss: str = "mse",
    channel_weights: torch.Tensor | None = None,
    val_score: Callable[[ITNet], float] | None = None,
    schedule: str = "cosine",
    quantiles: Sequence[float] | None = None,
    distributed=None,
    keep_start: bool = False,
    min_epochs: int = 0,
) -> TrainResult:
    """Train ``model`` in place and load its best-validation weights.

    ``train_batches(epoch)`` yields training batches of one epoch; ``val_batches()`` yields the
    validation batches (without it, the last epoch is kept). ``loss`` and ``channel_weights``
    choose the training loss (see ``masked_loss``); validation is the MSE weighted by the same
    ``channel_weights`` (or the pinball loss with ``loss="pinball"``, which needs the model's
    ``quantiles``).
    ``val_score(model)``, if given, replaces the validation MSE as the early-stopping criterion
    (lower is better; e.g. a benchmark's own metric). ``schedule``: "cosine" (to lr / 10 at
    ``max_epochs``) or "constant". Each history entry records the epoch's training seconds.
    ``distributed`` (a ``_ddp.DDPContext``): train under DistributedDataParallel, each step's
    loss normalised by the global target count, losses all-reduced (see ``_ddp.py``).
    ``keep_start``: also score the model as given (before any step; for ITNet the fitted mix
    of simple predictors) on validation and keep it if no epoch beats it (``best_epoch = -1``),
    so training never ends worse on validation than where it started. ``min_epochs``: early
    stopping waits until that many epochs have run (a network whose head starts at zero can
    sit on a plateau near its start for several epochs before it improves).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "pinball" and not quantiles:
        raise ValueError("loss='pinball' needs the quantile levels (quantiles=)")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if channel_weights is not None:
        channel_weights = channel_weights.to(device=device, dtype=torch.float32)
    from tqdm.auto import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max_epochs, eta_min=learning_rate / 10
        )
        if schedule == "cosine"
        else None
    )
    best = TrainResult(best_epoch=-1, best_val_loss=math.inf)
    best_state = None

    def validate() -> float:
        if val_score is not None:
            model.eval()
            v = float(val_score(model))
            return v if distributed is None else distributed.mean(v)
        return evaluate_loss(
            model,
            val_batches(),
            device,
            quantiles if loss == "pinball" else None,
            distributed=distributed,
            channel_weights=channel_weights,
        )

    if keep_start and (val_score is not None or val_batches):
        start_loss = validate()
        best.start_val_loss = start_loss
        if math.isfinite(start_loss):
            best.best_val_loss = start_loss
            best_state = copy.deepcopy(model.state_dict())
    train_model = model if distributed is None else distributed.wrap(model)
    bar = tqdm(range(max_epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        train_model.train()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        for b in train_batches(epoch):
            b = b.to(device)
            sse, n = masked_loss(train_model(b), b, loss, channel_weights, quantiles)
            if distributed is None:
                n_all, finite = n, True
            else:  # every rank skips or steps together; the mean is over the global batch
                n_all, finite = distributed.step_stats(sse, n)
            if n_all == 0:
                continue
            batch_loss = sse / n if distributed is None else sse * distributed.world_size / n_all
            if not finite or not torch.isfinite(batch_loss):
                _diverged(epoch, "training loss", float(batch_loss.detach()))
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip))
            if not math.isfinite(grad_norm):  # a step with NaN/inf gradients poisons the weights
                _diverged(epoch, "gradient norm", grad_norm)
            best.grad_norms.append(grad_norm)
            opt.step()
            total += float(sse.detach())
            count += int(n)
        if sched is not None:
            sched.step()
        seconds = time.perf_counter() - t0
        if distributed is not None:
            total, count = distributed.sum(total, count)
        train_loss = total / max(count, 1)
        if val_score is not None or val_batches:
            val_loss = validate()
        else:
            val_loss = train_loss
        if not math.isfinite(val_loss):
            _diverged(epoch, "validation loss", val_loss)
        best.history.append(
            {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds}
        )
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if val_loss < best.best_val_loss:
            best.best_val_loss, best.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best.best_epoch >= patience and epoch + 1 >= min_epochs:
            break
    bar.close()
    if best_state is None:
        raise TrainingDivergedError("training produced no finite validation loss")
    model.load_state_dict(best_state)
    model.eval()
    return best


def _diverged(epoch: int, what: str, value: float):
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch}: the {what} was {value}; nothing was kept. "
        "Lower learning_rate= or check the data for extreme values."
    )


def predict_windows(
    model: ITNet,
    ragged: RaggedSeries,
    windows: WindowSet,
    scaler: ChannelScaler,
    unit: float,
    batch_size: int,
    max_history: int | None,
    device: torch.device,
    progress: bool = False,
) -> np.ndarray:
    """Point forecasts (Q, n_outputs) in scaled units for every query of ``windows``, in the
    windows' query order, ``batch_size`` windows at a time (bounded memory); ``progress``
    shows a bar when there is more than one batch."""
    from tqdm.auto import tqdm

    model.eval()
    out = np.zeros((len(windows.q_time), model.cfg.n_outputs), np.float32)
    starts = range(0, len(windows), batch_size)
    bar = tqdm(starts, desc="forecasting", unit="batch", leave=False,
               disable=not progress or len(starts) < 2)  # fmt: skip
    with torch.no_grad():
        for i in bar:
            idx = np.arange(i, min(i + batch_size, len(windows)))
            b = make_batch(ragged, windows, idx, scaler, unit, max_history).to(device)
            pred = model(b).cpu().numpy()  # (B, Q, n_out)
            for j, w in enumerate(idx):
                qa, qb = windows.q_indptr[w], windows.q_indptr[w + 1]
                out[qa:qb] = pred[j, : qb - qa]
    return out


# ---- the baseline-aware start and the baseline fallback ------------------------------------

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
    return tuple(torch.cat(x) for x in (P, F, chan, y))


def _mix_mse(mix, data) -> float:
    P, F, chan, y = data
    return float((((mix.weights(chan, F) * P).sum(-1) - y) ** 2).mean().detach())


def _fit_mix(mix, data, steps: int, learning_rate: float) -> tuple[float, float]:
    """Full-batch Adam on the mix's MSE; returns the MSE before and after."""
    params = list(mix.parameters())
    opt = torch.optim.Adam(params, lr=learning_rate)
    with torch.enable_grad():
        before = _mix_mse(mix, data)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            P, F, chan, y = data
            loss = (((mix.weights(chan, F) * P).sum(-1) - y) ** 2).mean()
            loss.backward()
            opt.step()
        after = _mix_mse(mix, data)
    for p in params:
        p.grad = None
    return before, after


def validation_scores(model: ITNet, batch_iter, device: torch.device) -> dict:
    """Per-channel squared-error sums and counts (scaled units) on ``batch_iter`` of the model's
    point forecast and of each simple baseline of :data:`FALLBACK_BASELINES`.

    Returns ``{"count": (C,), "model": (C,), "persistence": (C,), "history_mean": (C,)}``
    (numpy float64). The baselines are computed from the batch alone (0 = the channel's
    training mean where a channel was never observed in the history)."""
    C = model.cfg.n_channels
    out = {k: np.zeros(C) for k in ("count", "model", *FALLBACK_BASELINES)}
    model.eval()
    with torch.no_grad():
        for b in batch_iter:
            b = b.to(device)
            pred = model(b)[..., 0]
            k = b.y_known
            ch = b.q_chan[k]
            has = b.has_last.gather(1, b.q_chan) > 0
            last = torch.where(has, b.last_value.gather(1, b.q_chan), 0.0)
            mean = torch.where(has, b.hist_mean.gather(1, b.q_chan), 0.0)
            for name, p in (("model", pred), ("persistence", last), ("history_mean", mean)):
                e2 = ((p - b.y)[k] ** 2).double()
                out[name] += torch.bincount(ch, weights=e2, minlength=C).cpu().numpy()
            out["count"] += torch.bincount(ch, minlength=C).cpu().numpy()
    return out


def select_fallback(scores: dict) -> np.ndarray:
    """Per channel (C,): 0 to keep the network, else the ``FALLBACK_BASELINES`` code of the
    simple baseline with the lowest validation error where it beats the network's."""
    codes = np.zeros(len(scores["count"]), np.int64)
    for c in np.nonzero(scores["count"] > 0)[0]:
        best, err = 0, scores["model"][c]
        for name, code in FALLBACK_BASELINES.items():
            if scores[name][c] < err:
                best, err = code, scores[name][c]
        codes[c] = best
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
    per_channel = {
        str(ch): {
            "n_targets": int(n[c]),
            **{k: float(scores[k][c] / n[c]) if n[c] else None for k in names},
            "uses": "network" if codes[c] == 0 else inv[int(codes[c])],
        }
        for c, ch in enumerate(channels)
    }
    return {
        "n_targets": int(n.sum()),
        "mse_network": float(scores["model"].sum() / total),
        **{f"mse_{k}": float(scores[k].sum() / total) for k in FALLBACK_BASELINES},
        "mse_fitted": float(chosen.sum() / total),
        "units": "scaled (each channel standardised on the training data)",
        "fallback": {str(channels[c]): inv[int(codes[c])] for c in np.nonzero(codes)[0]},
        "per_channel": per_channel,
    }

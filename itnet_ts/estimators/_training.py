"""Training loop: Adam on a masked (optionally channel-weighted) loss over windows, early stopping
on validation windows (or on a caller-supplied validation score). The batches it runs on are
in ``_batches.py``; the baseline start and fallback around it in ``_fallback.py``."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from itnet_ts.data._windows import Batch
from itnet_ts.errors import ITNetInputError, TrainingDivergedError
from itnet_ts.model.itnet import ITNet
from itnet_ts.model.quantiles import monotone_quantiles, pinball

__all__ = [
    "LOSSES",
    "TrainResult",
    "TrainingDivergedError",
    "check_converged",
    "evaluate_loss",
    "fit_model",
    "loss_channel_weights",
    "masked_loss",
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
    label: str = "training",
    average_decay: float | None = None,
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
    ``average_decay``: validate and keep an exponential moving average of the weights over
    the optimizer steps (:class:`WeightAverage`) instead of the last step's weights.
    """
    steps = _Steps(model, device, loss, quantiles, channel_weights, grad_clip, distributed)
    steps.average = None if average_decay is None else WeightAverage(model, average_decay)
    validate = steps.validator(val_batches, val_score)  # None: no validation
    opt, sched = _optimizer(model, learning_rate, weight_decay, schedule, max_epochs)
    best, best_state = TrainResult(best_epoch=-1, best_val_loss=math.inf), None
    best.grad_norms = steps.grad_norms  # one list, filled step by step
    if keep_start and validate is not None:
        best.start_val_loss = start_loss = validate()
        if math.isfinite(start_loss):
            best.best_val_loss, best_state = start_loss, copy.deepcopy(model.state_dict())
    from tqdm.auto import tqdm

    train_model = model if distributed is None else distributed.wrap(model)
    bar = tqdm(range(max_epochs), desc=label, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        train_loss = steps.train_epoch(train_model, opt, train_batches(epoch), epoch)
        if sched is not None:
            sched.step()
        seconds = time.perf_counter() - t0
        val_loss, state = steps.validate_epoch(validate, train_loss, best.best_val_loss)
        if not math.isfinite(val_loss):
            _diverged(epoch, "validation loss", val_loss)
        best.history.append(
            {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds}
        )
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if state is not None:
            best.best_val_loss, best.best_epoch, best_state = val_loss, epoch, state
        elif epoch - best.best_epoch >= patience and epoch + 1 >= min_epochs:
            break
    bar.close()
    if best_state is None:
        raise TrainingDivergedError("training produced no finite validation loss")
    model.load_state_dict(best_state)
    model.eval()
    return best


def _optimizer(model: ITNet, learning_rate, weight_decay, schedule: str, max_epochs: int):
    """AdamW and its schedule: "cosine" (to lr / 10 at ``max_epochs``) or "constant" (None)."""
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    if schedule == "constant":
        return opt, None
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR
    return opt, cosine(opt, T_max=max_epochs, eta_min=learning_rate / 10)


@dataclass
class _Steps:
    """The optimisation steps and validation of one ``fit_model`` run."""

    model: ITNet
    device: torch.device
    loss: str
    quantiles: Sequence[float] | None
    channel_weights: torch.Tensor | None
    grad_clip: float
    distributed: object | None
    grad_norms: list[float] = field(default_factory=list)
    average: WeightAverage | None = None

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.loss == "pinball" and not self.quantiles:
            raise ValueError("loss='pinball' needs the quantile levels (quantiles=)")
        if self.channel_weights is not None:
            self.channel_weights = self.channel_weights.to(self.device, torch.float32)

    def validator(self, val_batches, val_score) -> Callable[[], float] | None:
        """The validation loss as a function of no arguments (None without validation)."""
        dist = self.distributed
        if val_score is not None:

            def score() -> float:
                self.model.eval()
                v = float(val_score(self.model))
                return v if dist is None else dist.mean(v)

            return score
        if not val_batches:
            return None
        q = self.quantiles if self.loss == "pinball" else None
        return lambda: evaluate_loss(
            self.model, val_batches(), self.device, q, dist, self.channel_weights
        )

    def train_epoch(self, train_model, opt, batch_iter, epoch: int) -> float:
        """One pass of optimizer steps; the epoch's mean training loss (over every rank)."""
        dist = self.distributed
        train_model.train()
        total, count = 0.0, 0
        for b in batch_iter:
            b = b.to(self.device)
            sse, n = masked_loss(train_model(b), b, self.loss, self.channel_weights, self.quantiles)
            if dist is None:
                n_all, finite = n, True
            else:  # every rank skips or steps together; the mean is over the global batch
                n_all, finite = dist.step_stats(sse, n)
            if n_all == 0:
                continue
            batch_loss = sse / n if dist is None else sse * dist.world_size / n_all
            if not finite or not torch.isfinite(batch_loss):
                _diverged(epoch, "training loss", float(batch_loss.detach()))
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            if not torch.isfinite(grad_norm):  # a step with NaN/inf gradients poisons the weights
                _diverged(epoch, "gradient norm", float(grad_norm))
            self.grad_norms.append(float(grad_norm))
            opt.step()
            if self.average is not None:
                self.average.update()
            total += float(sse.detach())
            count += int(n)
        if dist is not None:
            total, count = dist.sum(total, count)
        return total / max(count, 1)

    def validate_epoch(self, validate, train_loss: float, best_loss: float):
        """(the epoch's validation loss, a copy of the weights it scored where it beats
        ``best_loss`` else None); the averaged weights when they are kept; without
        validation the training loss."""
        swap = self.average.swapped() if self.average is not None else contextlib.nullcontext()
        with swap:
            val_loss = train_loss if validate is None else validate()
            better = val_loss < best_loss
            return val_loss, copy.deepcopy(self.model.state_dict()) if better else None


class WeightAverage:
    """Exponential moving average of a model's floating-point parameters over optimizer steps:
    ``avg <- d avg + (1 - d) param`` with ``d = min(decay, (1 + t) / (10 + t))`` at step ``t``
    (a short average early on, about ``1 / (1 - decay)`` steps later)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"average_decay must be in (0, 1), got {decay}")
        self.decay, self.steps = decay, 0
        self.params = [p for p in model.parameters() if p.is_floating_point()]
        self.avg = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        torch._foreach_lerp_(self.avg, [p.detach() for p in self.params], 1.0 - d)

    @contextlib.contextmanager
    def swapped(self):
        """Inside the block the model's parameters are the averages; restored after."""
        with torch.no_grad():
            current = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.avg, strict=True):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, c in zip(self.params, current, strict=True):
                    p.copy_(c)


def _diverged(epoch: int, what: str, value: float):
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch}: the {what} was {value}; nothing was kept. "
        "Lower learning_rate= or check the data for extreme values."
    )


def check_converged(result: TrainResult) -> None:
    """A run whose training or validation loss went NaN / infinite diverged: never keep it."""
    for rec in result.history:
        for key in ("train_loss", "val_loss"):
            if key in rec and not math.isfinite(float(rec[key])):
                raise TrainingDivergedError(
                    f"training diverged: the {key.replace('_', ' ')} was {rec[key]} at epoch "
                    f"{rec['epoch']}; nothing was kept. Lower learning_rate= or check the data "
                    "for extreme values."
                )

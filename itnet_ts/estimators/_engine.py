"""The training engine of ``ITNetForecaster.fit``: a strategy (one process, or DDP over the
processes of a ``torch.distributed`` group), a seeded scope for torch's random numbers, and
the training run itself (``fit_model`` on the fit's batches).

A strategy says on which device this process trains, which windows it draws and how large its
share of a global batch is; ``fit_model`` reads ``strategy.distributed`` (None for one
process). ``training_strategy`` is a context manager: a DDP process group it created is
destroyed on leaving it, also after an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from itnet_ts.data._windows import WindowSet, training_windows
from itnet_ts.errors import ITNetInputError
from itnet_ts.estimators._batches import TrainingBatches
from itnet_ts.estimators._ddp import STRATEGIES, ddp_group, launched_by_torchrun
from itnet_ts.estimators._training import TrainResult, fit_model
from itnet_ts.model.itnet import ITNet

__all__ = ["SingleProcess", "resolve_device", "seeded", "train_network", "training_strategy"]


class SingleProcess:
    """Training in this process alone: every window, the whole batch."""

    distributed = None
    rank = 0

    def __init__(self, device: torch.device, seed: int):
        self.device = device
        self.rng = np.random.default_rng(seed)  # window draws and batch shuffles
        self.shared_rng = self.rng  # one process: the draws all come from one generator

    def local_batch(self, batch_size: int) -> int:
        return batch_size

    def train_windows(self, ragged, train_end, horizon, per_series, epoch) -> WindowSet:
        """Fresh random training windows of every series (``epoch`` does not matter)."""
        return training_windows(
            ragged, horizon, self.rng, per_series, train_end=train_end, max_history=None
        )

    def shard_windows(self, windows: WindowSet) -> WindowSet:
        return windows

    def progress(self, verbose: bool) -> bool:
        return verbose

    def summary(self) -> None:
        return None


def resolve_device(name: str) -> torch.device:
    """The torch device of the estimator's ``device=`` ("auto": CUDA if available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ITNetInputError("device='cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


@contextmanager
def training_strategy(name: str, device: torch.device, seed: int) -> Iterator:
    """The strategy ``name`` ("auto", "single" or "ddp") for one fit, as a context: DDP when
    asked for, or with "auto" under a launcher of more than one process."""
    if name not in STRATEGIES:
        raise ITNetInputError(f"strategy must be one of {list(STRATEGIES)}, got {name!r}")
    if name == "single" or (name == "auto" and not launched_by_torchrun()):
        yield SingleProcess(device, seed)
        return
    with ddp_group(device, seed) as ctx:
        yield ctx


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Torch's random numbers seeded with ``seed`` inside (weights, dropout, sampling), and the
    caller's random state as it was afterwards: a fit never reseeds the user's generator."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


#: validate and keep an exponential moving average of the weights over the optimizer steps
#: (``_training.WeightAverage``, e.g. 0.999) instead of the last step's: None (off). Measured
#: (benchmarks/RESULTS.md, "A moving average of the weights"): level on PhysioNet, worse on
#: the small real hold-out sets, so not a default.
AVERAGE_DECAY: float | None = None


def train_network(
    model: ITNet, batches: TrainingBatches, strategy, est, label: str = "training"
) -> TrainResult:
    """Train ``model`` on ``batches`` with the estimator's ``est`` schedule; never worse on
    validation than its start (the fitted mix). ``label``: the progress bar's title."""
    data = batches.data
    cw = data.channel_weights
    return fit_model(
        model,
        batches.train,
        batches.validation,
        max_epochs=est.max_epochs,
        learning_rate=est.learning_rate,
        patience=est.patience,
        device=strategy.device,
        progress=strategy.progress(est.verbose),
        distributed=strategy.distributed,
        loss="pinball" if data.plan.probabilistic else "mse",
        channel_weights=None if cw is None else torch.as_tensor(cw, dtype=torch.float32),
        quantiles=data.plan.quantiles or None,
        keep_start=True,  # never worse on validation than the untrained start (the mix)
        # the zero-initialised head can sit near its start for a few epochs before the
        # network improves: early stopping waits for a third of max_epochs
        min_epochs=est.max_epochs // 3,
        label=label,
        average_decay=AVERAGE_DECAY,
    )

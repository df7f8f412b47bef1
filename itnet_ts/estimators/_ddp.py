"""Data-parallel training with PyTorch's own engine (``torch.distributed`` DDP).

``ITNetForecaster(strategy="ddp")`` -- or ``strategy="auto"`` under ``torchrun`` (``WORLD_SIZE``
> 1) -- trains one replica per process:

- every process reads the same frame and computes the same scaler, time unit, horizon and
  initial weights (DDP also broadcasts rank 0's weights when it wraps the model);
- the training *series* are sharded like ``torch.utils.data.DistributedSampler`` shards a
  dataset: a per-epoch permutation (seeded by ``random_state`` and the epoch) of the series
  that can give a training window, padded by repetition to a multiple of the world size,
  every rank taking ``perm[rank::world]``; each rank draws its training windows from its own
  series, so every rank runs the same number of optimizer steps;
- ``batch_size`` stays the *global* batch: each rank takes ``ceil(batch_size / world)``
  windows per step, and each step's loss is normalised by the global number of targets (one
  tiny all-reduce), so the gradient DDP averages is exactly the gradient of the global batch
  -- the same optimisation as one process with that batch, whatever the world size;
- validation windows are split over the ranks and the squared errors and counts all-reduced:
  every rank sees the single-process validation loss, so early stopping agrees;
- only rank 0 writes the model file (``ITNetForecaster.save`` is a no-op elsewhere).

Backends: gloo on CPU, nccl on CUDA (one GPU per process, ``cuda:LOCAL_RANK``). If the default
process group is not initialised yet it is initialised from torchrun's environment (``env://``)
and destroyed when ``fit`` ends, whether it succeeds or fails (``ddp_group``); one the caller
initialised is used and left alone. Nothing here is
a scheduler or a launcher: torchrun (or the caller) starts the processes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import WindowSet, concat_windows, select_windows, training_windows
from itnet_ts.errors import ITNetInputError

__all__ = [
    "STRATEGIES",
    "DDPContext",
    "ddp_group",
    "is_writer",
    "launched_by_torchrun",
    "shard_indices",
    "start_ddp",
    "trainable_series",
]

STRATEGIES = ("auto", "single", "ddp")


def launched_by_torchrun() -> bool:
    """True inside a process group of more than one process (torchrun's ``WORLD_SIZE``, or an
    initialised default process group)."""
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return True
    except ValueError:
        pass
    dist = torch.distributed
    return bool(dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)


def start_ddp(device: torch.device, seed: int) -> DDPContext:
    """This process's DDP context. Initialises the default process group from the environment
    when it is not initialised yet (gloo for CPU training, nccl for CUDA)."""
    dist = torch.distributed
    if not dist.is_available():
        raise ITNetInputError("strategy='ddp' needs a PyTorch build with torch.distributed")
    created = False
    if not dist.is_initialized():
        missing = [
            k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ
        ]
        if missing:
            raise ITNetInputError(
                f"strategy='ddp' needs a process group: launch with torchrun (e.g. `torchrun "
                f"--nproc-per-node 2 -m itnet_ts.cli fit DATA`), or call "
                f"torch.distributed.init_process_group first (missing environment: {missing})"
            )
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        created = True
    rank, world = dist.get_rank(), dist.get_world_size()
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank))
        device = torch.device("cuda", local % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    return DDPContext(rank, world, device, dist.get_backend(), seed, created)


@contextmanager
def ddp_group(device: torch.device, seed: int) -> Iterator[DDPContext]:
    """The DDP context of this process for one fit (see ``start_ddp``); on leaving, the DDP
    wrapper is dropped and a process group this created is destroyed, also after an error."""
    ctx = start_ddp(device, seed)
    try:
        yield ctx
    finally:
        ctx.close()


@dataclasses.dataclass
class DDPContext:
    """One process's view of a DDP run; ``fit_model(..., distributed=ctx)`` consults it."""

    rank: int
    world_size: int
    device: torch.device
    backend: str
    seed: int
    created_group: bool = False

    def __post_init__(self) -> None:
        # window draws and shuffles differ between ranks; model init does not (same torch seed)
        self.rng = np.random.default_rng([self.seed, self.rank])
        # draws every rank must agree on (the held-out fixed windows)
        self.shared_rng = np.random.default_rng(self.seed)
        self._eligible: np.ndarray | None = None
        self._ddp: torch.nn.Module | None = None

    # ---- the model -----------------------------------------------------------------------
    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` under DistributedDataParallel (weights of rank 0 broadcast to all)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # static_graph: the same parameters take part in every step, and some never do (the
        # decoder reads the last block's state, not its output path); DDP then neither waits
        # for their gradients nor searches the graph for unused parameters at every step
        self._ddp = DistributedDataParallel(model, device_ids=ids, static_graph=True)
        torch.manual_seed(self.seed + 1 + self.rank)  # independent dropout masks per rank
        return self._ddp

    @property
    def distributed(self) -> DDPContext:
        """What ``fit_model(distributed=...)`` takes (a single process has None)."""
        return self

    def progress(self, verbose: bool) -> bool:
        """Whether this process shows progress bars (rank 0 only)."""
        return verbose and self.rank == 0

    def summary(self) -> dict:
        """What ``ITNetForecaster.distributed_`` records about the run."""
        return {"rank": self.rank, "world_size": self.world_size, "backend": self.backend}

    def close(self) -> None:
        """Drop the DDP wrapper; destroy the process group if ``start_ddp`` created it."""
        self._ddp = None
        if self.created_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    # ---- collectives -----------------------------------------------------------------------
    def _reduce(self, values: list[float], op=None) -> list[float]:
        dist = torch.distributed
        dev = self.device if self.backend == "nccl" else torch.device("cpu")
        t = torch.tensor(values, dtype=torch.float64, device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.SUM if op is None else op)
        return t.cpu().tolist()

    def sum(self, *values: float) -> list[float]:
        """Element-wise sum over the ranks."""
        return self._reduce([float(v) for v in values])

    def mean(self, value: float) -> float:
        return self._reduce([float(value)])[0] / self.world_size

    def step_stats(self, sse: torch.Tensor, n) -> tuple[int, bool]:
        """Global target count of a step, and whether every rank's loss is finite."""
        finite = bool(torch.isfinite(sse.detach()).all())
        total, bad = self._reduce([float(n), 0.0 if finite else 1.0])
        return round(total), bad == 0

    # ---- the data --------------------------------------------------------------------------
    def local_batch(self, batch_size: int) -> int:
        """Windows per rank per step for a global ``batch_size``."""
        return max(1, math.ceil(batch_size / self.world_size))

    def train_windows(
        self,
        ragged: RaggedSeries,
        train_end: np.ndarray,
        horizon: float,
        per_series: int,
        epoch: int,
    ) -> WindowSet:
        """This rank's training windows of ``epoch`` (from its shard of the series)."""
        if self._eligible is None:
            self._eligible = trainable_series(ragged, train_end, horizon)
        mine = shard_indices(self._eligible, self.rank, self.world_size, self.seed, epoch)
        return series_windows(ragged, train_end, horizon, per_series, mine, self.rng)

    def shard_windows(self, windows: WindowSet) -> WindowSet:
        """This rank's share of fixed windows (validation): every ``world``-th one."""
        return select_windows(windows, np.arange(self.rank, len(windows), self.world_size))


def shard_indices(
    items: np.ndarray, rank: int, world: int, seed: int, epoch: int, shuffle: bool = True
) -> np.ndarray:
    """``items`` split like ``DistributedSampler``: permuted with ``(seed, epoch)``, padded by
    repetition to a multiple of ``world``, every ``world``-th from ``rank``. Every rank gets
    the same count; an empty ``items`` gives every rank nothing."""
    items = np.asarray(items)
    if len(items) == 0:
        return items
    if shuffle:
        items = np.random.default_rng([seed, epoch]).permutation(items)
    total = math.ceil(len(items) / world) * world
    padded = np.resize(items, total)  # repeats from the start, as DistributedSampler does
    return padded[rank::world]


def trainable_series(ragged: RaggedSeries, train_end: np.ndarray, horizon: float) -> np.ndarray:
    """Indices of the series that can give a training window (see ``training_windows``):
    two or more points before ``train_end`` with a gap of at most ``horizon`` among them."""
    S = ragged.n_series
    if S == 0:
        return np.zeros(0, np.int64)
    of_point = np.repeat(np.arange(S), ragged.lengths())  # (T,)
    t = ragged.times
    gap_ok = (t[1:] - t[:-1]) <= horizon  # (T-1,) gap between points i and i+1
    same = of_point[1:] == of_point[:-1]
    inside = np.arange(1, len(t)) < train_end[of_point[1:]]
    good = of_point[1:][gap_ok & same & inside]
    return np.flatnonzero(np.bincount(good, minlength=S) > 0).astype(np.int64)


def series_windows(
    ragged: RaggedSeries,
    train_end: np.ndarray,
    horizon: float,
    per_series: int,
    series: np.ndarray,
    rng: np.random.Generator,
) -> WindowSet:
    """``per_series`` training windows of each entry of ``series`` (repeats draw again)."""
    parts = []
    remaining = np.asarray(series, np.int64)
    while len(remaining):
        # one call per layer of distinct series: training_windows draws from every series
        # whose usable range is non-empty, so hide the others behind train_end = start
        layer, first = np.unique(remaining, return_index=True)
        end = ragged.starts()
        end[layer] = train_end[layer]
        parts.append(training_windows(ragged, horizon, rng, per_series, train_end=end))
        remaining = np.delete(remaining, first)
    if not parts:  # no series: an empty window set
        return training_windows(ragged, horizon, rng, per_series, train_end=ragged.starts())
    return concat_windows(parts)


def is_writer(est) -> bool:
    """Whether ``est`` should write files: False only on ranks other than 0 of the DDP run
    that fitted it."""
    info = getattr(est, "distributed_", None)
    return not info or int(info.get("rank", 0)) == 0

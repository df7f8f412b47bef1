"""Benchmark datasets as one window per series: the PhysioNet 2012 protocol and a synthetic set.

A :class:`BenchData` holds three :class:`BenchSplit` (train / val / test). Each split keeps the
protocol's tidy frames -- ``history`` (what a model sees) and ``targets`` (the observed entries
to forecast and score), columns ``unique_id, ds, variable, value`` -- and the same data as model
input: a :class:`~itnet_ts.data._ragged.RaggedSeries` of history + targets and a
:class:`~itnet_ts.data._windows.WindowSet` with one window per series (history up to the
series' cutoff, queries = its target rows). Every model is scored on ``targets`` with
:func:`itnet_ts.datasets.protocol.protocol_metrics` (per-variable averaged MSE / MAE).

- ``physionet``: :func:`load_physionet` -- the published t-PatchGNN protocol
  (``itnet_ts.datasets.protocol``): history ``t < 24`` h, cutoff 24 h, min-max scaled values,
  time in units of ``time_max`` (48 h); the models' time unit is the hour.
- ``synthetic``: :func:`load_synthetic` -- ``make_irregular`` series; train / val / test are
  different series (a global model forecasts series it never saw); each series is cut at
  ``t_end - horizon`` (:func:`~itnet_ts.datasets.train_test_cut`), raw values, time unit 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "DATASETS",
    "BenchData",
    "BenchSplit",
    "bucketed_batches",
    "build_split",
    "data_identity",
    "dataset_name",
    "load_dataset",
    "load_physionet",
    "load_synthetic",
    "predict_protocol",
]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BenchSplit:
    """One split: the scored frames and the model input built from them.

    ``perm``: query ``k`` of ``windows`` is row ``perm[k]`` of ``targets``.
    """

    name: str
    history: pl.DataFrame = field(repr=False)
    targets: pl.DataFrame = field(repr=False)
    ragged: Any = field(repr=False)  # RaggedSeries
    windows: Any = field(repr=False)  # WindowSet
    perm: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.windows)


@dataclass(frozen=True)
class BenchData:
    """A benchmark dataset: three splits, the channel names and the time axis.

    ``unit``: one model time unit on the ``ds`` axis (``tau = (ds - cutoff) / unit``);
    ``time_scale``: one model time unit as a fraction of the series span (for models that
    want normalised times, e.g. GRU-D's query embedding); ``options``: what defines the data
    (recorded with every run, compared when a run is resumed).
    ``split(name)`` and ``train`` make it usable wherever
    :func:`itnet_ts.datasets.protocol.baseline_forecast` expects a protocol.
    """

    name: str
    variables: tuple[str, ...]
    train: BenchSplit
    val: BenchSplit
    test: BenchSplit
    unit: float
    time_scale: float
    options: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> BenchSplit:
        if name not in SPLITS:
            raise ITNetInputError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}


# ---------------------------------------------------------------------------------------------
# model input: one window per series


def build_split(
    name: str,
    history: pl.DataFrame,
    targets: pl.DataFrame,
    variables: tuple[str, ...],
    cutoff: float | Mapping[str, float],
) -> BenchSplit:
    """The model input of one split: every series' history and target rows (``unique_id, ds,
    variable, value``; each series' history times before its target times) as one ragged set,
    one window per series with its ``cutoff`` (a number, or one per series id)."""
    from itnet_ts.data._ragged import ragged_from_canonical
    from itnet_ts.data._windows import WindowSet

    canon = pl.concat([history, targets]).rename({"ds": "time"})
    ragged = ragged_from_canonical(canon, tuple(variables))
    pos = {sid: s for s, sid in enumerate(ragged.ids)}
    S = ragged.n_series
    # history end: the number of distinct history times of each series
    n_hist = np.zeros(S, np.int64)
    hcount = history.group_by("unique_id").agg(n=pl.col("ds").n_unique())
    for sid, n in zip(hcount["unique_id"].to_list(), hcount["n"].to_list(), strict=True):
        n_hist[pos[sid]] = n
    hist_start = ragged.indptr[:-1].astype(np.int64)
    hist_end = hist_start + n_hist
    # queries: the target rows, grouped by series (stable within a series)
    q_series = np.array([pos[s] for s in targets["unique_id"].to_list()], np.int64)
    perm = np.argsort(q_series, kind="stable")
    chan = {v: i for i, v in enumerate(variables)}
    q_chan = np.array([chan[v] for v in targets["variable"].to_list()], np.int64)
    counts = np.bincount(q_series, minlength=S)
    if isinstance(cutoff, Mapping):
        cut = np.array([float(cutoff[sid]) for sid in ragged.ids], np.float64)
    else:
        cut = np.full(S, float(cutoff))
    windows = WindowSet(
        series=np.arange(S, dtype=np.int64),
        hist_start=hist_start,
        hist_end=hist_end,
        cutoff=cut,
        q_indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        q_time=targets["ds"].to_numpy()[perm],
        q_chan=q_chan[perm],
        q_target=targets["value"].to_numpy()[perm],
    )
    return BenchSplit(name, history, targets, ragged, windows, perm)


def bucketed_batches(
    split: BenchSplit, scaler, unit: float, batch_size: int, rng, bucket: int = 32
) -> Iterator:
    """Shuffled batches of windows of similar query / history length (less padding)."""
    from itnet_ts.data._windows import make_batch

    windows = split.windows
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
        yield make_batch(split.ragged, windows, groups[k], scaler, unit)


def predict_protocol(
    model, split: BenchSplit, scaler, unit: float, device, batch_size: int = 64
) -> np.ndarray:
    """Predictions (in the units of ``split.targets``) for its rows, in its row order; windows
    are evaluated in order of query count (less padding)."""
    import torch

    from itnet_ts.data._windows import make_batch

    windows = split.windows
    model.eval()
    pred = np.zeros(len(windows.q_time), np.float64)
    order = np.argsort(np.diff(windows.q_indptr), kind="stable")
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            b = make_batch(split.ragged, windows, idx, scaler, unit).to(device)
            out = model(b)[..., 0].cpu().numpy()  # (B, Q)
            for j, w in enumerate(idx):
                qa, qb = windows.q_indptr[w], windows.q_indptr[w + 1]
                pred[qa:qb] = out[j, : qb - qa]
    raw = scaler.inverse(pred, windows.q_chan)
    result = np.empty_like(raw)
    result[split.perm] = raw
    return result


# ---------------------------------------------------------------------------------------------
# datasets


def load_physionet(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split_json: str | os.PathLike[str] | None = None,
    check_published: bool = True,
    cache: bool = True,
) -> BenchData:
    """PhysioNet 2012 under the published protocol (ANCHORS.md section 1).

    ``data_dir``: the folder with ``set-a/b/c.tar.gz`` (default ``$ITNET_PHYSIONET_DIR``);
    ``split_json``: default ``<data_dir>/split_tpatchgnn.json``; ``check_published``: verify
    the split sizes (7,200 / 2,400 / 2,400) and min / max against the split file (turn off only
    for other data, e.g. a small fabricated set).
    """
    from itnet_ts.datasets.physionet import ENV_VAR, load_physionet2012
    from itnet_ts.datasets.protocol import SPLIT_FILE, physionet_protocol

    if data_dir is None and os.environ.get(ENV_VAR):
        data_dir = os.environ[ENV_VAR]
    frame = load_physionet2012(data_dir, descriptor_missing="protocol", cache=cache)
    if split_json is None:
        split_json = Path(data_dir).expanduser() / SPLIT_FILE  # type: ignore[arg-type]
    proto = physionet_protocol(frame, split_json, check_published=check_published)
    cutoff, unit = proto.history_cutoff, 1.0 / proto.time_max  # unit: one hour
    splits = {
        s: build_split(s, proto.split(s).history, proto.split(s).targets, proto.variables, cutoff)
        for s in SPLITS
    }
    return BenchData(
        name="physionet",
        variables=proto.variables,
        **splits,
        unit=unit,
        time_scale=unit,
        options={"split": Path(split_json).name, "check_published": bool(check_published)},
    )


def load_synthetic(
    *,
    n_train: int = 64,
    n_val: int | None = None,
    n_test: int = 32,
    family: str = "mixed",
    length: float = 100.0,
    horizon: float = 10.0,
    n_channels: int = 3,
    seed: int = 0,
) -> BenchData:
    """Held-out synthetic series (``make_irregular``): train, val and test are different
    series (seeds ``seed``, ``seed + 2000``, ``seed + 1000``); each is cut at
    ``t_end - horizon`` and its later observations are the targets. Series without a history
    or a target are dropped. ``n_val`` defaults to ``n_test``."""
    from itnet_ts.datasets import make_irregular, train_test_cut

    n_val = n_test if n_val is None else n_val
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n < 1:
            raise ITNetInputError(f"{name} must be at least 1, got {n}")
    if not 0 < horizon < length:
        raise ITNetInputError(f"horizon must be in (0, length={length:g}), got {horizon:g}")
    kw = dict(family=family, n_channels=n_channels, length=length, shape="tidy")
    draws = {
        "train": (n_train, seed, ""),
        "val": (n_val, seed + 2000, "val-"),
        "test": (n_test, seed + 1000, "test-"),
    }
    variables = tuple(f"ch{c}" for c in range(n_channels))
    splits = {}
    for s, (n, sd, prefix) in draws.items():
        frame = make_irregular(n_series=n, seed=sd, **kw).select(
            "unique_id", "ds", "variable", "value"
        )
        frame = frame.with_columns((prefix + pl.col("unique_id")).alias("unique_id"))
        t_end = frame.group_by("unique_id").agg(_cut=pl.col("ds").max() - horizon)
        history, targets = train_test_cut(frame, horizon)
        keep = (
            history.select("unique_id")
            .unique()
            .join(targets.select("unique_id").unique(), on="unique_id", how="semi")
        )
        if keep.is_empty():
            raise ITNetInputError(
                f"no {s} series has observations both before and after its cutoff; "
                "use a longer length or a shorter horizon"
            )
        order = {v: i for i, v in enumerate(variables)}

        def tidy(f: pl.DataFrame, keep=keep, order=order) -> pl.DataFrame:
            f = f.join(keep, on="unique_id", how="semi")
            rank = pl.col("variable").replace_strict(order, return_dtype=pl.Int64)
            return f.sort("unique_id", "ds", rank).select("unique_id", "ds", "variable", "value")

        cut = dict(zip(t_end["unique_id"].to_list(), t_end["_cut"].to_list(), strict=True))
        splits[s] = build_split(s, tidy(history), tidy(targets), variables, cut)
    options = dict(
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        family=family,
        length=float(length),
        horizon=float(horizon),
        n_channels=n_channels,
        seed=seed,
    )
    return BenchData(
        name="synthetic",
        variables=variables,
        **splits,
        unit=1.0,
        time_scale=1.0 / length,
        options=options,
    )


#: Dataset name -> loader (keyword options only).
DATASETS: dict[str, Callable[..., BenchData]] = {
    "physionet": load_physionet,
    "synthetic": load_synthetic,
}
_ALIASES = {"physionet2012": "physionet"}


def dataset_name(name: str) -> str:
    """The canonical dataset name; an unknown one raises naming the supported ones."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in DATASETS:
        raise ITNetInputError(
            f"unknown benchmark dataset {name!r}; supported: {', '.join(DATASETS)} "
            "(the other loaders of `itnet-ts datasets list` are not wired into the benchmark yet)"
        )
    return key


def data_identity(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What defines the data of ``load_dataset(name, **options)`` -- the options with their
    defaults filled in, less where the files are (``data_dir``, ``cache``; a split file by its
    name) -- for comparing a resumed run's settings."""
    import inspect

    key = dataset_name(name)
    sig = inspect.signature(DATASETS[key])
    try:
        bound = sig.bind(**options)
    except TypeError as err:
        raise ITNetInputError(f"dataset {key!r}: {err}") from err
    bound.apply_defaults()
    out = {k: v for k, v in bound.arguments.items() if k not in ("data_dir", "cache")}
    if key == "physionet":
        from itnet_ts.datasets.protocol import SPLIT_FILE

        split = out.pop("split_json", None)
        out["split"] = Path(split).name if split is not None else SPLIT_FILE
    elif key == "synthetic" and out.get("n_val") is None:
        out["n_val"] = out["n_test"]
    return out


def load_dataset(name: str, **options: Any) -> BenchData:
    """``DATASETS[name](**options)``; an unknown name raises naming the supported ones."""
    return DATASETS[dataset_name(name)](**options)

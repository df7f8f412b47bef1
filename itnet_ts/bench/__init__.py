"""The benchmark harness behind ``itnet-ts bench`` and the ``benchmarks/`` runners.

- :mod:`~itnet_ts.bench.data` -- the registry of datasets, as one window per series:
  :func:`load_dataset`, :class:`BenchData` (``data_splits``: the splits as model input;
  ``data_synthetic``: held-out synthetic series; ``data_clinical``: the PhysioNet 2012
  protocol, pbcseq, nafld);
- :mod:`~itnet_ts.bench.grud` -- the GRU-D baseline network;
- :mod:`~itnet_ts.bench.baselines` -- the persistence / history-mean forecasts;
- :mod:`~itnet_ts.bench.runs` -- one (model, seed) run: train with early stopping on the
  validation protocol MSE, score the test split, time it, measure its peak memory (the
  registry of models; ``runs_itnet``: the estimator, ``runs_grud``: GRU-D);
- :mod:`~itnet_ts.bench.runner` -- :func:`run_benchmark`, the resumable loop over
  (dataset, model, seed) writing one JSON per run, ``results.json`` and ``results.md``;
- :mod:`~itnet_ts.bench.report` -- mean ± std over seeds and the markdown tables.

Dependencies point one way: this package uses ``data``, ``datasets``, ``model``,
``estimators`` and ``ops``; only the CLI (and the benchmark scripts) import it.
"""

from .data import DATASETS, BenchData, BenchSplit, load_dataset
from .runner import run_benchmark
from .runs import MODELS, run_model

__all__ = [
    "DATASETS",
    "MODELS",
    "BenchData",
    "BenchSplit",
    "load_dataset",
    "run_benchmark",
    "run_model",
]

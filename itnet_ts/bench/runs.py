"""One benchmark run: a model trained (or not) on a :class:`~itnet_ts.bench.data.BenchData`
with one seed, scored on validation and test; the registry of the models (:data:`MODELS`).

``itnet`` is the public estimator (``ITNetForecaster.fit`` / ``predict``, see
:func:`~itnet_ts.bench.runs_itnet.run_itnet`): a benchmark number is what a user of the
estimator gets. ``grud`` (a baseline model, :mod:`~itnet_ts.bench.runs_grud`) trains through
the same engine, :func:`itnet_ts.estimators._training.fit_model`, on length-bucketed shuffled
batches with early stopping (patience) on the validation split's protocol MSE. ``persistence``
and ``history_mean`` are computed, not trained (:func:`run_baseline`). The test split is
predicted once and scored with ``protocol_metrics``.

Every run returns a JSON-ready record: ``val_mse, val_mae, test_mse, test_mae``,
``s_per_epoch`` (median training seconds of an epoch), ``eval_s`` (median validation pass),
``infer_s`` (the test prediction), ``fit_s``, ``params``, ``backend``, ``device``, peak memory
(:mod:`itnet_ts.bench._memory`), the training history, and the model's settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itnet_ts.errors import ITNetInputError

from ._hyperparams import check_hyperparams
from ._record import OnVal, host
from .baselines import BASELINES, baseline_predict
from .data import BenchData
from .runs_grud import GRUD_DEFAULTS, run_grud
from .runs_itnet import _itnet_keys, run_itnet

# benchmarks/ scripts import these from here
from .runs_itnet import _full_frame, _max_lead  # noqa: F401  isort: skip

__all__ = [
    "GRUD_DEFAULTS",
    "MODELS",
    "check_params",
    "model_name",
    "run_baseline",
    "run_grud",
    "run_itnet",
    "run_model",
]


def run_baseline(
    method: str,
    data: BenchData,
    seed: int,
    *,
    variant: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """``persistence`` or ``history_mean`` (:func:`~itnet_ts.bench.baselines.baseline_predict`);
    deterministic: the seed is recorded, not used."""
    from itnet_ts.datasets.protocol import protocol_metrics

    val = protocol_metrics(baseline_predict(data, "val", method), data.val.targets)
    t0 = time.perf_counter()
    pred = baseline_predict(data, "test", method)
    infer_s = time.perf_counter() - t0
    test = protocol_metrics(pred, data.test.targets)
    return {
        "variant": variant or method,
        "seed": seed,
        "val_mse": val["mse"],
        "val_mae": val["mae"],
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "s_per_epoch": None,
        "eval_s": None,
        "infer_s": infer_s,
        "fit_s": 0.0,
        "params": 0,
        "backend": "polars",
        **host(),
    }


# ---------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class ModelSpec:
    name: str
    run: Callable[..., dict[str, Any]]
    defaults: Callable[[], dict[str, Any]]  # the hyperparameters -p may set, with defaults
    trained: bool


MODELS: dict[str, ModelSpec] = {
    "itnet": ModelSpec("itnet", run_itnet, _itnet_keys, True),
    "grud": ModelSpec("grud", run_grud, lambda: dict(GRUD_DEFAULTS), True),
    **{
        b: ModelSpec(
            b, lambda data, seed, _b=b, **kw: run_baseline(_b, data, seed, **kw), dict, False
        )
        for b in BASELINES
    },
}
_ALIASES = {"gru-d": "grud", "gru_d": "grud", "history-mean": "history_mean"}


def model_name(name: str) -> str:
    """The canonical model name; an unknown one raises naming the supported ones."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        raise ITNetInputError(f"unknown benchmark model {name!r}; supported: {', '.join(MODELS)}")
    return key


def check_params(model: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``model``'s hyperparameters (names and types); numbers are
    converted to the default's type. Raises ``ITNetInputError`` naming the known ones."""
    return check_hyperparams(model, params, MODELS[model].defaults())


def run_model(
    model: str,
    data: BenchData,
    seed: int,
    *,
    epochs: int,
    patience: int = 10,
    device: str = "cpu",
    params: dict[str, Any] | None = None,
    variant: str | None = None,
    progress: bool = False,
    on_val: OnVal | None = None,
) -> dict[str, Any]:
    """One run of ``model`` (a name of :data:`MODELS`) with its peak memory measured; the
    record also names the dataset, model and device."""
    import torch

    from ._memory import PeakMemory

    spec = MODELS[model_name(model)]
    dev = torch.device(device) if spec.trained else torch.device("cpu")
    with PeakMemory(dev) as mem:
        rec = spec.run(
            data,
            seed,
            epochs=epochs,
            patience=patience,
            device=str(dev),
            params=params,
            variant=variant or spec.name,
            progress=progress,
            on_val=on_val,
        )
    return {**rec, **mem.record(), "dataset": data.name, "model": spec.name, "device": str(dev)}

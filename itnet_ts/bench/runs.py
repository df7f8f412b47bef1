"""One benchmark run: a model trained (or not) on a :class:`~itnet_ts.bench.data.BenchData`
with one seed, scored on validation and test.

``itnet`` is the public estimator (``ITNetForecaster.fit`` / ``predict``, see
:func:`run_itnet`): a benchmark number is what a user of the estimator gets. ``grud`` (a
baseline model) trains through the same engine, :func:`itnet_ts.estimators._training.fit_model`,
on length-bucketed shuffled batches with early stopping (patience) on the validation split's
protocol MSE. ``persistence`` and ``history_mean`` are computed, not trained. The test split is
predicted once and scored with ``protocol_metrics``.

Every run returns a JSON-ready record: ``val_mse, val_mae, test_mse, test_mae``,
``s_per_epoch`` (median training seconds of an epoch), ``eval_s`` (median validation pass),
``infer_s`` (the test prediction), ``fit_s``, ``params``, ``backend``, ``device``, peak memory
(:mod:`itnet_ts.bench._memory`), the training history, and the model's settings.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

from .baselines import BASELINES, baseline_predict, channel_history_mean
from .data import BenchData, bucketed_batches, predict_protocol

__all__ = [
    "GRUD_DEFAULTS",
    "MODELS",
    "check_params",
    "model_name",
    "run_model",
]

#: GRU-D defaults: the published baselines' training (Adam lr 1e-3 constant, batch 32, MSE in
#: the protocol's units, no clipping) and the architecture of ``itnet_ts.bench.grud``.
GRUD_DEFAULTS: dict[str, Any] = dict(
    hidden=64,
    te_dim=10,
    chan_dim=16,
    lr=1e-3,
    batch_size=32,
    schedule="constant",
    grad_clip=0.0,  # 0: no clipping
    scaling="none",  # network units: "none" (the dataset's own) or "standard"
)

OnVal = Callable[[str, list[dict]], None]


#: ITNetForecaster parameters a benchmark run does not take from ``-p`` (set by the harness).
_HARNESS_PARAMS = {
    "max_epochs", "patience", "device", "strategy", "random_state", "verbose", "quantiles",
    "level", "futr_exog_list", "duplicates",
}  # fmt: skip


def _itnet_keys() -> dict[str, Any]:
    """The hyperparameters ``-p`` may set for ``itnet``: ``ITNetForecaster``'s, plus
    ``windows`` (see :func:`run_itnet`)."""
    from itnet_ts.estimators.forecaster import ITNetForecaster

    est = ITNetForecaster().get_params(deep=False)
    keys = {k: v for k, v in est.items() if k not in _HARNESS_PARAMS}
    return {**keys, "windows": "auto"}


def _host() -> dict[str, Any]:
    import torch

    from itnet_ts import __version__

    return {
        "threads": torch.get_num_threads(),
        "host": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "itnet_ts": __version__,
    }


# ---------------------------------------------------------------------------------------------
# trained models


def _train_and_score(
    model,
    data: BenchData,
    scaler,
    rng,
    *,
    batch_size: int,
    epochs: int,
    patience: int,
    device,
    fit_kwargs: dict[str, Any],
    progress: bool,
    on_val: OnVal | None,
    score_init: bool,
) -> dict[str, Any]:
    """fit_model with early stopping on the validation protocol MSE; the test split scored
    with the best-validation weights."""
    from itnet_ts.datasets.protocol import protocol_metrics
    from itnet_ts.estimators._training import fit_model

    unit = data.unit
    val_log: list[dict] = []
    state = {"trained": not score_init}

    def val_score(m) -> float:
        t0 = time.perf_counter()
        pred = predict_protocol(m, data.val, scaler, unit, device)
        sc = protocol_metrics(pred, data.val.targets)
        val_log.append({**sc, "eval_seconds": time.perf_counter() - t0})
        if on_val is not None:
            on_val(f"{len(val_log) - 1:5d}" if state["trained"] else " init", val_log)
        return sc["mse"]

    init = None
    if score_init:  # the untrained model (ITNet's zero-initialised head: persistence)
        model.eval()
        val_score(model)
        init = val_log.pop()
        state["trained"] = True
    t_fit = time.perf_counter()
    result = fit_model(
        model,
        lambda epoch: bucketed_batches(data.train, scaler, unit, batch_size, rng),
        None,
        max_epochs=epochs,
        learning_rate=fit_kwargs.pop("lr"),
        patience=patience,
        device=device,
        progress=progress,
        val_score=val_score,
        **fit_kwargs,
    )
    t_fit = time.perf_counter() - t_fit
    val = val_log[result.best_epoch]
    t0 = time.perf_counter()
    test_pred = predict_protocol(model, data.test, scaler, unit, device)
    infer_s = time.perf_counter() - t0
    test = protocol_metrics(test_pred, data.test.targets)
    secs = [h["seconds"] for h in result.history]
    history = [
        {**h, "val_mse": v["mse"], "val_mae": v["mae"]}
        for h, v in zip(result.history, val_log, strict=True)
    ]
    out: dict[str, Any] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "max_epochs": epochs,
        "patience": patience,
    }
    if init is not None:
        out.update(init_val_mse=init["mse"], init_val_mae=init["mae"])
    out.update(
        val_mse=val["mse"],
        val_mae=val["mae"],
        test_mse=test["mse"],
        test_mae=test["mae"],
        s_per_epoch=float(np.median(secs)),
        eval_s=float(np.median([v["eval_seconds"] for v in val_log])),
        infer_s=infer_s,
        fit_s=t_fit,
        params=sum(p.numel() for p in model.parameters()),
        history=history,
    )
    return out


def run_itnet(
    data: BenchData,
    seed: int,
    *,
    epochs: int,
    patience: int = 10,
    device: str = "cpu",
    params: dict[str, Any] | None = None,
    variant: str = "itnet",
    progress: bool = False,
    on_val: OnVal | None = None,
) -> dict[str, Any]:
    """ITNet through the public estimator, as a user would run it.

    ``ITNetForecaster(**params)`` is fit on the train split's series (history and targets),
    then ``predict(df=<test histories>, times=<test target rows>)`` is scored with the
    protocol metric. ``params``: estimator hyperparameters, and ``windows``:

    - ``"protocol"``: train at each series' protocol cutoff (``fit(cutoffs=...)``), validate
      on the val split at its cutoffs (``val_df=, val_cutoffs=``), model time unit
      ``data.unit`` (how the PhysioNet table is made);
    - ``"user"``: ``fit`` on the train and val series with the estimator's own windows and
      validation, ``horizon`` = the longest lead of the train split's targets;
    - ``"auto"`` (default): ``"protocol"`` for physionet, ``"user"`` otherwise.
    """
    import warnings

    from itnet_ts.datasets.protocol import protocol_metrics
    from itnet_ts.errors import BaselineFallbackWarning
    from itnet_ts.estimators.forecaster import ITNetForecaster
    from itnet_ts.ops import resolve_backend

    params = check_params("itnet", params or {})
    windows = params.pop("windows", "auto")
    if windows == "auto":
        windows = "protocol" if data.name == "physionet" else "user"
    if windows not in ("protocol", "user"):
        raise ITNetInputError(
            f"itnet windows must be 'auto', 'protocol' or 'user', got {windows!r}"
        )
    est = ITNetForecaster(
        **params,
        max_epochs=epochs,
        patience=patience,
        device=device,
        random_state=seed,
        verbose=progress,
    )
    tidy = dict(id_col="unique_id", time_col="ds", variable_col="variable", value_col="value")
    full = {s: _full_frame(data.split(s)) for s in ("train", "val")}
    t_fit = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if windows == "protocol":
            if est.time_unit is None:
                est.set_params(time_unit=float(data.unit))
            est.fit(
                full["train"],
                **tidy,
                cutoffs=_cutoff_frame(data.train),
                val_df=full["val"],
                val_cutoffs=_cutoff_frame(data.val),
            )
        else:
            if est.horizon is None:
                est.set_params(horizon=_max_lead(data.train))
            est.fit(pl.concat([full["train"], full["val"]]), **tidy)
    t_fit = time.perf_counter() - t_fit
    fallback_warnings = [
        str(w.message) for w in caught if issubclass(w.category, BaselineFallbackWarning)
    ]

    def score(split) -> tuple[dict[str, float], float]:
        t0 = time.perf_counter()
        pred = est.predict(
            df=split.history, times=split.targets.select("unique_id", "ds", "variable")
        )
        secs = time.perf_counter() - t0
        key = ["unique_id", "ds", "variable"]
        joined = split.targets.with_row_index("_row").join(pred, on=key, how="left")
        y_hat = joined.sort("_row")["y_hat"].to_numpy()
        return protocol_metrics(y_hat, split.targets), secs

    val, eval_s = score(data.val)
    test, infer_s = score(data.test)
    # the trained network's own test score, without the baseline check's per-channel fallback
    # (what another choice in the check would have given is then known without a second fit)
    fb = est.model_.fallback
    test_network = test
    if bool((fb != 0).any()):
        kept = fb.clone()
        fb.zero_()
        test_network, _ = score(data.test)
        fb.copy_(kept)
    result = est.train_result_
    secs = [h["seconds"] for h in result.history]
    return {
        "variant": variant,
        "seed": seed,
        "windows": windows,
        "estimator": est.get_params(deep=False),
        "cfg": est.config_.to_dict(),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "max_epochs": epochs,
        "patience": patience,
        "val_mse": val["mse"],
        "val_mae": val["mae"],
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "test_mse_network": test_network["mse"],
        "s_per_epoch": float(np.median(secs)) if secs else None,
        "eval_s": eval_s,
        "infer_s": infer_s,
        "fit_s": t_fit,
        "params": sum(p.numel() for p in est.model_.parameters()),
        "validation": est.validation_,
        "fallback_warnings": fallback_warnings,
        "history": result.history,
        "backend": resolve_backend(next(est.model_.parameters()).device),
        **_host(),
    }


def _full_frame(split) -> pl.DataFrame:
    """A split's series whole: history and target rows (tidy)."""
    cols = ["unique_id", "ds", "variable", "value"]
    return pl.concat([split.history.select(cols), split.targets.select(cols)]).sort(
        "unique_id", "ds", "variable"
    )


def _cutoff_frame(split) -> pl.DataFrame:
    """``unique_id, ds``: each window's cutoff, just before its first target time (the
    protocols cut at "history before t, targets from t on"; fit's cutoff keeps points at or
    before it in the history)."""
    w = split.windows
    ids = split.ragged.ids[w.series]
    first = np.array([w.q_time[a:b].min() if b > a else np.inf
                      for a, b in zip(w.q_indptr[:-1], w.q_indptr[1:], strict=True)])  # fmt: skip
    last_hist = np.array([split.ragged.times[e - 1] for e in w.hist_end])
    cut = np.minimum(np.asarray(w.cutoff, np.float64), np.nextafter(first, -np.inf))
    cut = np.maximum(cut, last_hist)
    return pl.DataFrame({"unique_id": list(ids), "ds": cut})


def _max_lead(split) -> float:
    """The longest time from a window's cutoff to one of its targets (ds units)."""
    w = split.windows
    series_cut = np.repeat(np.asarray(w.cutoff, np.float64), np.diff(w.q_indptr))
    return float((w.q_time - series_cut).max())


def run_grud(
    data: BenchData,
    seed: int,
    *,
    epochs: int,
    patience: int = 10,
    device: str = "cpu",
    params: dict[str, Any] | None = None,
    variant: str = "grud",
    progress: bool = False,
    on_val: OnVal | None = None,
) -> dict[str, Any]:
    """GRU-D (:class:`itnet_ts.bench.grud.GRUDForecaster`); ``params`` override
    :data:`GRUD_DEFAULTS`."""
    import torch

    from itnet_ts.data._windows import ValueScaler

    from .grud import GRUDForecaster

    hp = {**GRUD_DEFAULTS, **check_params("grud", params or {})}
    if hp["scaling"] not in ("none", "standard"):
        raise ITNetInputError(f"grud scaling must be 'none' or 'standard', got {hp['scaling']!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    C = len(data.variables)
    if hp["scaling"] == "none":  # the dataset's units (PhysioNet: min-max, as published)
        scaler = ValueScaler(np.zeros(C), np.ones(C))
    else:
        scaler = ValueScaler.fit(data.train.ragged, "standard")
    x_mean = channel_history_mean(data.train, scaler)
    model = GRUDForecaster(
        C,
        x_mean,
        hidden=int(hp["hidden"]),
        te_dim=int(hp["te_dim"]),
        chan_dim=int(hp["chan_dim"]),
        time_scale=data.time_scale,
    ).to(dev)
    scores = _train_and_score(
        model,
        data,
        scaler,
        rng,
        batch_size=int(hp["batch_size"]),
        epochs=epochs,
        patience=patience,
        device=dev,
        fit_kwargs=dict(
            lr=hp["lr"],
            grad_clip=hp["grad_clip"] if hp["grad_clip"] > 0 else math.inf,
            loss="mse",
            schedule=hp["schedule"],
        ),
        progress=progress,
        on_val=on_val,
        score_init=False,
    )
    return {
        "variant": variant,
        "model": "grud",
        "seed": seed,
        "hparams": {**hp, "loss": "mse"},
        **scores,
        "backend": "torch",
        **_host(),
    }


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
        **_host(),
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
    """``params`` checked against the model's hyperparameters (names and types); numbers are
    converted to the default's type. Raises ``ITNetInputError`` naming the known ones."""
    known = MODELS[model].defaults()
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in known:
            listed = ", ".join(sorted(known)) or "none (it has no hyperparameters)"
            raise ITNetInputError(f"{key!r} is not a hyperparameter of {model}; known: {listed}")
        out[key] = _coerce(model, key, value, known[key])
    return out


def _coerce(model: str, key: str, value: Any, default: Any) -> Any:
    bad = ITNetInputError(
        f"{model} hyperparameter {key}={value!r}: expected a {type(default).__name__} "
        f"like the default {default!r}"
    )
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if float(value) != int(value):
            raise bad
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise bad
    return value


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

"""One benchmark run: a model trained (or not) on a :class:`~itnet_ts.bench.data.BenchData`
with one seed, scored on validation and test.

Trained models (``itnet``, ``grud``) share the harness: length-bucketed shuffled batches,
:func:`itnet_ts.estimators._training.fit_model` with early stopping (patience) on the
validation split's protocol MSE (per-variable averaged), the best-validation epoch kept, the
test split predicted once and scored with ``protocol_metrics``. ``persistence`` and
``history_mean`` are computed, not trained.

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
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from itnet_ts.errors import ITNetInputError

from .baselines import BASELINES, baseline_predict, channel_history_mean
from .data import BenchData, bucketed_batches, predict_protocol

__all__ = [
    "GRUD_DEFAULTS",
    "MODELS",
    "TRAIN_DEFAULTS",
    "check_params",
    "model_name",
    "run_model",
]

#: ITNet training defaults; any of them (and any ITNetConfig field) can be overridden.
TRAIN_DEFAULTS: dict[str, Any] = dict(
    lr=1e-3,
    batch_size=32,
    weight_decay=0.0,
    loss="mse",
    # per-query loss weight: (scale_c^2 if standardised) * n_c^-alpha, n_c = train target count
    # of channel c; alpha = 1 reproduces the per-variable averaged metric, 0 the pooled one
    cw_alpha=0.0,
    scaling="standard",  # network units: "standard" (z-score of the train split) or "shift"
    schedule="cosine",
    grad_clip=1.0,
)
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
#: ITNetConfig fields set from the data, not by the user.
_DATA_FIELDS = {"n_channels", "n_outputs", "n_static", "n_futr"}

OnVal = Callable[[str, list[dict]], None]


def _itnet_keys() -> dict[str, Any]:
    from itnet_ts.model.config import ITNetConfig

    cfg = {f.name: f.default for f in fields(ITNetConfig) if f.name not in _DATA_FIELDS}
    return {**cfg, **TRAIN_DEFAULTS}


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
    """ITNet (``itnet_ts.model``) on ``data``; ``params``: ITNetConfig fields and
    :data:`TRAIN_DEFAULTS` overrides. The untrained model is scored on validation first
    (``init_val_mse``: persistence up to the fallback)."""
    import torch

    from itnet_ts.data._windows import ChannelScaler
    from itnet_ts.model.config import ITNetConfig
    from itnet_ts.model.itnet import ITNet
    from itnet_ts.ops import resolve_backend

    params = check_params("itnet", params or {})
    tr = {k: params.get(k, v) for k, v in TRAIN_DEFAULTS.items()}
    cfg_over = {k: v for k, v in params.items() if k not in TRAIN_DEFAULTS}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    C = len(data.variables)
    if tr["scaling"] == "standard":
        scaler = ChannelScaler.fit(data.train.ragged, "standard")
    elif tr["scaling"] == "shift":  # the dataset's units, centred on the train mean
        st = ChannelScaler.fit(data.train.ragged, "standard")
        scaler = ChannelScaler(st.loc, np.ones(C))
    else:
        raise ITNetInputError(f"itnet scaling must be 'standard' or 'shift', got {tr['scaling']!r}")
    # channel weights: back to the dataset's units (scale^2), then n_c^-alpha; mean 1 per query
    n_c = np.bincount(data.train.windows.q_chan, minlength=C).astype(np.float64)
    cw = scaler.scale**2 * np.where(n_c > 0, np.maximum(n_c, 1.0) ** -tr["cw_alpha"], 0.0)
    cw = cw * n_c.sum() / max((cw * n_c).sum(), np.finfo(np.float64).tiny)
    cfg = ITNetConfig(n_channels=C, **cfg_over)
    model = ITNet(cfg).to(dev)
    scores = _train_and_score(
        model,
        data,
        scaler,
        rng,
        batch_size=int(tr["batch_size"]),
        epochs=epochs,
        patience=patience,
        device=dev,
        fit_kwargs=dict(
            lr=tr["lr"],
            grad_clip=tr["grad_clip"],
            weight_decay=tr["weight_decay"],
            loss=tr["loss"],
            channel_weights=torch.tensor(cw, dtype=torch.float32),
            schedule=tr["schedule"],
        ),
        progress=progress,
        on_val=on_val,
        score_init=True,
    )
    return {
        "variant": variant,
        "seed": seed,
        "cfg": cfg.to_dict(),
        "train": tr,
        **scores,
        "backend": resolve_backend(dev),
        **_host(),
    }


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

    from itnet_ts.data._windows import ChannelScaler

    from .grud import GRUDForecaster

    hp = {**GRUD_DEFAULTS, **check_params("grud", params or {})}
    if hp["scaling"] not in ("none", "standard"):
        raise ITNetInputError(f"grud scaling must be 'none' or 'standard', got {hp['scaling']!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    C = len(data.variables)
    if hp["scaling"] == "none":  # the dataset's units (PhysioNet: min-max, as published)
        scaler = ChannelScaler(np.zeros(C), np.ones(C))
    else:
        scaler = ChannelScaler.fit(data.train.ragged, "standard")
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

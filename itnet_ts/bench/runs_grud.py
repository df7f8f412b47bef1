"""The ``grud`` benchmark run: GRU-D (:mod:`itnet_ts.bench.grud`) trained through the
estimators' engine, :func:`itnet_ts.estimators._training.fit_model`, on length-bucketed
shuffled batches with early stopping (patience) on the validation split's protocol MSE; the
test split scored with the best-validation weights (:func:`run_grud`)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from itnet_ts.errors import ITNetInputError

from ._hyperparams import check_hyperparams
from ._record import OnVal, host
from .baselines import channel_history_mean
from .data import BenchData, bucketed_batches, predict_protocol

__all__ = ["GRUD_DEFAULTS", "run_grud"]

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

    hp = {**GRUD_DEFAULTS, **check_hyperparams("grud", params or {}, dict(GRUD_DEFAULTS))}
    if hp["scaling"] not in ("none", "standard"):
        raise ITNetInputError(f"grud scaling must be 'none' or 'standard', got {hp['scaling']!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    scaler = _network_scaler(data, hp["scaling"])
    model = _grud_model(data, scaler, hp).to(dev)
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
        **host(),
    }


def _network_scaler(data: BenchData, scaling: str):
    """The network's value units: the dataset's own (``"none"``; PhysioNet: min-max, as
    published) or standardised on the train split (``"standard"``)."""
    from itnet_ts.data._windows import ValueScaler

    if scaling == "none":
        C = len(data.variables)
        return ValueScaler(np.zeros(C), np.ones(C))
    return ValueScaler.fit(data.train.ragged, "standard")


def _grud_model(data: BenchData, scaler, hp: dict[str, Any]):
    """The GRU-D network of the hyperparameters ``hp``, imputing towards the train split's
    channel means."""
    from .grud import GRUDForecaster

    return GRUDForecaster(
        len(data.variables),
        channel_history_mean(data.train, scaler),
        hidden=int(hp["hidden"]),
        te_dim=int(hp["te_dim"]),
        chan_dim=int(hp["chan_dim"]),
        time_scale=data.time_scale,
    )


class _ValidationLog:
    """``fit_model``'s ``val_score``: the validation split's protocol MSE; every pass's scores
    and seconds logged in ``log`` and reported to ``on_val`` (labelled `` init`` until
    ``trained``)."""

    def __init__(self, data: BenchData, scaler, device, on_val: OnVal | None, trained: bool):
        self.data, self.scaler, self.device, self.on_val = data, scaler, device, on_val
        self.trained = trained
        self.log: list[dict] = []

    def __call__(self, model) -> float:
        from itnet_ts.datasets.protocol import protocol_metrics

        t0 = time.perf_counter()
        pred = predict_protocol(model, self.data.val, self.scaler, self.data.unit, self.device)
        sc = protocol_metrics(pred, self.data.val.targets)
        self.log.append({**sc, "eval_seconds": time.perf_counter() - t0})
        if self.on_val is not None:
            self.on_val(f"{len(self.log) - 1:5d}" if self.trained else " init", self.log)
        return sc["mse"]


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

    val_score = _ValidationLog(data, scaler, device, on_val, trained=not score_init)
    init = None
    if score_init:  # the untrained model (ITNet's zero-initialised head: persistence)
        model.eval()
        val_score(model)
        init = val_score.log.pop()
        val_score.trained = True
    t_fit = time.perf_counter()
    result = fit_model(
        model,
        lambda epoch: bucketed_batches(data.train, scaler, data.unit, batch_size, rng),
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
    t0 = time.perf_counter()
    test_pred = predict_protocol(model, data.test, scaler, data.unit, device)
    infer_s = time.perf_counter() - t0
    test = protocol_metrics(test_pred, data.test.targets)
    out = _training_record(result, val_score.log, init, epochs, patience)
    out.update(
        test_mse=test["mse"],
        test_mae=test["mae"],
        s_per_epoch=float(np.median([h["seconds"] for h in result.history])),
        eval_s=float(np.median([v["eval_seconds"] for v in val_score.log])),
        infer_s=infer_s,
        fit_s=t_fit,
        params=sum(p.numel() for p in model.parameters()),
        history=[
            {**h, "val_mse": v["mse"], "val_mae": v["mae"]}
            for h, v in zip(result.history, val_score.log, strict=True)
        ],
    )
    return out


def _training_record(
    result, val_log: list[dict], init: dict | None, epochs: int, patience: int
) -> dict[str, Any]:
    """How training went: the epochs, the untrained model's validation scores (if scored)
    and the best epoch's."""
    val = val_log[result.best_epoch]
    out: dict[str, Any] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "max_epochs": epochs,
        "patience": patience,
    }
    if init is not None:
        out.update(init_val_mse=init["mse"], init_val_mae=init["mae"])
    out.update(val_mse=val["mse"], val_mae=val["mae"])
    return out

"""Pretrained forecasters (issue 13): ``ITNetForecaster.pretrained()``, zero-shot ``predict`` and
``fit(df, finetune="head" | "full")``.

A pretrained forecaster holds the channel-agnostic network of a shipped checkpoint
(:mod:`itnet_ts.model.universal`) and no data. ``predict(df=...)`` reads ``df`` the way ``fit``
reads a training frame (its channels, a per-channel scaler fitted on it, its time unit) and
forecasts from it with the network as it is: a zero-shot forecast. ``fit`` fine-tunes the
checkpoint's weights with the one training engine (``_engine.train_network``): only the head
and the channel adapter (``finetune="head"``), or everything (``"full"``).
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

from itnet_ts.errors import ITNetInputError
from itnet_ts.estimators._engine import seeded, train_network, training_strategy
from itnet_ts.estimators._prepare import (
    _read_training_frame,
    _training_horizon,
    check_value_range,
    prepare_training,
)
from itnet_ts.estimators._quantiles import plan_outputs
from itnet_ts.estimators._state import FittedState
from itnet_ts.estimators._training import TrainResult, check_converged
from itnet_ts.model.universal import UniversalITNet, count_parameters
from itnet_ts.model.universal_io import load_universal

__all__ = ["FINETUNE", "finetune_fit", "is_zero_shot", "load_pretrained", "pretrained", "zero_shot"]

FINETUNE = ("head", "full")
_FRAME = dict(id_col="unique_id", time_col="ds", target_col="y", variable_col=None,
              value_col=None, shape="auto")  # fmt: skip


def pretrained(cls, checkpoint: str | None, params: dict):
    """``cls.pretrained(checkpoint, **params)``: a forecaster holding checkpoint's network."""
    from itnet_ts.model.universal_io import DEFAULT_CHECKPOINT

    est = cls(checkpoint=checkpoint or DEFAULT_CHECKPOINT, **params)
    load_pretrained(est)
    return est


def load_pretrained(est) -> UniversalITNet:
    """Set ``est.model_`` (the checkpoint's network) and ``est.checkpoint_meta_``."""
    model, meta = load_universal(est.checkpoint)
    est.model_ = model
    est.checkpoint_meta_ = {k: v for k, v in meta.items() if k != "recipe"}
    return model


def is_zero_shot(est) -> bool:
    """A pretrained forecaster not fitted on any frame: it forecasts whatever it is given."""
    return est.checkpoint is not None and getattr(est, "spec_", None) is None


def _levels_model(model: UniversalITNet, plan) -> UniversalITNet:
    """A copy of ``model`` giving the outputs of the quantile ``plan``."""
    model = copy.deepcopy(model)
    try:
        return model.select_levels(plan.quantiles)
    except ValueError as exc:
        raise ITNetInputError(
            f"{exc}; pass quantiles= among those (level=50, 80 or 95), or none"
        ) from None


def zero_shot(est, df, static_df, h=None, times=None, freq=None):
    """A copy of the pretrained ``est`` bound to the frame ``df`` (channels, scaler, time unit,
    history), ready for ``predict(h, times=, freq=)``; with ``est.zero_shot_blend``, its
    network blended with the simple predictors on backtests of ``df`` at the queries' leads
    (``_zero_shot_blend``; the numbers in the copy's ``validation_["zero_shot_blend"]``)."""
    if df is None:
        raise ITNetInputError(
            "a pretrained forecaster holds no data: pass the history to forecast from, "
            "predict(df=..., h=...) or predict(df=..., times=...)"
        )
    _no_covariates(est, static_df)
    est._validate_params()
    model = est.model_ if hasattr(est, "model_") else load_pretrained(est)
    prep = SimpleNamespace(**{**est.get_params(deep=False), "futr_exog_list": None})
    spec, ragged, cov, unit = _read_training_frame(prep, df, dict(_FRAME), None)
    from itnet_ts.data._windows import ValueScaler

    scaler = ValueScaler.fit(ragged, est.scaling)
    check_value_range(ragged, scaler, "predict(df=...)", est.scaling)
    plan = plan_outputs(est.quantiles, est.level)
    bound = copy.copy(est)
    state = FittedState(
        model=_levels_model(model, plan), config=model.cfg, spec=spec, time_unit=unit,
        horizon=_training_horizon(est, ragged, spec, unit), scaler=scaler,
        n_series=ragged.n_series, train_result=TrainResult(-1, math.nan), quantile_plan=plan,
        covariates=cov, history=ragged, validation=None,
    )  # fmt: skip
    state.apply(bound)
    if est.zero_shot_blend and (h is not None or times is not None):
        state.model, summary = _blend(bound, ragged, h, times, freq)
        state.validation = {"zero_shot_blend": summary}
        state.apply(bound)
    return bound


def _blend(bound, ragged, h, times, freq):
    """(the bound network blended on backtests of ``ragged``, the blend's summary)."""
    from itnet_ts.data._queries import explicit_queries
    from itnet_ts.estimators._zero_shot_blend import calibrate_zero_shot, query_horizon

    if times is not None:
        q_series, q_time, _ = explicit_queries(ragged, times, bound.spec_, bound.channels_, True)
    else:
        q_series, q_time, _ = bound._horizon_queries(ragged, h, freq)
    horizon = query_horizon(ragged, q_series, q_time)
    network = bound.model_
    return calibrate_zero_shot(
        network, ragged, bound.scaler_, bound.time_unit_, horizon, bound.max_history,
        bound.batch_size, next(network.parameters()).device,
    )  # fmt: skip


def _no_covariates(est, static_df) -> None:
    if est.futr_exog_list or static_df is not None:
        raise ITNetInputError(
            "the pretrained network takes no covariates (futr_exog_list= / static_df=); "
            "fit ITNetForecaster() from scratch to use them"
        )


def finetune_fit(est, df, frame: dict, finetune: str | None, **split):
    """Fine-tune the checkpoint on ``df`` (``fit``'s frame and split arguments) -> ``est``."""
    finetune = "head" if finetune is None else finetune
    if finetune not in FINETUNE:
        raise ITNetInputError(f"finetune must be one of {list(FINETUNE)}, got {finetune!r}")
    if est.checkpoint is None:
        raise ITNetInputError(
            "finetune= needs a pretrained forecaster: ITNetForecaster.pretrained().fit(df, "
            "finetune=...)"
        )
    _no_covariates(est, split.get("static_df"))
    est._validate_params()
    seed = 0 if est.random_state is None else int(est.random_state)
    prep = SimpleNamespace(**{**est.get_params(deep=False), "periodic": False})
    with (
        training_strategy("single", est._device(), seed) as strategy,
        seeded(seed, strategy.device),
    ):
        data = prepare_training(prep, df, frame, rng=strategy.shared_rng, seed=seed, **split)
        base, _ = load_universal(est.checkpoint)
        model = _levels_model(base, data.plan).to(strategy.device)
        trainable = _freeze(model, finetune)
        from itnet_ts.estimators._batches import TrainingBatches

        batches = TrainingBatches(data, strategy, est.batch_size, est.max_history)
        result = train_network(model, batches, strategy, est)
    check_converged(result)
    model.requires_grad_(True)
    info = {"finetune": finetune, "n_trainable": trainable,
            "n_parameters": count_parameters(model.parameters()),
            "zero_shot_val_loss": result.start_val_loss}  # fmt: skip
    FittedState(
        model=model, config=model.cfg, spec=data.spec, time_unit=data.unit, horizon=data.horizon,
        scaler=data.scaler, n_series=data.ragged.n_series, train_result=result,
        quantile_plan=data.plan, covariates=data.covariates, history=data.ragged,
        validation=info,
    ).apply(est)  # fmt: skip
    est.finetune_ = info
    return est


def _freeze(model: UniversalITNet, finetune: str) -> int:
    """Leave trainable what ``finetune`` trains; -> their number of scalars."""
    if finetune == "full":
        model.requires_grad_(True)
        return count_parameters(model.parameters())
    model.requires_grad_(False)
    for p in model.head_parameters():
        p.requires_grad_(True)
    return count_parameters(p for p in model.parameters() if p.requires_grad)

"""What a fitted ``ITNetForecaster`` holds, in one object: set by ``fit`` and by ``load``
(``_persistence``), read by ``predict`` and ``update``. The estimator's trailing-underscore
attributes (``model_``, ``scaler_``, ...) are its fields; ``apply`` sets all of them at once,
so no fitted attribute is set in two places."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from itnet_ts.data._ingest import FrameSpec
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import ValueScaler
from itnet_ts.estimators._covariates import Covariates
from itnet_ts.estimators._quantiles import QuantilePlan
from itnet_ts.estimators._training import TrainResult
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

__all__ = ["FittedState"]


@dataclass
class FittedState:
    """The fitted model and everything ``predict`` needs besides the hyperparameters.

    ``history``: the training series (None for a model loaded from a file); ``validation``:
    the baseline check of ``fit`` (``get_fitted_summary()["validation"]``); ``distributed``:
    rank, world size and backend of a DDP fit, else None."""

    model: ITNet
    config: ITNetConfig
    spec: FrameSpec
    time_unit: float
    horizon: float
    scaler: ValueScaler
    n_series: int
    train_result: TrainResult
    quantile_plan: QuantilePlan
    covariates: Covariates
    history: RaggedSeries | None = None
    validation: dict | None = None
    distributed: dict | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return self.spec.channels

    def apply(self, est) -> None:
        """Set ``est``'s fitted attributes (``<field>_`` and ``channels_``); a stream cache of
        an earlier fit (``update``) is dropped with the model it was built for."""
        est.__dict__.pop("_stream_cache", None)
        for f in dataclasses.fields(self):
            setattr(est, f"{f.name}_", getattr(self, f.name))
        est.channels_ = self.channels

    @classmethod
    def trained(cls, model: ITNet, data, result: TrainResult, validation, distributed):
        """The state of a fit: the trained ``model`` on ``data`` (a ``_prepare.TrainingData``)."""
        return cls(
            model, data.config, data.spec, data.unit, data.horizon, data.scaler,
            data.ragged.n_series, result, data.plan, data.covariates, history=data.ragged,
            validation=validation, distributed=distributed,
        )  # fmt: skip

    @classmethod
    def of(cls, est) -> FittedState:
        """The state a fitted ``est`` holds (no covariates / quantiles where it has none)."""
        state = cls(**{f.name: getattr(est, f"{f.name}_", None) for f in dataclasses.fields(cls)})
        state.covariates = state.covariates or Covariates()
        state.quantile_plan = state.quantile_plan or QuantilePlan()
        return state

    @staticmethod
    def summary(est) -> dict:
        """``est.get_fitted_summary()``: a plain dict (a zero-shot pretrained forecaster, fitted
        on no frame, has None for what a frame gives)."""
        result = getattr(est, "train_result_", None)
        return {
            "n_series": getattr(est, "n_series_", None),
            "channels": list(getattr(est, "channels_", None) or ()),
            "time_unit": getattr(est, "time_unit_", None),
            "horizon": getattr(est, "horizon_", None),
            "best_epoch": None if result is None else result.best_epoch,
            "best_val_loss": None if result is None else result.best_val_loss,
            "n_parameters": sum(p.numel() for p in est.model_.parameters()),
            "validation": getattr(est, "validation_", None),
        }

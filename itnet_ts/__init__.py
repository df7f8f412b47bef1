"""itnet-ts: forecasting irregularly sampled time series with ITNet.

    >>> from itnet_ts import ITNetForecaster
    >>> fc = ITNetForecaster().fit(df)          # pandas or polars; long, wide or tidy
    >>> fc.predict(h="6h")                      # forecasts at future timestamps

Heavy submodules (torch, polars) load on first use, so ``import itnet_ts`` is cheap and never
imports numba or cupy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from itnet_ts.errors import (
    BaselineFallbackWarning,
    ITNetError,
    ITNetInputError,
    ITNetModelFileError,
    ITNetNotFittedError,
    TrainingDivergedError,
)

__version__ = "0.1.0"

_LAZY = {
    "ITNetForecaster": "itnet_ts.estimators.forecaster",
    "ITNetConfig": "itnet_ts.model.config",
    "ITNet": "itnet_ts.model.itnet",
    "cross_validation": "itnet_ts.estimators._cv",
    "TimeCutoffSplitter": "itnet_ts.estimators._cv",
    "TransformedTargetForecaster": "itnet_ts.estimators.transformers",
    "ChannelScaler": "itnet_ts.estimators.transformers",
    "Log1pTransformer": "itnet_ts.estimators.transformers",
    "BoxCoxTransformer": "itnet_ts.estimators.transformers",
    "TimeTransformer": "itnet_ts.estimators.transformers",
    "evaluate": "itnet_ts.metrics",
    "plot_forecast": "itnet_ts.plotting",
}

if TYPE_CHECKING:  # pragma: no cover
    from itnet_ts.estimators._cv import TimeCutoffSplitter, cross_validation
    from itnet_ts.estimators.forecaster import ITNetForecaster
    from itnet_ts.estimators.transformers import (
        BoxCoxTransformer,
        ChannelScaler,
        Log1pTransformer,
        TimeTransformer,
        TransformedTargetForecaster,
    )
    from itnet_ts.metrics import evaluate
    from itnet_ts.model.config import ITNetConfig
    from itnet_ts.model.itnet import ITNet
    from itnet_ts.plotting import plot_forecast


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'itnet_ts' has no attribute {name!r}")


__all__ = [
    "BaselineFallbackWarning",
    "BoxCoxTransformer",
    "ChannelScaler",
    "ITNet",
    "ITNetConfig",
    "ITNetError",
    "ITNetForecaster",
    "ITNetInputError",
    "ITNetModelFileError",
    "ITNetNotFittedError",
    "Log1pTransformer",
    "TimeCutoffSplitter",
    "TimeTransformer",
    "TrainingDivergedError",
    "TransformedTargetForecaster",
    "__version__",
    "cross_validation",
    "evaluate",
    "plot_forecast",
]

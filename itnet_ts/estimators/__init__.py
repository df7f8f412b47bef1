"""scikit-learn style estimators, transformers and backtesting."""

from itnet_ts.estimators._contract import NotFittedError
from itnet_ts.estimators._cv import TimeCutoffSplitter, cross_validation
from itnet_ts.estimators.forecaster import ITNetForecaster
from itnet_ts.estimators.transformers import (
    BoxCoxTransformer,
    ChannelScaler,
    Log1pTransformer,
    TimeTransformer,
    TransformedTargetForecaster,
)

__all__ = [
    "BoxCoxTransformer",
    "ChannelScaler",
    "ITNetForecaster",
    "Log1pTransformer",
    "NotFittedError",
    "TimeCutoffSplitter",
    "TimeTransformer",
    "TransformedTargetForecaster",
    "cross_validation",
]

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
    ITNetError,
    ITNetInputError,
    ITNetModelFileError,
    ITNetNotFittedError,
)

__version__ = "0.1.0"

_LAZY = {
    "ITNetForecaster": "itnet_ts.estimators.forecaster",
    "ITNetConfig": "itnet_ts.model.config",
    "ITNet": "itnet_ts.model.itnet",
}

if TYPE_CHECKING:  # pragma: no cover
    from itnet_ts.estimators.forecaster import ITNetForecaster
    from itnet_ts.model.config import ITNetConfig
    from itnet_ts.model.itnet import ITNet


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'itnet_ts' has no attribute {name!r}")


__all__ = [
    "ITNet",
    "ITNetConfig",
    "ITNetError",
    "ITNetForecaster",
    "ITNetInputError",
    "ITNetModelFileError",
    "ITNetNotFittedError",
    "__version__",
]

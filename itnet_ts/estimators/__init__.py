"""scikit-learn style estimators."""

from itnet_ts.estimators.forecaster import ITNetForecaster

__all__ = ["ITNetForecaster"]

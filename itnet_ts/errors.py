"""Exceptions raised by itnet-ts. Every user-facing error is an ``ITNetError``."""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "BaselineFallbackWarning",
    "ITNetError",
    "ITNetInputError",
    "ITNetModelFileError",
    "ITNetNotFittedError",
    "TrainingDivergedError",
]


class ITNetError(Exception):
    """Base class of every error itnet-ts raises on purpose."""


class ITNetInputError(ITNetError, ValueError):
    """The data or arguments given are invalid; the message says where and how to fix it."""


class ITNetModelFileError(ITNetError, ValueError):
    """A saved model file is missing, truncated, tampered with, or of an unknown format."""


class ITNetNotFittedError(ITNetError, AttributeError):
    """``predict`` (or similar) was called before ``fit``."""


class TrainingDivergedError(ITNetError, RuntimeError):
    """The loss, its gradients or the validation loss became NaN / infinite; nothing is kept."""


class BackendUnavailable(ITNetError, RuntimeError):
    """A scan backend was asked for but cannot run here (missing package or device)."""


class BaselineFallbackWarning(UserWarning):
    """``fit``: a simple baseline beat the trained network on validation for some channels,
    which now use that baseline (``get_fitted_summary()["validation"]`` has the numbers)."""

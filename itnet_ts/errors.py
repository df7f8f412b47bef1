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
    """The data or arguments given are invalid; the message says where and how to fix it.

    An error about one parameter names it in ``param`` (``"time_col"``), the value at fault
    in ``value`` where there is one, and what to do about it, written for Python callers, in
    ``hint`` (``"Pass time_col='<column name>' to name it."``); the message is ``problem``
    (led by ``param=value:`` when a value is given) followed by ``hint``. A front end that
    spells parameters otherwise (the CLI's ``--time-col``) builds its line from these parts
    instead of rewriting the text.
    """

    def __init__(self, problem: str, *, param: str | None = None, value=None, hint: str = ""):
        lead = f"{param}={value!r}: " if param is not None and value is not None else ""
        super().__init__(f"{lead}{problem} {hint}" if hint else f"{lead}{problem}")
        self.problem, self.param, self.value, self.hint = problem, param, value, hint


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

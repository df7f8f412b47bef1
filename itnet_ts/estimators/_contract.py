"""Pieces of the scikit-learn estimator contract shared by the estimators."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from itnet_ts.errors import ITNetNotFittedError

__all__ = ["NotFittedError"]


class NotFittedError(ITNetNotFittedError, _SklearnNotFittedError):
    """``predict`` (or similar) before ``fit``: both itnet-ts's ``ITNetNotFittedError`` and
    scikit-learn's ``NotFittedError``, so ``except`` clauses written for either catch it.

    (``itnet_ts.errors`` cannot subclass scikit-learn's class itself: ``import itnet_ts`` and
    the CLI's ``--help`` must not import scikit-learn.)
    """

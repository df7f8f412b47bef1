"""Forecast error metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from itnet_ts.errors import ITNetInputError

__all__ = ["per_variable_mse_mae"]


def per_variable_mse_mae(y_true: Any, y_pred: Any, variable: Any) -> dict[str, Any]:
    """MSE and MAE averaged over variables: the irregular-forecasting benchmark metric.

    The squared (absolute) errors of each variable are summed over every scored entry and
    divided by that variable's number of entries; the result is the plain mean of these
    per-variable errors over the variables that have at least one entry. This is the metric of
    the t-PatchGNN benchmark (``lib/evaluation.py``), where a variable with many observations
    (heart rate) weighs as much as a rare one (cholesterol).

    Parameters
    ----------
    y_true, y_pred:
        1-D arrays of the same length, one entry per scored (series, time, variable) value.
    variable:
        1-D array of the same length naming (or numbering) the variable of each entry.

    Returns
    -------
    dict
        ``mse`` and ``mae`` (floats), ``n_variables`` (int) and ``per_variable``:
        ``{variable: {"mse": ..., "mae": ..., "count": ...}}``.
    """
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    var = np.asarray(variable)
    if true.ndim != 1 or pred.ndim != 1 or var.ndim != 1:
        raise ITNetInputError(
            "per_variable_mse_mae expects 1-D y_true, y_pred and variable, got shapes "
            f"{true.shape}, {pred.shape}, {var.shape}"
        )
    if not true.size == pred.size == var.size:
        raise ITNetInputError(
            f"y_true, y_pred and variable differ in length: {true.size}, {pred.size}, {var.size}"
        )
    if true.size == 0:
        raise ITNetInputError("per_variable_mse_mae needs at least one entry to score")
    if not np.isfinite(pred).all():
        bad = int(np.size(pred) - np.isfinite(pred).sum())
        raise ITNetInputError(f"y_pred has {bad} NaN or infinite value(s)")
    if not np.isfinite(true).all():
        raise ITNetInputError("y_true has NaN or infinite values; score observed entries only")

    names, code = np.unique(var, return_inverse=True)
    err = pred - true
    count = np.bincount(code, minlength=names.size)
    sq = np.bincount(code, weights=err * err, minlength=names.size) / count
    ab = np.bincount(code, weights=np.abs(err), minlength=names.size) / count
    per_variable = {
        names[i].item() if hasattr(names[i], "item") else names[i]: {
            "mse": float(sq[i]),
            "mae": float(ab[i]),
            "count": int(count[i]),
        }
        for i in range(names.size)
    }
    return {
        "mse": float(sq.mean()),
        "mae": float(ab.mean()),
        "n_variables": int(names.size),
        "per_variable": per_variable,
    }

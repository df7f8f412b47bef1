"""Probabilistic forecasts of ``ITNetForecaster``: ``quantiles=`` / ``level=`` -> what the
network outputs, how it is trained, and the forecast columns (Nixtla style).

* ``level=[80, 95]``: the model learns the quantiles ``0.025, 0.1, 0.5, 0.9, 0.975``; the
  forecast has ``y_hat`` (the median) and ``y_hat-lo-95, y_hat-lo-80, y_hat-hi-80,
  y_hat-hi-95`` (the central 80 % interval is ``[q0.1, q0.9]``).
* ``quantiles=[0.1, 0.9]``: the model learns ``0.1, 0.5, 0.9``; the forecast has ``y_hat``
  (the median) and ``y_hat_q0.1, y_hat_q0.9`` (and ``y_hat_q0.5`` when 0.5 was asked for).

The median is always learned (it anchors the non-crossing construction of
:mod:`itnet_ts.model.quantiles`) and is the point forecast ``y_hat``: with ``quantiles`` or
``level`` the model is trained with the pinball loss alone (averaged over its levels), and
``y_hat`` always lies inside every interval. Without either, the model has one output trained
with the squared error (``y_hat`` estimates the mean), as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["QuantilePlan", "forecast_columns", "plan_outputs", "unwanted_columns"]

_ROUND = 12  # digits: 0.5 - 80 / 200 is 0.09999999999999998 in floating point


def _q_name(q: float) -> str:
    return f"y_hat_q{np.format_float_positional(float(q), trim='-')}"


def _level_name(level: float) -> str:
    return f"{float(level):g}"


@dataclass(frozen=True)
class QuantilePlan:
    """What the network outputs and which forecast columns they become.

    quantiles: the model's quantile levels in increasing order (0.5 among them), or ``()`` for
        a point model. columns: ``(name, index into the sorted quantiles)`` in output order.
    """

    quantiles: tuple[float, ...] = ()
    columns: tuple[tuple[str, int], ...] = (("y_hat", 0),)

    @property
    def probabilistic(self) -> bool:
        return bool(self.quantiles)

    @property
    def n_outputs(self) -> int:
        return max(1, len(self.quantiles))


def plan_outputs(quantiles=None, level=None) -> QuantilePlan:
    """The plan for validated ``quantiles`` / ``level`` parameters (at most one of them)."""
    if quantiles is None and level is None:
        return QuantilePlan()
    if level is not None:
        levels = sorted({float(lv) for lv in level})
        lo = {lv: round(0.5 - lv / 200, _ROUND) for lv in levels}
        hi = {lv: round(0.5 + lv / 200, _ROUND) for lv in levels}
        qs = tuple(sorted({0.5, *lo.values(), *hi.values()}))
        cols = [("y_hat", qs.index(0.5))]
        cols += [(f"y_hat-lo-{_level_name(lv)}", qs.index(lo[lv])) for lv in reversed(levels)]
        cols += [(f"y_hat-hi-{_level_name(lv)}", qs.index(hi[lv])) for lv in levels]
        return QuantilePlan(qs, tuple(cols))
    asked = sorted({round(float(q), _ROUND) for q in quantiles})
    qs = tuple(sorted({0.5, *asked}))
    cols = [("y_hat", qs.index(0.5))] + [(_q_name(q), qs.index(q)) for q in asked]
    return QuantilePlan(qs, tuple(cols))


def forecast_columns(plan: QuantilePlan, raw: np.ndarray, scaler, q_chan: np.ndarray):
    """Raw network outputs ``(Q, n_outputs)`` (scaled units) -> ``{column: (Q,) float64}`` in
    the data's units, in the plan's column order."""
    if plan.probabilistic:
        from itnet_ts.model.quantiles import monotone_quantiles

        values = monotone_quantiles(torch.from_numpy(np.asarray(raw)), plan.quantiles).numpy()
    else:
        values = np.asarray(raw)[:, :1]
    out = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for name, k in plan.columns:
            out[name] = scaler.inverse(values[:, k].astype(np.float64), q_chan)
    return out


def unwanted_columns(plan: QuantilePlan, level=None, quantiles=None) -> list[str]:
    """The forecast columns of ``plan`` to drop when only the intervals of ``level`` and the
    quantiles of ``quantiles`` are wanted (both ``None``: keep all the model makes). A level
    the model was not fitted with is an error naming the parameter (``param="level"`` /
    ``"quantiles"``)."""
    from itnet_ts.data._frames import parse_pred_columns
    from itnet_ts.errors import ITNetInputError

    if level is None and quantiles is None:
        return []
    made = [name for name, _ in plan.columns if name != "y_hat"]
    found = parse_pred_columns(["y_hat", *made])
    keep: list[str] = []
    for param, asked, have in (
        ("level", level, found.levels),
        ("quantiles", quantiles, found.quantiles),
    ):
        for v in asked or []:
            if float(v) not in have:
                fitted = f"{param}={sorted(have)}" if have else f"no {param}"
                raise ITNetInputError(
                    f"the model was fitted with {fitted}; it can only give what it was trained for",
                    param=param,
                    value=v,
                    hint=f"(refit with {param}=[...])",
                )
            cols = have[float(v)]
            keep += list(cols) if isinstance(cols, tuple) else [cols]
    return [c for c in made if c not in keep]

"""Declarative validation of ``ITNetForecaster`` hyperparameters (checked at ``fit``)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from itnet_ts.errors import ITNetInputError

__all__ = ["validate_params"]


def _int(lo: int | None = None):
    def check(v):
        return isinstance(v, Integral) and not isinstance(v, bool) and (lo is None or v >= lo)

    return check, f"an integer >= {lo}" if lo is not None else "an integer"


def _real(lo: float, hi: float | None = None, lo_open: bool = False):
    def check(v):
        if not isinstance(v, Real) or isinstance(v, bool):
            return False
        ok_lo = v > lo if lo_open else v >= lo
        return ok_lo and (hi is None or v < hi)

    hi_txt = f" and < {hi}" if hi is not None else ""
    return check, f"a number {'>' if lo_open else '>='} {lo}{hi_txt}"


def _options(*allowed):
    return (lambda v: v in allowed), f"one of {list(allowed)}"


def _bool():
    return (lambda v: isinstance(v, bool)), "True or False"


def _duration_or_none():
    def check(v):
        if v is None or isinstance(v, str):
            return True
        return isinstance(v, Real) and not isinstance(v, bool) and v > 0

    return check, "None, a duration string such as '6h', or a positive number of time units"


def _none_or(check_desc):
    check, desc = check_desc
    return (lambda v: v is None or check(v)), f"None or {desc}"


def _levels(name: str, lo: float, hi: float, example: str):
    """None, or a non-empty list of distinct numbers strictly between ``lo`` and ``hi``."""

    def check(v):
        if v is None:
            return True
        if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple, np.ndarray)):
            return False
        items = list(np.asarray(v, dtype=object).reshape(-1)) if isinstance(v, np.ndarray) else v
        if not items or not all(isinstance(x, Real) and not isinstance(x, bool) for x in items):
            return False
        vals = [float(x) for x in items]
        return all(lo < x < hi for x in vals) and len(set(vals)) == len(vals)

    return check, (
        f"None or a non-empty list of distinct numbers strictly between {lo:g} and {hi:g}, "
        f"e.g. {name}={example}"
    )


def _column_names():
    """None, or a list / tuple of distinct, non-empty column names."""

    def check(v):
        if v is None:
            return True
        if not isinstance(v, (list, tuple)):
            return False
        return all(isinstance(c, str) and c for c in v) and len(set(v)) == len(v)

    return check, "None or a list of distinct column names, e.g. futr_exog_list=['holiday']"


def _channel_weights():
    """One of the named weightings, or a non-empty dict {channel name: finite weight > 0}."""
    named = ("scaled", "data", "data_per_channel")

    def check(v):
        if isinstance(v, str):
            return v in named
        if not isinstance(v, dict) or not v:
            return False
        return all(
            isinstance(k, str)
            and isinstance(w, Real)
            and not isinstance(w, bool)
            and np.isfinite(w)
            and w > 0
            for k, w in v.items()
        )

    return check, (
        f"one of {list(named)} or a dict of channel name -> weight > 0, "
        "e.g. channel_weights={'HR': 2.0}"
    )


PARAMETER_CONSTRAINTS = {
    "horizon": _duration_or_none(),
    "time_unit": _duration_or_none(),
    "max_history": _int(1),
    "d_model": _int(1),
    "n_layers": _int(1),
    "rank": _int(1),
    "dropout": _real(0.0, 1.0),
    "oscillatory": _bool(),
    "selective": _bool(),
    "kwn": _bool(),
    "integral_norm": _bool(),
    "weights": _options("uniform", "gap"),
    "start": _options("mix", "persistence", "auto"),
    "periodic": ((lambda v: v == "auto" or isinstance(v, bool)), "'auto', True or False"),
    "decoder": _options("recurrent", "attention", "both"),
    "encoder_mode": _options("recurrent", "attention", "conv"),
    "integration": _options("exact", "monte_carlo"),
    "max_epochs": _int(1),
    "batch_size": _int(1),
    "learning_rate": _real(0.0, lo_open=True),
    "patience": _int(1),
    "windows_per_series": _none_or(_int(1)),
    "scaling": _options("standard", "none"),
    "channel_weights": _channel_weights(),
    "duplicates": _options("error", "mean", "last"),
    "baseline_choice": _options("rolling", "validation"),
    "device": _options("auto", "cpu", "cuda"),
    "strategy": _options("auto", "single", "ddp"),
    "random_state": _none_or(_int(0)),
    "verbose": _bool(),
    "quantiles": _levels("quantiles", 0.0, 1.0, "[0.1, 0.5, 0.9]"),
    "level": _levels("level", 0.0, 100.0, "[80, 95]"),
    "futr_exog_list": _column_names(),
    "zero_shot_blend": _bool(),
    "checkpoint": (
        (lambda v: v is None or (isinstance(v, str) and bool(v))),
        "None or the name / path of a pretrained checkpoint, e.g. 'itnet-zero-v1'",
    ),
}


def validate_params(est) -> None:
    """Raise ``ITNetInputError`` naming the first parameter outside its constraint."""
    for name, value in est.get_params(deep=False).items():
        check, desc = PARAMETER_CONSTRAINTS[name]
        if not check(value):
            raise ITNetInputError(
                f"{type(est).__name__}({name}={value!r}) is invalid: {name} must be {desc}"
            )
    params = est.get_params(deep=False)
    if params.get("quantiles") is not None and params.get("level") is not None:
        raise ITNetInputError(
            f"{type(est).__name__}(quantiles={params['quantiles']!r}, "
            f"level={params['level']!r}): pass quantiles= or level=, not both (level=[80] is "
            "the same as quantiles=[0.1, 0.5, 0.9], with interval columns y_hat-lo-80 / "
            "y_hat-hi-80 instead of y_hat_q0.1 / y_hat_q0.9)"
        )
    if params.get("encoder_mode") == "conv" and params.get("selective"):
        raise ITNetInputError(
            f"{type(est).__name__}(encoder_mode='conv', selective=True): conv mode needs a "
            "kernel of the lag alone, and selective=True makes the elapsed time depend on the "
            "input; use selective=False, or encoder_mode='recurrent' / 'attention'"
        )

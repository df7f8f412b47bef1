"""The ``itnet`` benchmark run: the public estimator, as a user would run it.

``ITNetForecaster.fit`` on the train (and val) series, ``predict`` at the val and test splits'
target rows, scored with ``protocol_metrics``: a benchmark number is what a user of the
estimator gets (:func:`run_itnet`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

from ._hyperparams import check_hyperparams
from ._record import OnVal, host
from .data import BenchData

__all__ = ["run_itnet"]

#: ITNetForecaster parameters a benchmark run does not take from ``-p`` (set by the harness).
_HARNESS_PARAMS = {
    "max_epochs", "patience", "device", "strategy", "random_state", "verbose", "quantiles",
    "level", "futr_exog_list", "duplicates",
}  # fmt: skip

#: the protocol frames' columns, as ``fit``'s column options
_TIDY = dict(id_col="unique_id", time_col="ds", variable_col="variable", value_col="value")


def _itnet_keys() -> dict[str, Any]:
    """The hyperparameters ``-p`` may set for ``itnet``: ``ITNetForecaster``'s, plus
    ``windows`` and ``finetune`` (see :func:`run_itnet`)."""
    from itnet_ts.estimators.forecaster import ITNetForecaster

    est = ITNetForecaster().get_params(deep=False)
    keys = {k: v for k, v in est.items() if k not in _HARNESS_PARAMS}
    return {**keys, "windows": "auto", "finetune": None}


def run_itnet(
    data: BenchData,
    seed: int,
    *,
    epochs: int,
    patience: int = 10,
    device: str = "cpu",
    params: dict[str, Any] | None = None,
    variant: str = "itnet",
    progress: bool = False,
    on_val: OnVal | None = None,
) -> dict[str, Any]:
    """ITNet through the public estimator, as a user would run it.

    ``ITNetForecaster(**params)`` is fit on the train split's series (history and targets),
    then ``predict(df=<test histories>, times=<test target rows>)`` is scored with the
    protocol metric. ``params``: estimator hyperparameters, and ``windows``:

    - ``"protocol"``: train at each series' protocol cutoff (``fit(cutoffs=...)``), validate
      on the val split at its cutoffs (``val_df=, val_cutoffs=``), model time unit
      ``data.unit`` (how the PhysioNet table is made);
    - ``"user"``: ``fit`` on the train and val series with the estimator's own windows and
      validation, ``horizon`` = the longest lead of the train split's targets;
    - ``"auto"`` (default): ``"protocol"`` for physionet, ``"user"`` otherwise.

    ``finetune`` (with ``checkpoint``, a pretrained network): ``"head"`` (what ``fit`` does
    with a checkpoint) or ``"full"`` is passed to ``fit``; ``"zero-shot"`` does not fit at all
    and forecasts each split from its histories with the network as shipped.
    """
    from itnet_ts.estimators.forecaster import ITNetForecaster

    params = check_hyperparams("itnet", params or {}, _itnet_keys())
    windows = _windows(params.pop("windows", "auto"), data)
    finetune = _finetune(params.pop("finetune", None), params)
    if finetune == "zero-shot":
        return _run_zero_shot(ITNetForecaster, data, seed, device, params, variant)
    est = ITNetForecaster(
        **params,
        max_epochs=epochs,
        patience=patience,
        device=device,
        random_state=seed,
        verbose=progress,
    )
    fit_s, fallback_warnings = _fit(est, data, windows, finetune)
    val, eval_s = _score(est, data.val)
    test, infer_s = _score(est, data.test)
    return {
        "variant": variant,
        "seed": seed,
        "windows": windows,
        **_fitted_record(est, epochs, patience),
        "val_mse": val["mse"],
        "val_mae": val["mae"],
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "test_mse_network": _network_test_mse(est, data, test),
        "s_per_epoch": _median_epoch_seconds(est),
        "eval_s": eval_s,
        "infer_s": infer_s,
        "fit_s": fit_s,
        **_model_record(est, fallback_warnings),
        **host(),
    }


def _windows(windows: str, data: BenchData) -> str:
    """``windows`` checked, ``"auto"`` resolved for ``data``."""
    if windows == "auto":
        windows = "protocol" if data.name == "physionet" else "user"
    if windows not in ("protocol", "user"):
        raise ITNetInputError(
            f"itnet windows must be 'auto', 'protocol' or 'user', got {windows!r}"
        )
    return windows


def _finetune(finetune: str | None, params: dict[str, Any]) -> str | None:
    """``finetune`` checked against ``params`` (it needs a ``checkpoint``)."""
    if finetune is None:
        return None
    if finetune not in ("zero-shot", "head", "full"):
        raise ITNetInputError(
            f"itnet finetune must be 'zero-shot', 'head' or 'full', got {finetune!r}"
        )
    if params.get("checkpoint") is None:
        raise ITNetInputError(
            f"itnet finetune={finetune!r} needs a pretrained network: -p "
            "checkpoint=itnet-zero-v1 (or a checkpoint folder)"
        )
    return finetune


def _run_zero_shot(cls, data: BenchData, seed: int, device: str, params, variant: str):
    """A pretrained network scored as shipped: no fit, each split forecast from its own
    histories."""
    import torch

    torch.manual_seed(seed)
    keep = {k: v for k, v in params.items() if k != "checkpoint"}
    est = cls.pretrained(params["checkpoint"], **keep, device=device, random_state=seed)
    val, eval_s = _score(est, data.val)
    test, infer_s = _score(est, data.test)
    return {
        "variant": variant, "seed": seed, "finetune": "zero-shot",
        "estimator": est.get_params(deep=False), "best_epoch": None, "epochs_run": 0,
        "val_mse": val["mse"], "val_mae": val["mae"], "test_mse": test["mse"],
        "test_mae": test["mae"], "test_mse_network": test["mse"], "s_per_epoch": None,
        "eval_s": eval_s, "infer_s": infer_s, "fit_s": 0.0,
        "params": sum(p.numel() for p in est.model_.parameters()), "validation": None,
        "fallback_warnings": [], "history": [], "backend": "torch", **host(),
    }  # fmt: skip


def _fit(
    est, data: BenchData, windows: str, finetune: str | None = None
) -> tuple[float, list[str]]:
    """Fit ``est`` on the train and val splits' series (see :func:`run_itnet`; ``finetune``
    is passed to ``fit``); the seconds it took and the messages of the baseline-fallback
    warnings it raised."""
    import warnings

    from itnet_ts.errors import BaselineFallbackWarning

    full = {s: _full_frame(data.split(s)) for s in ("train", "val")}
    tune = {} if finetune is None else {"finetune": finetune}
    t_fit = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if windows == "protocol":
            if est.time_unit is None:
                est.set_params(time_unit=float(data.unit))
            est.fit(
                full["train"],
                **_TIDY,
                cutoffs=_cutoff_frame(data.train),
                val_df=full["val"],
                val_cutoffs=_cutoff_frame(data.val),
                **tune,
            )
        else:
            if est.horizon is None:
                est.set_params(horizon=_max_lead(data.train))
            est.fit(pl.concat([full["train"], full["val"]]), **_TIDY, **tune)
    t_fit = time.perf_counter() - t_fit
    fallback_warnings = [
        str(w.message) for w in caught if issubclass(w.category, BaselineFallbackWarning)
    ]
    return t_fit, fallback_warnings


def _score(est, split) -> tuple[dict[str, float], float]:
    """The protocol metrics of ``est``'s predictions at ``split``'s target rows, and the
    seconds the prediction took."""
    from itnet_ts.datasets.protocol import protocol_metrics

    t0 = time.perf_counter()
    pred = est.predict(df=split.history, times=split.targets.select("unique_id", "ds", "variable"))
    secs = time.perf_counter() - t0
    key = ["unique_id", "ds", "variable"]
    joined = split.targets.with_row_index("_row").join(pred, on=key, how="left")
    y_hat = joined.sort("_row")["y_hat"].to_numpy()
    return protocol_metrics(y_hat, split.targets), secs


def _network_test_mse(est, data: BenchData, test: dict[str, float]) -> float:
    """The trained network's own test MSE, without the baseline check's per-channel fallback
    (what another choice in the check would have given is then known without a second fit)."""
    fb = getattr(est.model_, "fallback", None)  # a pretrained network has no baseline check
    if fb is None or not bool((fb != 0).any()):
        return test["mse"]
    kept = fb.clone()
    fb.zero_()
    try:
        return _score(est, data.test)[0]["mse"]
    finally:
        fb.copy_(kept)


def _fitted_record(est, epochs: int, patience: int) -> dict[str, Any]:
    """The estimator's settings and how its training went."""
    result = est.train_result_
    return {
        "estimator": est.get_params(deep=False),
        "cfg": est.config_.to_dict(),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "max_epochs": epochs,
        "patience": patience,
    }


def _median_epoch_seconds(est) -> float | None:
    secs = [h["seconds"] for h in est.train_result_.history]
    return float(np.median(secs)) if secs else None


def _model_record(est, fallback_warnings: list[str]) -> dict[str, Any]:
    """The fitted model's size, validation, fallback warnings, history and scan backend."""
    from itnet_ts.ops import resolve_backend

    return {
        "params": sum(p.numel() for p in est.model_.parameters()),
        "validation": est.validation_,
        "fallback_warnings": fallback_warnings,
        "history": est.train_result_.history,
        "backend": resolve_backend(next(est.model_.parameters()).device),
    }


def _full_frame(split) -> pl.DataFrame:
    """A split's series whole: history and target rows (tidy)."""
    cols = ["unique_id", "ds", "variable", "value"]
    return pl.concat([split.history.select(cols), split.targets.select(cols)]).sort(
        "unique_id", "ds", "variable"
    )


def _cutoff_frame(split) -> pl.DataFrame:
    """``unique_id, ds``: each window's cutoff, just before its first target time (the
    protocols cut at "history before t, targets from t on"; fit's cutoff keeps points at or
    before it in the history)."""
    w = split.windows
    ids = split.ragged.ids[w.series]
    first = np.array([w.q_time[a:b].min() if b > a else np.inf
                      for a, b in zip(w.q_indptr[:-1], w.q_indptr[1:], strict=True)])  # fmt: skip
    last_hist = np.array([split.ragged.times[e - 1] for e in w.hist_end])
    cut = np.minimum(np.asarray(w.cutoff, np.float64), np.nextafter(first, -np.inf))
    cut = np.maximum(cut, last_hist)
    return pl.DataFrame({"unique_id": list(ids), "ds": cut})


def _max_lead(split) -> float:
    """The longest time from a window's cutoff to one of its targets (ds units)."""
    w = split.windows
    series_cut = np.repeat(np.asarray(w.cutoff, np.float64), np.diff(w.q_indptr))
    return float((w.q_time - series_cut).max())

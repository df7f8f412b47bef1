"""From the user's frames to what training needs (``TrainingData``): the series, covariates, time
unit and horizon, the training / validation split, the value scaler, the loss weights, the
periodic grid and the model config; and new frames read the way the training frame was
(``ingest_new``: ``predict(df=...)``, ``update``, ``fit(val_df=...)``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from itnet_ts.data._cutoffs import cutoff_windows
from itnet_ts.data._ingest import FrameSpec, ingest
from itnet_ts.data._queries import cutoff_array
from itnet_ts.data._ragged import RaggedSeries, ragged_from_canonical
from itnet_ts.data._time import infer_time_unit, parse_duration
from itnet_ts.data._windows import (
    ValueScaler,
    WindowSet,
    hold_out_windows,
    validation_windows,
)
from itnet_ts.errors import ITNetInputError
from itnet_ts.estimators._covariates import (
    Covariates,
    attach_covariates,
    check_futr_names,
    fit_covariates,
    split_futr,
)
from itnet_ts.estimators._periodic import choose_period_grid
from itnet_ts.estimators._quantiles import QuantilePlan, plan_outputs
from itnet_ts.estimators._training import loss_channel_weights
from itnet_ts.model.config import ITNetConfig

__all__ = [
    "TrainingData",
    "check_training_data",
    "check_value_range",
    "duration",
    "ingest_new",
    "prepare_training",
]

#: Largest magnitude of a scaled value fed to the network: the float32 layers overflow (NaN
#: forecasts) somewhere above 1e20; 1e15 leaves room for the products inside them.
MAX_SCALED = 1e15


@dataclass
class TrainingData:
    """Everything one fit trains on, in native time units where not said otherwise.

    ``fixed``: the windows of ``fit(cutoffs=...)`` (None: random windows every epoch, drawn
    before ``train_end`` (S,)); ``val_ragged`` / ``val_windows``: the validation series and
    windows (None: no validation); ``periodic``: what decided the periodic predictor."""

    spec: FrameSpec
    ragged: RaggedSeries
    covariates: Covariates
    unit: float
    horizon: float
    plan: QuantilePlan
    scaler: ValueScaler
    train_end: np.ndarray
    fixed: WindowSet | None
    val_ragged: RaggedSeries | None
    val_windows: WindowSet | None
    channel_weights: np.ndarray | None
    config: ITNetConfig
    periodic: dict
    per_series: int


def prepare_training(
    est, df, frame: dict, *, static_df, cutoffs, val_df, val_cutoffs, rng, seed: int
) -> TrainingData:
    """Read the training frame ``df`` (``frame``: its column names and shape) for ``est``.
    ``rng`` draws the held-out windows of ``cutoffs=`` (the same on every DDP rank)."""
    spec, ragged, cov, unit = _read_training_frame(est, df, frame, static_df)
    if cutoffs is not None and est.horizon is None:
        horizon = float(np.inf)  # fixed cutoffs: everything after the cutoff is a target
    else:
        horizon = _training_horizon(est, ragged, spec, unit)
    fixed, val_windows, train_end = _split(ragged, spec, horizon, cutoffs, val_df is not None, rng)
    train_view = ragged.head(train_end)
    scaler = ValueScaler.fit(train_view, est.scaling)
    check_value_range(ragged, scaler, "the training frame", est.scaling)
    val_ragged = ragged
    if val_df is not None:  # read like predict(df=...) reads new series
        val_ragged, _ = ingest_new(val_df, None, "fit(val_df=...)", est, spec, scaler, cov, ragged)
        if val_cutoffs is not None:
            cut = cutoff_array(val_cutoffs, val_ragged, spec, "val_cutoffs")
            val_windows = cutoff_windows(val_ragged, cut, horizon)
        else:
            val_windows, _ = validation_windows(val_ragged, horizon)
    counts = train_view.mask.sum(axis=0)  # (C,) training observations per channel
    cw = loss_channel_weights(est.channel_weights, spec.channels, scaler.scale, counts)
    period_grid, periodic = choose_period_grid(
        est.periodic, train_view, scaler, unit, est.start, est.max_history, seed
    )
    plan = plan_outputs(est.quantiles, est.level)
    return TrainingData(
        spec=spec,
        ragged=ragged,
        covariates=cov,
        unit=unit,
        horizon=horizon,
        plan=plan,
        scaler=scaler,
        train_end=train_end,
        fixed=fixed,
        val_ragged=val_ragged,
        val_windows=val_windows,
        channel_weights=cw,
        config=_model_config(est, ragged, unit, cov, plan, period_grid),
        periodic=periodic,
        per_series=est.windows_per_series
        or int(min(32, max(1, math.ceil(2048 / max(ragged.n_series, 1))))),
    )


def _read_training_frame(est, df, frame: dict, static_df):
    """(spec, series with covariates, covariates, time unit) of the training frame."""
    futr_cols = list(est.futr_exog_list or [])
    check_futr_names(futr_cols, {"id": frame["id_col"], "time": frame["time_col"]})
    df, full_df = split_futr(df, futr_cols, "the training frame")
    canon, spec = ingest(df, **frame, duplicates=est.duplicates)
    ragged = ragged_from_canonical(canon, spec.channels)
    check_training_data(ragged, spec)
    cov, ragged = fit_covariates(ragged, spec, futr_cols, full_df, static_df)
    if est.time_unit is None:
        unit = infer_time_unit(canon)
    else:
        unit = parse_duration(est.time_unit, spec.time_kind)
    return spec, ragged, cov, unit


def _split(ragged: RaggedSeries, spec: FrameSpec, horizon: float, cutoffs, val_given: bool, rng):
    """(fixed training windows or None, validation windows or None, train_end (S,)): with
    ``val_df`` validation comes from it; with ``cutoffs`` a fifth of the fixed windows is held
    out; else every series' last ``horizon`` is."""
    fixed = None
    if cutoffs is not None:
        fixed = cutoff_windows(ragged, cutoff_array(cutoffs, ragged, spec), horizon)
        if len(fixed) == 0:
            raise ITNetInputError(
                "cutoffs=: no series has both a point at or before its cutoff and an "
                "observation after it; check the cutoff times against the data"
            )
    if val_given:
        return fixed, None, ragged.ends()  # validation windows: from val_df, once scaled
    if fixed is not None:
        fixed, val_windows = hold_out_windows(fixed, rng)
        return fixed, val_windows, ragged.ends()
    val_windows, train_end = validation_windows(ragged, horizon)
    return fixed, val_windows, train_end


def _model_config(est, ragged, unit, cov: Covariates, plan, period_grid) -> ITNetConfig:
    # initial decay time scales span from a fraction of a gap to the history length
    span = float(np.median(ragged.spans())) / unit if ragged.n_series else 1.0
    return ITNetConfig(
        n_channels=len(ragged.channels),
        d_model=est.d_model,
        n_layers=est.n_layers,
        rank=est.rank,
        kernel_hidden=est.d_model,
        dropout=est.dropout,
        timescale_min=0.5,
        timescale_max=max(2.0, 2 * span),
        oscillatory=est.oscillatory,
        selective=est.selective,
        kwn=est.kwn,
        integral_norm=est.integral_norm,
        weights=est.weights,
        start=est.start,
        period_f_min=0.0 if period_grid is None else period_grid[0],
        period_df=0.0 if period_grid is None else period_grid[1],
        period_n_freq=0 if period_grid is None else period_grid[2],
        decoder=est.decoder,
        encoder_mode=est.encoder_mode,
        integration=est.integration,
        n_outputs=plan.n_outputs,
        n_static=cov.n_static,
        n_futr=cov.n_futr,
    )


def _training_horizon(est, ragged: RaggedSeries, spec: FrameSpec, unit: float) -> float:
    if est.horizon is not None:
        return duration(est.horizon, "horizon", spec, unit, est.time_unit)
    spans = ragged.spans()
    spans = spans[spans > 0]
    return float(np.median(spans)) / 4 if len(spans) else unit


def duration(value, name: str, spec: FrameSpec, unit: float, time_unit_param) -> float:
    """A duration in native units. A bare number is in the data's own units for numeric
    time; for datetimes it counts ``unit`` only when the user set ``time_unit``
    (``time_unit_param``)."""
    explicit = unit if (spec.time_kind == "datetime" and time_unit_param is not None) else None
    try:
        return parse_duration(value, spec.time_kind, explicit)
    except ITNetInputError as exc:
        raise ITNetInputError(f"{name}={value!r}: {exc}") from None


def ingest_new(df, static_df, where: str, est, spec, scaler, covariates, history):
    """Ingest new observations ``df`` (+ statics) the way the training frame was read (the
    fitted ``spec``, channels, scaling checks and ``covariates``; ``history``: the series the
    model holds, whose statics are known) -> (RaggedSeries, the frame's FrameSpec)."""
    df, full_df = split_futr(df, covariates.futr_cols, where)
    canon, new_spec = ingest(
        df,
        id_col=spec.id_col or "unique_id",
        time_col=spec.time_col,
        target_col=spec.target_col or "y",
        variable_col=spec.variable_col,
        value_col=spec.value_col,
        duplicates=est.duplicates,
        spec=spec,
    )
    ragged = ragged_from_canonical(canon, spec.channels)
    check_value_range(ragged, scaler, where, est.scaling)
    ragged = attach_covariates(covariates, ragged, spec, full_df, static_df, history, where)
    return ragged, new_spec


def check_training_data(ragged: RaggedSeries, spec: FrameSpec) -> None:
    """Refuse training data the model cannot learn from, naming what is wrong."""
    n_obs = ragged.mask.sum(0)
    never = [c for c, n in zip(spec.channels, n_obs, strict=True) if n == 0]
    if never:
        where = (
            f"every value of column{'s' if len(never) > 1 else ''} {never} is null/NaN"
            if spec.shape == "wide"
            else f"every row of {spec.variable_col or 'variable'} {never} has a null/NaN value"
        )
        raise ITNetInputError(
            f"channel{'s' if len(never) > 1 else ''} {never} {'are' if len(never) > 1 else 'is'} "
            f"never observed in the training frame ({where}), so the model cannot learn or "
            "forecast it. Drop it before fit, or give observations of it."
        )
    if ragged.n_series and int(ragged.lengths().max()) < 2:
        raise ITNetInputError(
            f"every series has a single time point ({ragged.n_series} series, e.g. "
            f"{ragged.ids[0]!r}); training needs series with at least two time points (a "
            "history and a later value to forecast). Give longer series."
        )


def check_value_range(ragged: RaggedSeries, scaler: ValueScaler, what: str, scaling: str):
    """Refuse values so far from the training scale that float32 arithmetic would overflow."""
    if not ragged.mask.any():
        return
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.where(ragged.mask, np.abs(scaler.transform(ragged.values)), 0.0)  # (T, C)
    z = np.where(np.isnan(z), np.inf, z)
    flat = int(np.argmax(z))
    point, c = divmod(flat, z.shape[1])
    if z[point, c] <= MAX_SCALED:
        return
    s = int(np.searchsorted(ragged.indptr, point, side="right")) - 1
    value = ragged.values[point, c]
    fix = (
        "Use scaling='standard' (the default) or rescale the channel."
        if scaling == "none"
        else "Check the units of that channel, or refit on data of the same scale."
    )
    raise ITNetInputError(
        f"{what}: channel {ragged.channels[c]!r} of series {ragged.ids[s]!r} has the value "
        f"{value:g}, more than {MAX_SCALED:g} times the training scale of that channel "
        f"(scale {scaler.scale[c]:g}, scaling={scaling!r}); the model's float32 arithmetic "
        f"cannot hold it. {fix}"
    )

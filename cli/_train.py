"""``forecast``, ``fit`` and ``predict``: the commands that train or apply a forecaster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._echo import echo_json, echo_table
from ._errors import guarded
from ._io import check_outputs, covariate_files
from ._options import (
    DataArg,
    Debug,
    FutrCols,
    FutrFile,
    H,
    IdCol,
    JsonOut,
    Level,
    MaxEpochs,
    OutTable,
    Overwrite,
    Params,
    Quantiles,
    Quiet,
    Sample,
    Seed,
    StaticFile,
    TargetCol,
    TimeCol,
    Times,
    ValueCol,
    VariableCol,
    check_h,
    columns,
    data_path,
    estimator,
    levels,
    number_or_str,
)


def check_futr_options(futr_cols: str | None, futr: Path | None) -> None:
    """``forecast``: --futr-cols and --futr come together (checked before any training)."""
    from itnet_ts.errors import ITNetInputError

    if futr_cols is not None and futr is None:
        raise ITNetInputError(
            f"--futr-cols {futr_cols} needs --futr FILE: the values of those columns at the "
            "query times (id, time and those columns)"
        )
    if futr is not None and futr_cols is None:
        raise ITNetInputError(
            "--futr FILE needs --futr-cols: the known-future covariate columns of DATA"
        )


ZeroShot = Annotated[
    bool,
    typer.Option(
        "--zero-shot",
        help="No training: forecast with the pretrained network shipped with itnet-ts "
        "(docs/pretrained.md). Default column names only; no --save-model or covariates.",
    ),
]
SaveModel = Annotated[
    Path | None, typer.Option("--save-model", help="Also save the fitted model here.")
]


@guarded
def forecast(
    data: DataArg = None,
    h: H = None,
    times: Times = None,
    sample: Sample = False,
    out: OutTable = Path("forecast.csv"),
    overwrite: Overwrite = False,
    save_model: SaveModel = None,
    max_epochs: MaxEpochs = 30,
    seed: Seed = 0,
    level: Level = None,
    quantiles: Quantiles = None,
    static: StaticFile = None,
    futr_cols: FutrCols = None,
    futr: FutrFile = None,
    params: Params = None,
    zero_shot: ZeroShot = False,
    id_col: IdCol = "unique_id",
    time_col: TimeCol = "ds",
    target_col: TargetCol = "y",
    variable_col: VariableCol = None,
    value_col: ValueCol = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fit on DATA and forecast after every series' end (the main job)."""
    from itnet_ts.errors import ITNetInputError
    from itnet_ts.estimators._ddp import is_writer

    from ._io import read_table, write_table_atomic

    path = data_path(data, sample)
    if (h is None) == (times is None):
        raise ITNetInputError("give exactly one of --h (a horizon) or --times FILE")
    check_futr_options(futr_cols, futr)
    check_outputs((out, "--out"), (save_model, "--save-model"), overwrite=overwrite)
    frame = read_table(path)
    query_frame = read_table(times) if times is not None else None
    cov = covariate_files(static, futr)
    h_value = number_or_str(h)
    check_h(h_value)
    est = estimator(
        params, quiet, horizon=h_value, max_epochs=max_epochs, seed=seed,
        level=level, quantiles=quantiles, futr_cols=futr_cols,
    )  # fmt: skip
    cols = (id_col, time_col, target_col, variable_col, value_col)
    frame = _fit_or_zero_shot(est, frame, zero_shot, cols, save_model, cov)
    if not is_writer(est):
        return  # under torchrun: rank 0 forecasts, writes and reports
    futr_df = cov.get("futr_df")
    pred = (
        est.predict(h=h_value, futr_df=futr_df, **frame)
        if h is not None
        else est.predict(times=query_frame, futr_df=futr_df, **frame)
    )
    write_table_atomic(pred, out, overwrite)
    if save_model is not None:
        est.save(save_model, overwrite=overwrite)
    if not quiet:
        _report_forecast(est, pred, out, save_model)


def _fit_or_zero_shot(est, frame, zero_shot: bool, cols: tuple, save_model, cov) -> dict:
    """Fit ``est`` on ``frame`` -> ``{}``; or, with ``--zero-shot``, set it to the shipped
    checkpoint -> ``{"df": frame}`` (``predict`` reads the history from ``df=``)."""
    if zero_shot:
        _zero_shot_options(est, cols, save_model, cov)
        return {"df": frame}
    est.fit(frame, static_df=cov.get("static_df"), **columns(*cols))
    return {}


def _zero_shot_options(est, cols: tuple, save_model: Path | None, cov: dict) -> None:
    """``forecast --zero-shot``: the estimator set to the shipped checkpoint; options that need
    a fitted model or other column names are errors."""
    from itnet_ts.errors import ITNetInputError
    from itnet_ts.model.universal_io import DEFAULT_CHECKPOINT

    if cols != ("unique_id", "ds", "y", None, None):
        raise ITNetInputError("--zero-shot reads the default column names (unique_id, ds, ...)")
    if save_model is not None or cov:
        raise ITNetInputError("--zero-shot trains nothing: no --save-model, --static or --futr")
    est.set_params(checkpoint=est.checkpoint or DEFAULT_CHECKPOINT)


def _report_forecast(est, pred, out: Path, save_model: Path | None) -> None:
    """The first forecasts and what was written where."""
    echo_table(pred.head(8), rows=8)
    n_series = len(set(pred["unique_id"])) if "unique_id" in pred.columns else 1
    typer.echo(
        f"{len(pred)} forecasts for {n_series} series written to {out}"
        + (f"; model saved to {save_model}" if save_model else "")
    )


@guarded
def fit(
    data: DataArg = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Model file to write (safetensors + JSON).")
    ] = Path("model.itnet"),
    horizon: Annotated[
        str | None,
        typer.Option("--horizon", help="How far ahead training windows reach, e.g. '12h'."),
    ] = None,
    sample: Sample = False,
    overwrite: Overwrite = False,
    max_epochs: MaxEpochs = 30,
    seed: Seed = 0,
    level: Level = None,
    quantiles: Quantiles = None,
    static: StaticFile = None,
    futr_cols: FutrCols = None,
    params: Params = None,
    id_col: IdCol = "unique_id",
    time_col: TimeCol = "ds",
    target_col: TargetCol = "y",
    variable_col: VariableCol = None,
    value_col: ValueCol = None,
    json_out: JsonOut = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fit ITNet on DATA and save the model to a file.

    Ctrl-C during training writes nothing: the model file appears only once training ended.
    """
    from itnet_ts.estimators._ddp import is_writer

    from ._io import read_table

    path = data_path(data, sample)
    check_outputs((out, "--out"), overwrite=overwrite)
    frame = read_table(path)
    cov = covariate_files(static, None)
    est = estimator(
        params, quiet, horizon=number_or_str(horizon), max_epochs=max_epochs, seed=seed,
        level=level, quantiles=quantiles, futr_cols=futr_cols,
    )  # fmt: skip
    est.fit(frame, **cov, **columns(id_col, time_col, target_col, variable_col, value_col))
    est.save(out, overwrite=overwrite)
    if not is_writer(est):
        return  # under torchrun: rank 0 wrote the model and reports
    summary = {**est.get_fitted_summary(), "model": str(out)}
    if json_out:
        echo_json(summary)
    elif not quiet:
        typer.echo(
            f"model of {summary['n_series']} series, channels {summary['channels']}, "
            f"{summary['n_parameters']} parameters, best epoch {summary['best_epoch']} "
            f"written to {out}"
        )


# the options of `predict` alone
ModelFile = Annotated[Path, typer.Argument(help="A model file written by `itnet-ts fit`.")]
Freq = Annotated[str | None, typer.Option("--freq", help="Spacing of the --h query times.")]
KeepLevel = Annotated[
    str | None,
    typer.Option(
        "--level",
        help="Keep only these intervals (e.g. 80) of a model fitted with --level; "
        "default: all it has.",
    ),
]
KeepQuantiles = Annotated[
    str | None,
    typer.Option(
        "--quantiles",
        help="Keep only these quantiles of a model fitted with --quantiles; default: all it has.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Forecast on a local Dask cluster of N worker processes (DATA: parquet file, "
        "folder or glob; --out: a folder of per-partition files, or one .parquet/.csv).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="Forecast on the running Dask cluster at ADDRESS."),
]
SeriesPerBatch = Annotated[
    int | None,
    typer.Option(
        "--series-per-batch",
        help="One process, reading the parquet DATA lazily N series at a time "
        "(for data larger than memory).",
    ),
]
ModelStatic = Annotated[
    Path | None,
    typer.Option(
        "--static",
        help="Static covariates of DATA's series: the id column and the model's static "
        "columns, a row per series (needed for a model fit with --static).",
    ),
]


@guarded
def predict(
    model: ModelFile,
    data: DataArg = None,
    h: H = None,
    times: Times = None,
    freq: Freq = None,
    level: KeepLevel = None,
    quantiles: KeepQuantiles = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    series_per_batch: SeriesPerBatch = None,
    static: ModelStatic = None,
    futr: FutrFile = None,
    sample: Sample = False,
    out: OutTable = Path("forecast.csv"),
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Forecast DATA's series with a saved model (no training).

    DATA is the history to forecast from, with the column names the model was fit with.
    With --workers / --scheduler / --series-per-batch it is a parquet dataset (file, folder
    -- hive layout included -- or glob) that need not fit in memory; see docs/distributed.md.
    """
    from itnet_ts.errors import ITNetInputError
    from itnet_ts.estimators import ITNetForecaster
    from itnet_ts.estimators._quantiles import unwanted_columns

    from ._io import MissingFileError, read_table, write_table_atomic

    path = data_path(data, sample)
    if (h is None) == (times is None):
        raise ITNetInputError("give exactly one of --h (a horizon) or --times FILE")
    check_outputs((out, "--out"), overwrite=overwrite)
    if not model.exists():
        raise MissingFileError(f"model file {model} does not exist")
    if workers is not None or scheduler is not None or series_per_batch is not None:
        if any(x is not None for x in (times, level, quantiles, static, futr)):
            raise ITNetInputError(
                "--times / --level / --quantiles / --static / --futr are not available with "
                "--workers, --scheduler or --series-per-batch; use --h (every column the model "
                "has is kept)"
            )
        _predict_scaled(
            model, path, h, freq, out=out, overwrite=overwrite, workers=workers,
            scheduler=scheduler, series_per_batch=series_per_batch, quiet=quiet,
        )  # fmt: skip
        return
    est = ITNetForecaster.load(model)
    frame = read_table(path)
    query_frame = read_table(times) if times is not None else None
    cov = covariate_files(static, futr)
    wanted = levels(level, "--level"), levels(quantiles, "--quantiles")
    drop = unwanted_columns(est.quantile_plan_, *wanted)
    h_value = number_or_str(h)
    check_h(h_value)
    pred = est.predict(h=h_value, df=frame, times=query_frame, freq=number_or_str(freq), **cov)
    pred = pred[[c for c in pred.columns if c not in drop]]
    write_table_atomic(pred, out, overwrite)
    if not quiet:
        echo_table(pred.head(8), rows=8)
        typer.echo(f"{len(pred)} forecasts written to {out}")


def _predict_scaled(model, path, h, freq, **options) -> None:
    """``predict`` on Dask workers or lazily in batches of series (``_distributed``)."""
    from ._distributed import predict_scaled

    h_value = number_or_str(h)
    check_h(h_value)
    predict_scaled(model, path, h=h_value, freq=number_or_str(freq), **options)

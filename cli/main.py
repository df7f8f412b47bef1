"""The ``itnet-ts`` command line. Heavy imports happen inside commands so ``--help`` is instant.

Exit codes:

- 0: success;
- 1: unexpected error (a bug: please report it, with ``--debug`` output);
- 2: usage error (unknown command or option, missing argument);
- 3: invalid input data or arguments, including an output file that exists without
  ``--overwrite``;
- 4: a named input file does not exist;
- 5: a model file is invalid, damaged or incompatible (e.g. from a newer itnet-ts);
- 6: training diverged (NaN / infinite loss or gradients); no model was written;
- 130: interrupted (Ctrl-C); nothing is written.

Every output (forecasts, model files, metric tables, plots) is written to a temporary file in
the target folder and renamed into place, so an interrupted command never leaves a partial
file, and an existing file is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="itnet-ts",
    help="Forecast irregularly sampled time series with ITNet (no resampling).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(
    help="List, describe and write the datasets itnet-ts knows.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(datasets_app, name="datasets")

EXIT_UNEXPECTED, EXIT_INPUT, EXIT_MISSING, EXIT_MODEL, EXIT_DIVERGED = 1, 3, 4, 5, 6
EXIT_INTERRUPTED = 130

# ---- options shared by commands ----------------------------------------------------------
IdCol = Annotated[str, typer.Option("--id-col", help="Series id column.")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Timestamp column.")]
TargetCol = Annotated[str, typer.Option("--target-col", help="Value column of a long frame.")]
VariableCol = Annotated[
    str | None, typer.Option("--variable-col", help="Channel-name column of a tidy frame.")
]
ValueCol = Annotated[str | None, typer.Option("--value-col", help="Value column of a tidy frame.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or preview.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace output files that exist.")]
Sample = Annotated[
    bool, typer.Option("--sample", help="Use the small sample bundled with itnet-ts as DATA.")
]
MaxEpochs = Annotated[int, typer.Option("--max-epochs", help="Training epochs at most.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", help="Model hyperparameter KEY=VALUE (repeatable), e.g. -p d_model=32."
    ),
]
DataArg = Annotated[
    Path | None, typer.Argument(help="History: a .parquet or .csv file (long, wide or tidy).")
]
Level = Annotated[
    str | None,
    typer.Option(
        "--level",
        help="Prediction intervals: comma-separated levels in (0, 100), e.g. 80,95 "
        "(columns y_hat-lo-80, y_hat-hi-80, ...; y_hat becomes the median).",
    ),
]
Quantiles = Annotated[
    str | None,
    typer.Option(
        "--quantiles",
        help="Quantile forecasts: comma-separated levels in (0, 1), e.g. 0.1,0.5,0.9 "
        "(columns y_hat_q0.1, ...; y_hat becomes the median).",
    ),
]
StaticFile = Annotated[
    Path | None,
    typer.Option(
        "--static",
        help="Static covariates: a .parquet or .csv file with the id column and one numeric "
        "column per covariate, a row per series.",
    ),
]
FutrCols = Annotated[
    str | None,
    typer.Option(
        "--futr-cols",
        help="Known-future covariates: comma-separated columns of DATA, e.g. promo,price "
        "(their values at the query times come in --futr).",
    ),
]
FutrFile = Annotated[
    Path | None,
    typer.Option(
        "--futr",
        help="Known-future covariate values at the query times: a .parquet or .csv file with "
        "the id, time and known-future covariate (--futr-cols) columns.",
    ),
]


def _fail(exc: BaseException, debug: bool) -> typer.Exit:
    """Print one clear line for ``exc`` (a traceback with --debug); return the exit."""
    from itnet_ts.errors import ITNetError, ITNetModelFileError, TrainingDivergedError

    from ._io import MissingFileError

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt):
        typer.echo("interrupted; nothing was written", err=True)
        return typer.Exit(EXIT_INTERRUPTED)
    typer.echo(f"error: {_cli_wording(str(exc))}", err=True)
    if isinstance(exc, (MissingFileError, FileNotFoundError)):
        return typer.Exit(EXIT_MISSING)
    if isinstance(exc, ITNetModelFileError):
        return typer.Exit(EXIT_MODEL)
    if isinstance(exc, TrainingDivergedError):
        return typer.Exit(EXIT_DIVERGED)
    if isinstance(exc, ITNetError | ValueError):
        return typer.Exit(EXIT_INPUT)
    return typer.Exit(EXIT_UNEXPECTED)


# the library's Python wording of covariate arguments -> the command-line options (in order)
_COVARIATE_WORDING = (
    ("(make_future_dataframe(h=...) lists the query times of a horizon; with times=, the "
     "query times themselves)",
     "(--h queries each series' last time plus multiples of the fitted time unit, or of "
     "predict's --freq; or query the --futr file's own times: --times FILE --futr FILE)"),
    ("make_future_dataframe(h=...) lists the query times of a horizon",
     "or query the --futr file's own times: --times FILE --futr FILE"),
    ("futr_exog_list=[...]", "--futr-cols"),
    ("futr_exog_list names", "--futr-cols names"),
    ("named by futr_exog_list", "named by --futr-cols"),
    ("from futr_exog_list.", "from --futr-cols."),
    ("fit(df, static_df=...)", "--static FILE"),
    ("static_df=", "--static FILE"),
    ("static_df", "--static"),
    ("futr_df=", "--futr FILE"),
    ("futr_df", "--futr"),
    ("predict(df=...):", "DATA:"),
    (" (series of the training frame default to their training values)",
     " (a model file keeps no data, so predict needs the statics of every series)"),
)  # fmt: skip


def _cli_wording(message: str) -> str:
    """Name the command-line options where the library's message names Python arguments."""
    import re

    message = re.sub(
        r"Pass (id|time|target|variable|value)_col='<column name>'",
        lambda m: f"Pass --{m.group(1)}-col <column name>",
        message,
    )
    for python, cli in _COVARIATE_WORDING:
        message = message.replace(python, cli)
    return message


def _check_h(h_value) -> None:
    """``--h`` as a number must be positive (a duration string is checked by the estimator)."""
    from itnet_ts.errors import ITNetInputError

    if isinstance(h_value, float) and not h_value > 0:
        raise ITNetInputError(
            f"--h {h_value:g} is invalid: give a positive number of time units or a duration "
            "such as '6h'"
        )


def _guarded(fn):
    """Turn any error of a command into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            raise _fail(exc, bool(kwargs.get("debug", False))) from None

    return wrapper


# ---- helpers -------------------------------------------------------------------------------


def _number_or_str(value: str | None):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _check_outputs(*targets: tuple[Path | None, str], overwrite: bool) -> None:
    """Fail fast, before any long work, when an output exists and --overwrite is not given."""
    from itnet_ts.errors import ITNetInputError

    for target, what in targets:
        if target is not None and target.exists() and not overwrite:
            raise ITNetInputError(f"{what} {target} already exists; pass --overwrite to replace it")


def _data_path(data: Path | None, sample: bool) -> Path:
    from itnet_ts.errors import ITNetInputError

    if sample == (data is not None):
        raise ITNetInputError("give a DATA file or --sample (exactly one)")
    if sample:
        from itnet_ts.datasets import sample_path

        return sample_path()
    assert data is not None
    return data


def _parse_params(params: list[str] | None) -> dict[str, Any]:
    """``["d_model=32", "selective=true"]`` -> ``{"d_model": 32, "selective": True}``."""
    import json

    from itnet_ts.errors import ITNetInputError

    out: dict[str, Any] = {}
    for item in params or []:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ITNetInputError(f"--param {item!r}: expected KEY=VALUE, e.g. -p d_model=32")
        try:
            value = json.loads(raw)
        except ValueError:
            value = {"none": None, "true": True, "false": False}.get(raw.lower(), raw)
        out[key] = value
    return out


def _levels(value: str | None, option: str) -> list[float] | None:
    """``"80,95"`` -> ``[80, 95]`` (``--level``) or ``"0.1,0.9"`` -> ``[0.1, 0.9]``."""
    from itnet_ts.errors import ITNetInputError

    if value is None:
        return None
    example = "80,95" if option == "--level" else "0.1,0.5,0.9"
    out: list[float] = []
    for item in _split(value) or []:
        try:
            x = float(item)
        except ValueError:
            raise ITNetInputError(
                f"{option} {value!r}: {item!r} is not a number; give comma-separated numbers, "
                f"e.g. {option} {example}"
            ) from None
        out.append(int(x) if option == "--level" and x.is_integer() else x)
    if not out:
        raise ITNetInputError(f"{option} is empty; give e.g. {option} {example}")
    return out


def _futr_names(value: str) -> list[str]:
    """``--futr-cols "promo, price"`` -> ``["promo", "price"]``."""
    from itnet_ts.errors import ITNetInputError

    names = _split(value) or []
    if not names:
        raise ITNetInputError("--futr-cols is empty; give e.g. --futr-cols promo,price")
    if len(set(names)) < len(names):
        raise ITNetInputError(f"--futr-cols {value}: a column is named twice")
    return names


def _estimator(
    params: list[str] | None,
    quiet: bool,
    *,
    horizon=None,
    max_epochs=None,
    seed=None,
    level: str | None = None,
    quantiles: str | None = None,
    futr_cols: str | None = None,
):
    from itnet_ts.errors import ITNetInputError
    from itnet_ts.estimators import ITNetForecaster

    kwargs: dict[str, Any] = {"verbose": not quiet}
    for name, option, raw in (
        ("level", "--level", level),
        ("quantiles", "--quantiles", quantiles),
        ("futr_exog_list", "--futr-cols", futr_cols),
    ):
        if raw is not None:
            if any(p.partition("=")[0].strip().replace("-", "_") == name for p in params or []):
                raise ITNetInputError(f"give {option} or -p {name}=..., not both")
            kwargs[name] = _futr_names(raw) if option == "--futr-cols" else _levels(raw, option)
    if horizon is not None:
        kwargs["horizon"] = horizon
    if max_epochs is not None:
        kwargs["max_epochs"] = max_epochs
    if seed is not None:
        kwargs["random_state"] = seed
    given = _parse_params(params)
    known = ITNetForecaster().get_params(deep=False)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ITNetInputError(
            f"--param {unknown[0]}: not a hyperparameter; known: {', '.join(sorted(known))}"
        )
    kwargs.update(given)
    return ITNetForecaster(**kwargs)


def _fitted_columns(est, level, quantiles) -> tuple[list[str], list[str]] | None:
    """For ``predict --level / --quantiles``: ``(columns to keep, interval / quantile columns
    the model makes)``, or None to keep everything. The levels must be among the model's."""
    from itnet_ts._frames import parse_pred_columns
    from itnet_ts.errors import ITNetInputError

    if level is None and quantiles is None:
        return None
    made = [name for name, _ in est.quantile_plan_.columns if name != "y_hat"]
    pcols = parse_pred_columns(["y_hat", *made])
    keep: list[str] = []
    for option, asked, have in (
        ("--level", level, pcols.levels),
        ("--quantiles", quantiles, pcols.quantiles),
    ):
        for v in asked or []:
            if float(v) not in have:
                fitted = f"{option.strip('-')}={sorted(have)}" if have else f"no {option}"
                raise ITNetInputError(
                    f"{option} {v:g}: the model was fitted with {fitted}; it can only give "
                    f"what it was trained for (refit with {option})"
                )
            cols = have[float(v)]
            keep += list(cols) if isinstance(cols, tuple) else [cols]
    return keep, made


def _covariates(static: Path | None, futr: Path | None) -> dict[str, Any]:
    """``--static`` / ``--futr`` files read (a missing one: exit 4 naming the option), as the
    ``static_df`` / ``futr_df`` keyword arguments of those given."""
    from ._io import read_table

    out: dict[str, Any] = {}
    if static is not None:
        out["static_df"] = read_table(static, "--static")
    if futr is not None:
        out["futr_df"] = read_table(futr, "--futr")
    return out


def _check_futr_options(futr_cols: str | None, futr: Path | None) -> None:
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


def _cols(id_col, time_col, target_col, variable_col, value_col) -> dict[str, Any]:
    return dict(
        id_col=id_col, time_col=time_col, target_col=target_col,
        variable_col=variable_col, value_col=value_col,
    )  # fmt: skip


def _jsonable(value):
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _records(df) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in df.to_dicts()]


def _echo_table(df, rows: int = 20) -> None:
    import polars as pl

    with pl.Config(
        tbl_rows=rows, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
        float_precision=4, tbl_width_chars=120,
    ):  # fmt: skip
        typer.echo(df)


def _echo_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=2, default=str))


# ---- forecast ------------------------------------------------------------------------------


@app.command()
@_guarded
def forecast(
    data: DataArg = None,
    h: Annotated[
        str | None, typer.Option("--h", help="Horizon, e.g. '24h', or a number of time units.")
    ] = None,
    times: Annotated[
        Path | None,
        typer.Option("--times", help="File of explicit query times (id, time[, variable])."),
    ] = None,
    sample: Sample = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")] = Path(
        "forecast.csv"
    ),
    overwrite: Overwrite = False,
    save_model: Annotated[
        Path | None, typer.Option("--save-model", help="Also save the fitted model here.")
    ] = None,
    max_epochs: MaxEpochs = 30,
    seed: Seed = 0,
    level: Level = None,
    quantiles: Quantiles = None,
    static: StaticFile = None,
    futr_cols: FutrCols = None,
    futr: FutrFile = None,
    params: Params = None,
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

    from ._io import read_table, write_table_atomic

    path = _data_path(data, sample)
    if (h is None) == (times is None):
        raise ITNetInputError("give exactly one of --h (a horizon) or --times FILE")
    _check_futr_options(futr_cols, futr)
    _check_outputs((out, "--out"), (save_model, "--save-model"), overwrite=overwrite)
    frame = read_table(path)
    query_frame = read_table(times) if times is not None else None
    cov = _covariates(static, futr)
    h_value = _number_or_str(h)
    _check_h(h_value)
    est = _estimator(
        params, quiet, horizon=h_value, max_epochs=max_epochs, seed=seed,
        level=level, quantiles=quantiles, futr_cols=futr_cols,
    )  # fmt: skip
    est.fit(
        frame, static_df=cov.get("static_df"),
        **_cols(id_col, time_col, target_col, variable_col, value_col),
    )  # fmt: skip
    if (getattr(est, "distributed_", None) or {}).get("rank", 0) != 0:
        return  # under torchrun: rank 0 forecasts, writes and reports
    futr_df = cov.get("futr_df")
    pred = (
        est.predict(h=h_value, futr_df=futr_df)
        if h is not None
        else est.predict(times=query_frame, futr_df=futr_df)
    )
    write_table_atomic(pred, out, overwrite)
    if save_model is not None:
        est.save(save_model, overwrite=overwrite)
    if not quiet:
        _echo_table(pred.head(8), rows=8)
        summary = est.get_fitted_summary()
        typer.echo(
            f"{len(pred)} forecasts for {summary['n_series']} series written to {out}"
            + (f"; model saved to {save_model}" if save_model else "")
        )


# ---- fit / predict -------------------------------------------------------------------------


@app.command()
@_guarded
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
    from ._io import read_table

    path = _data_path(data, sample)
    _check_outputs((out, "--out"), overwrite=overwrite)
    frame = read_table(path)
    cov = _covariates(static, None)
    est = _estimator(
        params, quiet, horizon=_number_or_str(horizon), max_epochs=max_epochs, seed=seed,
        level=level, quantiles=quantiles, futr_cols=futr_cols,
    )  # fmt: skip
    est.fit(frame, **cov, **_cols(id_col, time_col, target_col, variable_col, value_col))
    est.save(out, overwrite=overwrite)
    if (getattr(est, "distributed_", None) or {}).get("rank", 0) != 0:
        return  # under torchrun: rank 0 wrote the model and reports
    summary = {**est.get_fitted_summary(), "model": str(out)}
    if json_out:
        _echo_json(summary)
    elif not quiet:
        typer.echo(
            f"model of {summary['n_series']} series, channels {summary['channels']}, "
            f"{summary['n_parameters']} parameters, best epoch {summary['best_epoch']} "
            f"written to {out}"
        )


@app.command()
@_guarded
def predict(
    model: Annotated[Path, typer.Argument(help="A model file written by `itnet-ts fit`.")],
    data: DataArg = None,
    h: Annotated[
        str | None, typer.Option("--h", help="Horizon, e.g. '24h', or a number of time units.")
    ] = None,
    times: Annotated[
        Path | None,
        typer.Option("--times", help="File of explicit query times (id, time[, variable])."),
    ] = None,
    freq: Annotated[
        str | None, typer.Option("--freq", help="Spacing of the --h query times.")
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            help="Keep only these intervals (e.g. 80) of a model fitted with --level; "
            "default: all it has.",
        ),
    ] = None,
    quantiles: Annotated[
        str | None,
        typer.Option(
            "--quantiles",
            help="Keep only these quantiles of a model fitted with --quantiles; "
            "default: all it has.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Forecast on a local Dask cluster of N worker processes (DATA: parquet file, "
            "folder or glob; --out: a folder of per-partition files, or one .parquet/.csv).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Forecast on the running Dask cluster at ADDRESS."),
    ] = None,
    series_per_batch: Annotated[
        int | None,
        typer.Option(
            "--series-per-batch",
            help="One process, reading the parquet DATA lazily N series at a time "
            "(for data larger than memory).",
        ),
    ] = None,
    static: Annotated[
        Path | None,
        typer.Option(
            "--static",
            help="Static covariates of DATA's series: the id column and the model's static "
            "columns, a row per series (needed for a model fit with --static).",
        ),
    ] = None,
    futr: FutrFile = None,
    sample: Sample = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")] = Path(
        "forecast.csv"
    ),
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

    from ._io import MissingFileError, read_table, write_table_atomic

    path = _data_path(data, sample)
    if (h is None) == (times is None):
        raise ITNetInputError("give exactly one of --h (a horizon) or --times FILE")
    _check_outputs((out, "--out"), overwrite=overwrite)
    if not model.exists():
        raise MissingFileError(f"model file {model} does not exist")
    if workers is not None or scheduler is not None or series_per_batch is not None:
        from ._distributed import predict_scaled

        if any(x is not None for x in (times, level, quantiles, static, futr)):
            raise ITNetInputError(
                "--times / --level / --quantiles / --static / --futr are not available with "
                "--workers, --scheduler or --series-per-batch; use --h (every column the model "
                "has is kept)"
            )
        h_value = _number_or_str(h)
        _check_h(h_value)
        predict_scaled(
            model, path, h=h_value, freq=_number_or_str(freq), out=out, overwrite=overwrite,
            workers=workers, scheduler=scheduler, series_per_batch=series_per_batch, quiet=quiet,
        )  # fmt: skip
        return
    est = ITNetForecaster.load(model)
    frame = read_table(path)
    query_frame = read_table(times) if times is not None else None
    cov = _covariates(static, futr)
    keep = _fitted_columns(est, _levels(level, "--level"), _levels(quantiles, "--quantiles"))
    h_value = _number_or_str(h)
    _check_h(h_value)
    pred = est.predict(h=h_value, df=frame, times=query_frame, freq=_number_or_str(freq), **cov)
    if keep is not None:
        pred = pred[[c for c in pred.columns if c not in keep[1] or c in keep[0]]]
    write_table_atomic(pred, out, overwrite)
    if not quiet:
        _echo_table(pred.head(8), rows=8)
        typer.echo(f"{len(pred)} forecasts written to {out}")


# ---- backtest / evaluate -------------------------------------------------------------------


@app.command()
@_guarded
def backtest(
    data: DataArg = None,
    h: Annotated[
        str | None, typer.Option("--h", help="Horizon of each window, e.g. '12h' or 5.")
    ] = None,
    n_windows: Annotated[int, typer.Option("--n-windows", help="Number of cutoffs.")] = 3,
    step_size: Annotated[
        str | None, typer.Option("--step-size", help="Time between cutoffs (default: --h).")
    ] = None,
    refit: Annotated[
        int,
        typer.Option(
            "--refit", help="Refit every N windows (1: every window, 0: fit once on the first)."
        ),
    ] = 1,
    align: Annotated[
        str,
        typer.Option(
            "--align",
            help="'global': cutoffs from the last time of all data; "
            "'series': from each series' own end.",
        ),
    ] = "global",
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Comma-separated metrics (default mae,mse,rmse,mase; with --level also "
            "pinball,coverage, with --quantiles also pinball).",
        ),
    ] = None,
    sample: Sample = False,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Forecasts with cutoff and actuals (.csv/.parquet).")
    ] = Path("backtest.csv"),
    overwrite: Overwrite = False,
    max_epochs: MaxEpochs = 30,
    seed: Seed = 0,
    level: Level = None,
    quantiles: Quantiles = None,
    static: StaticFile = None,
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
    """Backtest over time cutoffs: write the forecasts, print the errors.

    Window k forecasts every observation in (cutoff_k, cutoff_k + h] from the data at or
    before cutoff_k = end - h - k * step_size; see docs/backtesting.md.
    """
    from itnet_ts.errors import ITNetInputError
    from itnet_ts.estimators import cross_validation
    from itnet_ts.metrics import evaluate

    from ._io import read_table, write_table_atomic

    path = _data_path(data, sample)
    if h is None:
        raise ITNetInputError("give --h, the horizon of each window")
    if refit < 0:
        raise ITNetInputError(f"--refit must be >= 0, got {refit}")
    _check_outputs((out, "--out"), overwrite=overwrite)
    frame = read_table(path)
    cov = _covariates(static, None)
    h_value = _number_or_str(h)
    _check_h(h_value)
    est = _estimator(
        params, quiet, horizon=h_value, max_epochs=max_epochs, seed=seed,
        level=level, quantiles=quantiles,
    )  # fmt: skip
    cols = _cols(id_col, time_col, target_col, variable_col, value_col)
    cv = cross_validation(
        est, frame, n_windows=n_windows, h=h_value, step_size=_number_or_str(step_size),
        refit=refit, align=align, progress=not quiet, fit_kwargs=cov or None, **cols,
    )  # fmt: skip
    write_table_atomic(cv, out, overwrite)
    wanted = _split(metrics) or ["mae", "mse", "rmse", "mase"]
    if metrics is None and (est.level is not None or est.quantiles is not None):
        wanted += ["pinball"] + (["coverage"] if est.level is not None else [])
    ev = dict(metrics=wanted, train_df=frame, **cols)
    per_cutoff = evaluate(cv, by="cutoff", **ev)
    overall = evaluate(cv, **ev)
    if json_out:
        _echo_json({"overall": _records(overall)[0], "by_cutoff": _records(per_cutoff)})
        return
    if not quiet:
        _echo_table(per_cutoff)
        typer.echo("overall:")
        _echo_table(overall)
        typer.echo(f"{len(cv)} forecasts over {n_windows} windows written to {out}")


@app.command("evaluate")
@_guarded
def evaluate_cmd(
    forecasts: Annotated[
        Path, typer.Argument(help="Forecast file (forecast / predict / backtest output).")
    ],
    actuals: Annotated[
        Path | None,
        typer.Argument(help="Observed values (any shape); default: the forecasts' y column."),
    ] = None,
    train: Annotated[
        Path | None, typer.Option("--train", help="History file, for mase / rmsse.")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics", help="Comma-separated: mae,mse,rmse,mase,rmsse,pinball,coverage."
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Comma-separated columns to group by, e.g. unique_id,cutoff."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the table (.csv/.parquet).")
    ] = None,
    overwrite: Overwrite = False,
    id_col: IdCol = "unique_id",
    time_col: TimeCol = "ds",
    target_col: TargetCol = "y",
    variable_col: VariableCol = None,
    value_col: ValueCol = None,
    json_out: JsonOut = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Score a forecast file against observed values (MAE, MSE, ...)."""
    from itnet_ts.metrics import evaluate

    from ._io import read_table, write_table_atomic

    _check_outputs((out, "--out"), overwrite=overwrite)
    fc = read_table(forecasts)
    act = read_table(actuals) if actuals is not None else None
    hist = read_table(train) if train is not None else None
    table = evaluate(
        fc, act, metrics=_split(metrics), by=_split(by), train_df=hist,
        **_cols(id_col, time_col, target_col, variable_col, value_col),
    )  # fmt: skip
    if out is not None:
        write_table_atomic(table, out, overwrite)
    if json_out:
        _echo_json(_records(table))
    elif not quiet or out is None:
        _echo_table(table, rows=50)


# ---- plot ----------------------------------------------------------------------------------


def _save_figure(fig, out: Path, overwrite: bool) -> None:
    from itnet_ts._files import atomic_write
    from itnet_ts.errors import ITNetInputError

    from ._io import check_new_file

    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
        raise ITNetInputError(f"--out {out}: unknown image type {suffix!r}; use .png, .svg or .pdf")
    check_new_file(out, overwrite)
    with atomic_write(out) as tmp:
        fig.savefig(tmp, dpi=110, format=suffix.lstrip(".").replace("jpg", "jpeg"))


@app.command()
@_guarded
def plot(
    data: DataArg = None,
    forecast_file: Annotated[
        Path | None,
        typer.Option("--forecast", "-f", help="Forecast file (forecast / predict / backtest)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file (.png, .svg, .pdf).")] = Path(
        "forecast.png"
    ),
    ids: Annotated[
        str | None, typer.Option("--ids", help="Comma-separated series to plot.")
    ] = None,
    channels: Annotated[
        str | None, typer.Option("--channels", help="Comma-separated channels to plot.")
    ] = None,
    max_series: Annotated[
        int, typer.Option("--max-series", help="Series plotted when --ids is not given.")
    ] = 4,
    lookback: Annotated[
        str | None,
        typer.Option("--lookback", help="Show only this much history before the forecast."),
    ] = None,
    sample: Sample = False,
    overwrite: Overwrite = False,
    id_col: IdCol = "unique_id",
    time_col: TimeCol = "ds",
    target_col: TargetCol = "y",
    variable_col: VariableCol = None,
    value_col: ValueCol = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Plot history and forecasts to an image file.

    One panel per (series, channel); intervals shaded, cutoffs dashed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from itnet_ts.plotting import plot_forecast

    from ._io import read_table

    path = _data_path(data, sample)
    _check_outputs((out, "--out"), overwrite=overwrite)
    hist = read_table(path)
    fc = read_table(forecast_file) if forecast_file is not None else None
    wanted_ids = _split(ids)
    if wanted_ids is not None and id_col in hist.columns:
        dtype = hist.schema[id_col]
        if dtype.is_integer():
            wanted_ids = [int(i) for i in wanted_ids]
    fig = plot_forecast(
        hist, fc, ids=wanted_ids, channels=_split(channels), max_series=max_series,
        lookback=_number_or_str(lookback),
        **_cols(id_col, time_col, target_col, variable_col, value_col),
    )  # fmt: skip
    try:
        _save_figure(fig, out, overwrite)
    finally:
        plt.close(fig)
    if not quiet:
        typer.echo(f"plot written to {out}")


# ---- datasets ------------------------------------------------------------------------------


@datasets_app.command("list")
@_guarded
def datasets_list(json_out: JsonOut = False, debug: Debug = False) -> None:
    """List the bundled sample, synthetic families and file loaders."""
    from itnet_ts.datasets.catalog import CATALOG

    rows = [info.to_dict() for info in CATALOG.values()]
    if json_out:
        _echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r['kind']:<9}  {r['summary']}")


def _describe_frame(frame) -> dict[str, Any]:
    import polars as pl

    from itnet_ts.data._ingest import ingest

    canon, spec = ingest(frame, duplicates="mean")
    per_channel = canon.group_by("variable").len().sort("variable")
    lengths = canon.group_by("unique_id").agg(pl.col("time").n_unique().alias("n"))["n"]
    times = canon["time"]
    if spec.time_kind == "datetime":
        import pandas as pd

        start, end = str(pd.Timestamp(times.min())), str(pd.Timestamp(times.max()))
    else:
        start, end = float(times.min()), float(times.max())
    return {
        "rows": frame.height,
        "shape": spec.shape,
        "series": int(canon["unique_id"].n_unique()),
        "channels": list(spec.channels),
        "observations": canon.height,
        "observations_per_channel": dict(
            zip(per_channel["variable"].to_list(), per_channel["len"].to_list(), strict=True)
        ),
        "time_points_per_series": {
            "min": int(lengths.min()), "median": float(lengths.median()), "max": int(lengths.max())
        },
        "time_kind": spec.time_kind,
        "start": start,
        "end": end,
    }  # fmt: skip


@datasets_app.command("describe")
@_guarded
def datasets_describe(
    name: Annotated[str, typer.Argument(help="A name from `itnet-ts datasets list`.")],
    source: Annotated[
        Path | None, typer.Option("--source", help="Downloaded files, for the file loaders.")
    ] = None,
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Describe a dataset: what it is, where to get it, its size."""
    from itnet_ts.datasets import catalog

    info = catalog.get(name)
    report: dict[str, Any] = info.to_dict()
    if not info.needs_source or source is not None:
        if source is not None and not source.exists():
            from ._io import MissingFileError

            raise MissingFileError(f"--source {source} does not exist")
        frame = catalog.load(name, source=None if source is None else str(source))
        report["stats"] = _describe_frame(frame)
    if json_out:
        _echo_json(report)
        return
    for key, value in report.items():
        if key == "stats":
            typer.echo("stats:")
            for k, v in value.items():
                typer.echo(f"  {k}: {v}")
        elif value not in ("", False):
            typer.echo(f"{key}: {value}")


@datasets_app.command("write")
@_guarded
def datasets_write(
    name: Annotated[str, typer.Argument(help="A name from `itnet-ts datasets list`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")],
    source: Annotated[
        Path | None, typer.Option("--source", help="Downloaded files, for the file loaders.")
    ] = None,
    n_series: Annotated[int, typer.Option("--n-series", help="Synthetic: series.")] = 50,
    n_channels: Annotated[int, typer.Option("--n-channels", help="Synthetic: channels.")] = 3,
    length: Annotated[float, typer.Option("--length", help="Synthetic: time span.")] = 100.0,
    datetime: Annotated[
        bool, typer.Option("--datetime", help="Synthetic: datetime stamps (hours).")
    ] = False,
    shape: Annotated[
        str, typer.Option("--shape", help="Synthetic / sample: 'tidy', 'wide' or 'long'.")
    ] = "tidy",
    seed: Seed = 0,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write a dataset to a .parquet or .csv file."""
    from itnet_ts.datasets import catalog

    from ._io import MissingFileError, write_table_atomic

    _check_outputs((out, "--out"), overwrite=overwrite)
    if source is not None and not source.exists():
        raise MissingFileError(f"--source {source} does not exist")
    frame = catalog.load(
        name, source=None if source is None else str(source), n_series=n_series,
        n_channels=n_channels, length=length, seed=seed, datetime=datetime, shape=shape,
    )  # fmt: skip
    write_table_atomic(frame, out, overwrite)
    if not quiet:
        typer.echo(f"{name}: {frame.height} rows written to {out}")


# ---- bench / info --------------------------------------------------------------------------


@app.command()
@_guarded
def bench(
    dataset: Annotated[
        str,
        typer.Option("--dataset", "-d", help="Datasets, comma-separated: synthetic, physionet."),
    ] = "synthetic",
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Models, comma-separated: itnet, grud, persistence, history_mean."
        ),
    ] = "itnet,persistence,history_mean",
    seeds: Annotated[
        str, typer.Option("--seeds", "--seed", help="Seeds, comma-separated: one run each.")
    ] = "0",
    epochs: Annotated[
        int, typer.Option("--epochs", "--max-epochs", help="Training epochs at most.")
    ] = 5,
    patience: Annotated[
        int, typer.Option("--patience", help="Early stopping: epochs without a better val MSE.")
    ] = 10,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for the run files, results.json and results.md."),
    ] = Path("itnet-bench"),
    force: Annotated[
        bool, typer.Option("--force", help="Rerun runs already finished in --out.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="physionet: folder of set-a/b/c.tar.gz (default: $ITNET_PHYSIONET_DIR).",
        ),
    ] = None,
    split_json: Annotated[
        Path | None,
        typer.Option(
            "--split-json", help="physionet: split file (default: DATA_DIR/split_tpatchgnn.json)."
        ),
    ] = None,
    protocol_check: Annotated[
        bool,
        typer.Option(
            "--protocol-check/--no-protocol-check",
            help="physionet: check split sizes and min / max against the published protocol.",
        ),
    ] = True,
    n_train: Annotated[int, typer.Option("--n-train", help="synthetic: training series.")] = 64,
    n_val: Annotated[
        int | None,
        typer.Option("--n-val", help="synthetic: validation series (default: --n-test)."),
    ] = None,
    n_test: Annotated[int, typer.Option("--n-test", help="synthetic: held-out test series.")] = 32,
    family: Annotated[str, typer.Option("--family", help="synthetic: family.")] = "mixed",
    length: Annotated[
        float, typer.Option("--length", help="synthetic: time span of a series.")
    ] = 100.0,
    horizon: Annotated[
        float, typer.Option("--horizon", help="synthetic: held-out horizon.")
    ] = 10.0,
    data_seed: Annotated[int, typer.Option("--data-seed", help="synthetic: seed of the draw.")] = 0,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Hyperparameter KEY=VALUE or MODEL.KEY=VALUE (repeatable), e.g. -p d_model=32 "
            "-p grud.hidden=32; a plain KEY goes to every model that has it.",
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="torch threads (default: torch's).")
    ] = None,
    json_out: JsonOut = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Benchmark models on datasets and seeds: MSE, MAE, time, memory."""
    from ._bench import run_bench

    result = run_bench(
        dataset=dataset, model=model, seeds=seeds, epochs=epochs, patience=patience,
        device=device, out=out, force=force, params=_parse_params(params), data_dir=data_dir,
        split_json=split_json, protocol_check=protocol_check,
        synthetic=dict(n_train=n_train, n_val=n_val, n_test=n_test, family=family,
                       length=length, horizon=horizon, seed=data_seed),
        threads=threads, progress=not quiet,
    )  # fmt: skip
    if json_out:
        _echo_json(result)
        return
    from itnet_ts.bench.report import markdown

    typer.echo(markdown(result["summary"]).rstrip("\n"))
    n_new = len(result["rerun"])
    typer.echo(
        f"{n_new} run(s) done, {len(result['runs']) - n_new} reused; wrote "
        f"{out / 'results.json'} and {out / 'results.md'}"
    )


@app.command()
@_guarded
def info(json_out: JsonOut = False, debug: Debug = False) -> None:
    """Versions, scan backends found, and devices."""
    import platform
    from importlib import metadata

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    import torch

    from itnet_ts.ops import available_backends

    report = {
        "itnet-ts": version("itnet-ts"),
        "python": platform.python_version(),
        **{p: version(p) for p in ("torch", "numba", "polars", "pandas", "numpy", "cupy-cuda12x")},
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "scan_backends": available_backends(),
    }
    if json_out:
        _echo_json(report)
        return
    for k, v in report.items():
        if isinstance(v, dict):
            typer.echo(f"{k}:")
            for name, status in v.items():
                typer.echo(f"  {name}: {status}")
        else:
            typer.echo(f"{k}: {v}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())

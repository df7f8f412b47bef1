"""``backtest`` and ``evaluate``: forecasts over past cutoffs, and their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._echo import echo_json, echo_table, records
from ._errors import guarded
from ._io import check_outputs, covariate_files
from ._options import (
    DataArg,
    Debug,
    IdCol,
    JsonOut,
    Level,
    MaxEpochs,
    Overwrite,
    Params,
    Quantiles,
    Quiet,
    Sample,
    Seed,
    StaticFile,
    TargetCol,
    TimeCol,
    ValueCol,
    VariableCol,
    check_h,
    columns,
    data_path,
    estimator,
    number_or_str,
    split_list,
)

# the options of `backtest` alone
WindowH = Annotated[
    str | None, typer.Option("--h", help="Horizon of each window, e.g. '12h' or 5.")
]
NWindows = Annotated[int, typer.Option("--n-windows", help="Number of cutoffs.")]
StepSize = Annotated[
    str | None, typer.Option("--step-size", help="Time between cutoffs (default: --h).")
]
Refit = Annotated[
    int,
    typer.Option(
        "--refit", help="Refit every N windows (1: every window, 0: fit once on the first)."
    ),
]
Align = Annotated[
    str,
    typer.Option(
        "--align",
        help="'global': cutoffs from the last time of all data; "
        "'series': from each series' own end.",
    ),
]
Metrics = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        help="Comma-separated metrics (default mae,mse,rmse,mase; with --level also "
        "pinball,coverage, with --quantiles also pinball).",
    ),
]
BacktestOut = Annotated[
    Path, typer.Option("--out", "-o", help="Forecasts with cutoff and actuals (.csv/.parquet).")
]


@guarded
def backtest(
    data: DataArg = None,
    h: WindowH = None,
    n_windows: NWindows = 3,
    step_size: StepSize = None,
    refit: Refit = 1,
    align: Align = "global",
    metrics: Metrics = None,
    sample: Sample = False,
    out: BacktestOut = Path("backtest.csv"),
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

    from ._io import read_table, write_table_atomic

    path = data_path(data, sample)
    if h is None:
        raise ITNetInputError("give --h, the horizon of each window")
    if refit < 0:
        raise ITNetInputError(f"--refit must be >= 0, got {refit}")
    check_outputs((out, "--out"), overwrite=overwrite)
    frame = read_table(path)
    cov = covariate_files(static, None)
    h_value = number_or_str(h)
    check_h(h_value)
    est = estimator(
        params, quiet, horizon=h_value, max_epochs=max_epochs, seed=seed,
        level=level, quantiles=quantiles,
    )  # fmt: skip
    cols = columns(id_col, time_col, target_col, variable_col, value_col)
    cv = cross_validation(
        est, frame, n_windows=n_windows, h=h_value, step_size=number_or_str(step_size),
        refit=refit, align=align, progress=not quiet, fit_kwargs=cov or None, **cols,
    )  # fmt: skip
    write_table_atomic(cv, out, overwrite)
    per_cutoff, overall = _backtest_scores(cv, metrics, est, frame, cols)
    if json_out:
        echo_json({"overall": records(overall)[0], "by_cutoff": records(per_cutoff)})
        return
    if not quiet:
        echo_table(per_cutoff)
        typer.echo("overall:")
        echo_table(overall)
        typer.echo(f"{len(cv)} forecasts over {n_windows} windows written to {out}")


def _backtest_scores(cv, metrics: str | None, est, frame, cols: dict):
    """The backtest's errors per cutoff and overall: ``--metrics``, else the defaults (and
    pinball / coverage for a probabilistic model)."""
    from itnet_ts.metrics import evaluate

    wanted = split_list(metrics) or ["mae", "mse", "rmse", "mase"]
    if metrics is None and (est.level is not None or est.quantiles is not None):
        wanted += ["pinball"] + (["coverage"] if est.level is not None else [])
    ev = dict(metrics=wanted, train_df=frame, **cols)
    return evaluate(cv, by="cutoff", **ev), evaluate(cv, **ev)


@guarded
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

    check_outputs((out, "--out"), overwrite=overwrite)
    fc = read_table(forecasts)
    act = read_table(actuals) if actuals is not None else None
    hist = read_table(train) if train is not None else None
    table = evaluate(
        fc, act, metrics=split_list(metrics), by=split_list(by), train_df=hist,
        **columns(id_col, time_col, target_col, variable_col, value_col),
    )  # fmt: skip
    if out is not None:
        write_table_atomic(table, out, overwrite)
    if json_out:
        echo_json(records(table))
    elif not quiet or out is None:
        echo_table(table, rows=50)

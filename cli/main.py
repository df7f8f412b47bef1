"""The ``itnet-ts`` command line. Heavy imports happen inside commands so ``--help`` is instant.

Exit codes: 0 success; 1 unexpected error; 2 usage error; 3 invalid input data or arguments;
4 a named input file does not exist; 5 a model file is invalid or incompatible;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="itnet-ts",
    help="Forecast irregularly sampled time series with ITNet (no resampling).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_UNEXPECTED, EXIT_INPUT, EXIT_MISSING, EXIT_MODEL, EXIT_INTERRUPTED = 1, 3, 4, 5, 130

IdCol = Annotated[str, typer.Option("--id-col", help="Series id column.")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Timestamp column.")]
TargetCol = Annotated[str, typer.Option("--target-col", help="Value column of a long frame.")]
VariableCol = Annotated[
    str | None, typer.Option("--variable-col", help="Channel-name column of a tidy frame.")
]
ValueCol = Annotated[str | None, typer.Option("--value-col", help="Value column of a tidy frame.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or preview.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]


def _fail(exc: BaseException, debug: bool) -> typer.Exit:
    """Print one clear line for ``exc`` (a traceback with --debug); return the exit."""
    from itnet_ts.errors import ITNetError, ITNetModelFileError

    from ._io import MissingFileError

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return typer.Exit(EXIT_INTERRUPTED)
    typer.echo(f"error: {exc}", err=True)
    if isinstance(exc, MissingFileError):
        return typer.Exit(EXIT_MISSING)
    if isinstance(exc, ITNetModelFileError):
        return typer.Exit(EXIT_MODEL)
    if isinstance(exc, ITNetError | ValueError):
        return typer.Exit(EXIT_INPUT)
    return typer.Exit(EXIT_UNEXPECTED)


@app.command()
def forecast(
    data: Annotated[
        Path | None, typer.Argument(help="History: a .parquet or .csv file (long, wide or tidy).")
    ] = None,
    h: Annotated[
        str | None, typer.Option("--h", help="Horizon, e.g. '24h', or a number of time units.")
    ] = None,
    times: Annotated[
        Path | None,
        typer.Option("--times", help="File of explicit query times (id, time[, variable])."),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Use the small sample bundled with itnet-ts.")
    ] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")] = Path(
        "forecast.csv"
    ),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
    save_model: Annotated[
        Path | None, typer.Option("--save-model", help="Also save the fitted model here.")
    ] = None,
    max_epochs: Annotated[int, typer.Option("--max-epochs", help="Training epochs at most.")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    id_col: IdCol = "unique_id",
    time_col: TimeCol = "ds",
    target_col: TargetCol = "y",
    variable_col: VariableCol = None,
    value_col: ValueCol = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fit ITNet on DATA and forecast after the end of every series (the main job)."""
    try:
        _forecast(**locals())
    except (Exception, KeyboardInterrupt) as exc:
        raise _fail(exc, debug) from None


def _forecast(
    data, h, times, sample, out, overwrite, save_model, max_epochs, seed, id_col, time_col,
    target_col, variable_col, value_col, quiet, debug,
) -> None:
    from itnet_ts.errors import ITNetInputError

    from ._io import read_table, write_table_atomic

    if sample == (data is not None):
        raise ITNetInputError("give a DATA file or --sample (exactly one)")
    if (h is None) == (times is None):
        raise ITNetInputError("give exactly one of --h (a horizon) or --times FILE")
    # check outputs before the (long) fit so a clash fails fast
    for target, what in ((out, "--out"), (save_model, "--save-model")):
        if target is not None and target.exists() and not overwrite:
            raise ITNetInputError(f"{what} {target} already exists; pass --overwrite to replace it")
    if sample:
        from itnet_ts.datasets import sample_path

        data = sample_path()
    frame = read_table(data)
    query_frame = read_table(times) if times is not None else None
    h_value = _number_or_str(h)

    from itnet_ts.estimators import ITNetForecaster

    est = ITNetForecaster(
        horizon=h_value, max_epochs=max_epochs, random_state=seed, verbose=not quiet
    )
    cols = dict(
        id_col=id_col, time_col=time_col, target_col=target_col,
        variable_col=variable_col, value_col=value_col,
    )
    est.fit(frame, **cols)
    pred = est.predict(h=h_value) if h is not None else est.predict(times=query_frame)
    write_table_atomic(pred, out, overwrite)
    if save_model is not None:
        est.save(save_model, overwrite=overwrite)
    if not quiet:
        import polars as pl

        with pl.Config(tbl_rows=8):
            typer.echo(pred.head(8))
        summary = est.get_fitted_summary()
        typer.echo(
            f"{len(pred)} forecasts for {summary['n_series']} series written to {out}"
            + (f"; model saved to {save_model}" if save_model else "")
        )


def _number_or_str(value: str | None):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


@app.command()
def info(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Versions, scan backends found, and devices."""
    import json
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
        typer.echo(json.dumps(report, indent=2))
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

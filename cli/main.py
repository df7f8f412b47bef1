"""The ``itnet-ts`` command line: the app and its commands, each from its own module.

Heavy imports happen inside commands so ``--help`` is instant. Every output (forecasts, model
files, metric tables, plots) is written to a temporary file in the target folder and renamed
into place, so an interrupted command never leaves a partial file, and an existing file is
replaced only with ``--overwrite``. Errors are one line and an exit code (see ``_errors.py``).

Where things live: ``_options.py`` (option declarations shared by commands, parsing of their
values), ``_errors.py`` (exit codes, error lines), ``_io.py`` (files), ``_echo.py``
(tables and JSON printed); the commands: ``_train.py`` (forecast, fit, predict),
``_backtest.py`` (backtest, evaluate), ``_plot.py``, ``_datasets.py``, ``_bench.py``,
``_info.py``.
"""

from __future__ import annotations

import sys

import typer

from ._backtest import backtest, evaluate_cmd
from ._bench import bench
from ._datasets import datasets_app
from ._info import info
from ._plot import plot
from ._train import fit, forecast, predict

__all__ = ["app", "main"]

app = typer.Typer(
    name="itnet-ts",
    help="Forecast irregularly sampled time series with ITNet (no resampling).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_app, name="datasets")
for command in (forecast, fit, predict, backtest):
    app.command()(command)
app.command("evaluate")(evaluate_cmd)
for command in (plot, bench, info):
    app.command()(command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())

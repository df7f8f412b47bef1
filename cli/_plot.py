"""``plot``: history and forecasts drawn to an image file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._errors import guarded
from ._io import check_new_file, check_outputs
from ._options import (
    DataArg,
    Debug,
    IdCol,
    Overwrite,
    Quiet,
    Sample,
    TargetCol,
    TimeCol,
    ValueCol,
    VariableCol,
    columns,
    data_path,
    number_or_str,
    split_list,
)


def _save_figure(fig, out: Path, overwrite: bool) -> None:
    from itnet_ts._files import atomic_write
    from itnet_ts.errors import ITNetInputError

    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
        raise ITNetInputError(f"--out {out}: unknown image type {suffix!r}; use .png, .svg or .pdf")
    check_new_file(out, overwrite)
    with atomic_write(out) as tmp:
        fig.savefig(tmp, dpi=110, format=suffix.lstrip(".").replace("jpg", "jpeg"))


def _typed_ids(wanted_ids: list[str] | None, hist, id_col: str) -> list | None:
    """``--ids`` as the history's id type (integers for an integer id column)."""
    if wanted_ids is not None and id_col in hist.columns:
        if hist.schema[id_col].is_integer():
            return [int(i) for i in wanted_ids]
    return wanted_ids


@guarded
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

    path = data_path(data, sample)
    check_outputs((out, "--out"), overwrite=overwrite)
    hist = read_table(path)
    fc = read_table(forecast_file) if forecast_file is not None else None
    fig = plot_forecast(
        hist, fc, ids=_typed_ids(split_list(ids), hist, id_col), channels=split_list(channels),
        max_series=max_series,
        lookback=number_or_str(lookback),
        **columns(id_col, time_col, target_col, variable_col, value_col),
    )  # fmt: skip
    try:
        _save_figure(fig, out, overwrite)
    finally:
        plt.close(fig)
    if not quiet:
        typer.echo(f"plot written to {out}")

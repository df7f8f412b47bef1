"""``datasets list | describe | write``: the datasets itnet-ts knows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._echo import echo_json
from ._errors import guarded
from ._io import check_outputs
from ._options import (
    Debug,
    JsonOut,
    OutTable,
    Overwrite,
    Quiet,
    Seed,
)

datasets_app = typer.Typer(
    help="List, describe and write the datasets itnet-ts knows.",
    no_args_is_help=True,
    add_completion=False,
)


@datasets_app.command("list")
@guarded
def list_datasets(json_out: JsonOut = False, debug: Debug = False) -> None:
    """List the bundled sample, synthetic families and file loaders."""
    from itnet_ts.datasets.catalog import CATALOG

    rows = [info.to_dict() for info in CATALOG.values()]
    if json_out:
        echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r['kind']:<9}  {r['summary']}")


@datasets_app.command("describe")
@guarded
def describe(
    name: Annotated[str, typer.Argument(help="A name from `itnet-ts datasets list`.")],
    source: Annotated[
        Path | None, typer.Option("--source", help="Downloaded files, for the file loaders.")
    ] = None,
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Describe a dataset: what it is, where to get it, its size."""
    from itnet_ts.data._describe import describe_frame
    from itnet_ts.datasets import catalog

    info = catalog.get(name)
    report: dict[str, Any] = info.to_dict()
    if not info.needs_source or source is not None:
        if source is not None and not source.exists():
            from ._io import MissingFileError

            raise MissingFileError(f"--source {source} does not exist")
        frame = catalog.load(name, source=None if source is None else str(source))
        report["stats"] = describe_frame(frame)
    if json_out:
        echo_json(report)
        return
    for key, value in report.items():
        if key == "stats":
            typer.echo("stats:")
            for k, v in value.items():
                typer.echo(f"  {k}: {v}")
        elif value not in ("", False):
            typer.echo(f"{key}: {value}")


@datasets_app.command("write")
@guarded
def write(
    name: Annotated[str, typer.Argument(help="A name from `itnet-ts datasets list`.")],
    out: OutTable,
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

    check_outputs((out, "--out"), overwrite=overwrite)
    if source is not None and not source.exists():
        raise MissingFileError(f"--source {source} does not exist")
    frame = catalog.load(
        name, source=None if source is None else str(source), n_series=n_series,
        n_channels=n_channels, length=length, seed=seed, datetime=datetime, shape=shape,
    )  # fmt: skip
    write_table_atomic(frame, out, overwrite)
    if not quiet:
        typer.echo(f"{name}: {frame.height} rows written to {out}")

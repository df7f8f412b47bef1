"""What the commands print: tables (polars, 4 decimals) and JSON."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["echo_json", "echo_table", "records"]


def _jsonable(value):
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def records(df) -> list[dict[str, Any]]:
    """A polars frame as JSON-able rows (NaN / infinity as null)."""
    return [{k: _jsonable(v) for k, v in row.items()} for row in df.to_dicts()]


def echo_table(df, rows: int = 20) -> None:
    import polars as pl

    with pl.Config(
        tbl_rows=rows, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
        float_precision=4, tbl_width_chars=120,
    ):  # fmt: skip
        typer.echo(df)


def echo_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=2, default=str))

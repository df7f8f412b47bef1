"""USHCN daily climate subset of GRU-ODE-Bayes (``small_chunked_sporadic.csv``) as a tidy frame.

The file (De Brouwer et al., 2019, github.com/edebrouwer/gru_ode_bayes,
``gru_ode_bayes/datasets/Climate/``) is a wide table, one row per station and time::

    ID,Time,Value_0,Value_1,Value_2,Value_3,Value_4,Mask_0,Mask_1,Mask_2,Mask_3,Mask_4
    0,1.87,-0.37,0.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,0.0

``Value_k`` is observed where ``Mask_k`` is 1 (values already z-scored by the preprocessing).
The t-PatchGNN benchmark reads it with the first column as the series id and converts
``Time`` (0 .. 200 over four years) to months, ``Time * 48 / 200``; its 24-month history /
1-month target windows are on that axis. (Its code comments name the five channels SNOW,
SNWD, PRCP, TMAX, TMIN; the file itself does not, so the variables keep the column names.)
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = ["MONTHS_PER_TIME_UNIT", "load_ushcn"]

FILE_NAME = "small_chunked_sporadic.csv"
#: ``Time`` spans 200 units over 48 months in the GRU-ODE-Bayes file.
MONTHS_PER_TIME_UNIT = 48.0 / 200.0


def load_ushcn(path: str | os.PathLike[str], *, months: bool = True) -> pl.DataFrame:
    """Load ``small_chunked_sporadic.csv`` (or a folder holding it) as ``unique_id, ds, variable, value``.

    ``ds`` is in months (``Time * 48 / 200``, as the benchmark) or, with ``months=False``, the
    file's ``Time``. Only entries whose mask is 1 are kept; an entry given twice for the same
    station, time and variable is averaged. Rows sorted by station id, time and variable.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / FILE_NAME
    scale = MONTHS_PER_TIME_UNIT if months else 1.0
    return wide_masked_csv_to_tidy(file, time_scale=scale, what="USHCN")


def wide_masked_csv_to_tidy(
    file: Path, *, what: str, time_scale: float = 1.0, time_divisor: float = 1.0
) -> pl.DataFrame:
    """The GRU-ODE-Bayes wide format (id, ``Time``, ``Value_k``, ``Mask_k``) as a tidy frame.

    The first column is the series id (whatever its name); ``ds = Time * time_scale /
    time_divisor``. Columns other than id, ``Time``, ``Value*`` and ``Mask*`` are ignored.
    """
    wide, id_col, values, masks = _read_wide_masked(file, what)
    long = _observed_entries(wide, id_col, values, masks, file, what)
    names = pl.DataFrame(
        {"_var": pl.Series(range(len(values)), dtype=pl.Int64), "variable": values}
    )
    return (
        long.group_by("_id", "_time", "_var")
        .agg(pl.col("value").mean())
        .join(names, on="_var", how="left")
        .sort("_id", "_time", "_var")  # ids in their own type's order (numeric ids numerically)
        .select(
            unique_id=pl.col("_id").cast(pl.Utf8),
            ds=pl.col("_time") * time_scale / time_divisor,
            variable=pl.col("variable"),
            value=pl.col("value"),
        )
    )


def _read_wide_masked(file: Path, what: str) -> tuple[pl.DataFrame, str, list[str], list[str]]:
    """The file read and checked: the frame with numeric ``Time`` / values / masks, its id
    column, and the ``Value_k`` columns with their ``Mask_k`` columns."""
    if not file.is_file():
        raise ITNetInputError(f"{what} file {str(file)!r} not found")
    try:
        wide = pl.read_csv(file, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as err:
        raise ITNetInputError(f"cannot read {what} file {str(file)!r}: {err}") from err
    if wide.width < 2 or "Time" not in wide.columns[1:]:
        raise ITNetInputError(
            f"{what} file {str(file)!r}: expected columns <id>, Time, Value_k..., Mask_k...; "
            f"got {wide.columns[:8]}"
        )
    id_col = wide.columns[0]
    values = [c for c in wide.columns if c.startswith("Value")]
    if not values:
        raise ITNetInputError(f"{what} file {str(file)!r} has no Value_k columns")
    masks = ["Mask" + c[len("Value") :] for c in values]
    absent = [m for m in masks if m not in wide.columns]
    if absent:
        raise ITNetInputError(f"{what} file {str(file)!r} lacks mask column(s) {absent[:5]}")

    try:
        wide = wide.with_columns(
            pl.col("Time").cast(pl.Float64),
            pl.col(values).cast(pl.Float64),
            pl.col(masks).cast(pl.Float64),
        )
    except pl.exceptions.PolarsError as err:
        raise ITNetInputError(f"{what} file {str(file)!r}: non-numeric entries ({err})") from err
    if wide[id_col].null_count() or wide["Time"].null_count() or not wide["Time"].is_finite().all():
        raise ITNetInputError(f"{what} file {str(file)!r}: empty or non-finite id / Time entries")
    return wide, id_col, values, masks


def _observed_entries(
    wide: pl.DataFrame, id_col: str, values: list[str], masks: list[str], file: Path, what: str
) -> pl.DataFrame:
    """``_id, _time, _var, value``: one row per entry marked observed (mask not 0), which
    must hold a finite value."""
    parts = []
    for k, (v, m) in enumerate(zip(values, masks, strict=True)):
        part = wide.filter(pl.col(m).fill_null(0.0) != 0.0).select(
            pl.col(id_col).alias("_id"),
            pl.col("Time").alias("_time"),
            pl.lit(k, dtype=pl.Int64).alias("_var"),
            pl.col(v).alias("value"),
        )
        parts.append(part)
    long = pl.concat(parts)
    if long["value"].null_count() or not long["value"].is_finite().all():
        raise ITNetInputError(
            f"{what} file {str(file)!r}: an entry marked observed (mask 1) has no finite value"
        )
    return long

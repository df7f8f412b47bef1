"""File input/output for the CLI: read parquet/CSV, write atomically, never clobber."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from itnet_ts._files import atomic_write
from itnet_ts.errors import ITNetInputError

__all__ = [
    "MissingFileError",
    "check_new_file",
    "check_outputs",
    "covariate_files",
    "read_table",
    "write_table_atomic",
]


class MissingFileError(ITNetInputError):
    """An input file named on the command line does not exist."""


def read_table(path: Path, option: str | None = None):
    """Read a parquet or CSV file into a polars DataFrame (format by extension); ``option``
    (e.g. ``"--static"``) names the command-line option the file came from in errors."""
    import polars as pl

    if not path.exists():
        raise MissingFileError(f"{option or 'input file'} {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt"):
            _check_csv_field_counts(path)
            return pl.read_csv(path, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "parquet" if suffix in (".parquet", ".pq") else "CSV"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ITNetInputError(f"could not read {path} as {kind}: {first}") from None
    raise ITNetInputError(f"{path}: unknown file type {suffix!r}; use .parquet or .csv")


def _check_csv_field_counts(path: Path) -> None:
    """Every row has as many fields as the header (polars would fill a short row with nulls,
    which ingest then treats as missing values: a silently dropped row)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return  # empty file: polars gives the clearer message
        for row in reader:
            if row and len(row) != len(header):
                raise ITNetInputError(
                    f"could not read {path} as CSV: line {reader.line_num} has {len(row)} "
                    f"fields, the header has {len(header)}; fix or remove that row"
                )


def write_table_atomic(df, path: Path, overwrite: bool) -> Path:
    """Write ``df`` (polars) to ``path`` (.parquet or .csv), atomically."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise ITNetInputError(f"--out {path}: unknown file type {suffix!r}; use .parquet or .csv")
    check_new_file(path, overwrite)
    with atomic_write(path) as tmp:
        if suffix == ".csv":
            df.write_csv(tmp)
        else:
            df.write_parquet(tmp)
    return path


def check_new_file(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output file unless ``--overwrite`` was given."""
    check_outputs((path, ""), overwrite=overwrite)


def check_outputs(*targets: tuple[Path | None, str], overwrite: bool) -> None:
    """Fail fast, before any long work, when an output exists and --overwrite is not given;
    ``targets``: (path or None, the option that names it)."""
    for target, option in targets:
        if target is not None and target.exists() and not overwrite:
            raise ITNetInputError(
                f"{option} {target}".strip() + " already exists; pass --overwrite to replace it"
            )


def covariate_files(static: Path | None, futr: Path | None) -> dict[str, Any]:
    """``--static`` / ``--futr`` files read (a missing one: exit 4 naming the option), as the
    ``static_df`` / ``futr_df`` keyword arguments of those given."""
    out: dict[str, Any] = {}
    if static is not None:
        out["static_df"] = read_table(static, "--static")
    if futr is not None:
        out["futr_df"] = read_table(futr, "--futr")
    return out

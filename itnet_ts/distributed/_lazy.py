"""Forecasting a parquet dataset larger than memory, one batch of series at a time.

polars ``scan_parquet`` reads lazily: only the id column is read in full (to list the series),
then each batch of ``series_per_batch`` series is read with a filter on the id (parquet
statistics skip the row groups that cannot hold them: keep the files sorted by id for the
fastest reads), forecast, and written out before the next batch is read. Memory holds one
batch of histories and one batch of forecasts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from itnet_ts._files import atomic_write
from itnet_ts.errors import ITNetInputError

__all__ = ["predict_parquet", "scan_dataset"]

_OUT_SUFFIXES = (".parquet", ".pq", ".csv")


def scan_dataset(source, columns: list[str] | None = None) -> pl.LazyFrame:
    """A lazy frame over a parquet file, a folder of parquet files (hive layout
    ``key=value/`` folders included), a glob, or a list of files; only those of ``columns``
    it has are read."""
    lf = _scan(source)
    if columns is None:
        return lf
    return lf.select([c for c in lf.collect_schema().names() if c in columns])


_PARQUET = (".parquet", ".pq", ".parq")


def check_parquet_source(source) -> None:
    """Fail clearly on a missing path or a file that is not parquet (e.g. a CSV)."""
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    for p in paths:
        path = Path(p)
        if "://" in str(p) or any(ch in str(p) for ch in "*?["):
            continue  # a URL (s3://...) or a glob: the reader says if nothing is there
        if not path.exists():
            raise FileNotFoundError(f"parquet dataset {path} does not exist")
        if path.is_file() and path.suffix.lower() not in _PARQUET:
            raise ITNetInputError(
                f"{path} is not a parquet file ({path.suffix or 'no suffix'}); batched and Dask "
                "forecasting read parquet datasets: convert it, e.g. "
                "pl.read_csv(path).write_parquet('data.parquet')"
            )


def _scan(source) -> pl.LazyFrame:
    if isinstance(source, (str, os.PathLike)):
        check_parquet_source(source)
        if Path(source).is_dir():
            return pl.scan_parquet(Path(source), hive_partitioning=True)
        return pl.scan_parquet(os.fspath(source))  # a file, a glob or a URL, as given
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        check_parquet_source(source)
        return pl.scan_parquet([str(p) for p in source])
    raise ITNetInputError(
        f"source must be a parquet path, folder, glob or list of paths, got {type(source).__name__}"
    )


def predict_parquet(
    model,
    source,
    out=None,
    *,
    h: str | float,
    freq: str | float | None = None,
    series_per_batch: int = 1000,
    overwrite: bool = False,
    progress: bool = False,
):
    """Forecast every series of a parquet dataset, ``series_per_batch`` series at a time.

    Args:
        model: a fitted ``ITNetForecaster`` or the path of a saved one.
        source: parquet file, folder (hive layout ``key=value/`` included), glob or list of
            files, in the columns the model was fit with.
        out: ``.parquet`` or ``.csv`` file to write the forecasts to (atomically: a temporary
            file renamed into place once every batch is written); None returns them.
        h, freq: horizon and query spacing, as in ``ITNetForecaster.predict``.
        series_per_batch: series read and forecast at once (bounds the memory).
        overwrite: replace ``out`` if it exists.

    Returns:
        The forecasts as a polars frame (``out=None``; the same rows, in the same order, as
        ``model.predict(h=h, df=<the whole dataset>)``), or the path written.
    """
    from itnet_ts.distributed._model import as_forecaster, model_columns

    if not isinstance(series_per_batch, int) or series_per_batch < 1:
        raise ITNetInputError(f"series_per_batch must be an integer >= 1, got {series_per_batch!r}")
    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in _OUT_SUFFIXES:
            raise ITNetInputError(f"out={out}: unknown file type; use .parquet or .csv")
        if out.exists() and not overwrite:
            raise ITNetInputError(f"{out} already exists; pass overwrite=True to replace it")
    est = as_forecaster(model)
    lf = scan_dataset(source, model_columns(est.spec_))
    id_col = est.spec_.id_col
    if id_col is None:  # one series: nothing to batch over
        batches = [lf]
    else:
        names = lf.collect_schema().names()
        if id_col not in names:
            raise ITNetInputError(
                f"the dataset has no id column {id_col!r} (the model was fit with it); "
                f"columns: {names}"
            )
        ids = lf.select(pl.col(id_col).unique()).collect().to_series().sort()
        batches = [
            lf.filter(pl.col(id_col).is_in(ids.slice(i, series_per_batch).implode()))
            for i in range(0, len(ids), series_per_batch)
        ]
    from tqdm.auto import tqdm

    bar = tqdm(batches, desc="forecasting", unit="batch", disable=not progress, leave=False)
    forecasts = (est.predict(h=h, freq=freq, df=b.collect()) for b in bar)
    if out is None:
        frames = list(forecasts)
        return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return _write_stream(forecasts, out, overwrite)


def _write_stream(frames, out: Path, overwrite: bool) -> Path:
    """Write polars frames one after another to ``out`` (parquet or CSV), atomically: nothing
    is left behind on error, and an existing file is replaced only when ``overwrite``."""
    with atomic_write(out, overwrite=overwrite) as tmp:
        if out.suffix.lower() == ".csv":
            with open(tmp, "wb") as f:
                for i, frame in enumerate(frames):
                    frame.write_csv(f, include_header=i == 0)
        else:
            _write_parquet_stream(frames, tmp)
    return out


def _write_parquet_stream(frames, file: Path) -> None:
    import pyarrow.parquet as pq

    writer = schema = None
    try:
        for frame in frames:
            table = frame.to_arrow()
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(file, schema)
            writer.write_table(table.cast(schema))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no series at all: an empty file
        pl.DataFrame().write_parquet(file)

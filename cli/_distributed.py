"""``itnet-ts predict`` beyond one in-memory frame: on Dask (``--workers N`` for a local
cluster, ``--scheduler ADDRESS`` for a running one) or lazily in batches of series
(``--series-per-batch N``). Dask is imported only here, only when asked for."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from itnet_ts.errors import ITNetInputError

__all__ = ["predict_scaled"]

_TABLE_SUFFIXES = (".parquet", ".pq", ".csv")


def predict_scaled(
    model: Path,
    data: Path,
    *,
    h,
    freq,
    out: Path,
    overwrite: bool,
    workers: int | None,
    scheduler: str | None,
    series_per_batch: int | None,
    quiet: bool,
) -> None:
    """Forecast ``data`` (a parquet file, folder or glob) with the model file ``model``."""
    if workers is not None and scheduler is not None:
        raise ITNetInputError("give --workers N (a local cluster) or --scheduler ADDRESS, not both")
    if workers is None and scheduler is None:
        _predict_in_batches(model, data, h, freq, out, overwrite, series_per_batch, quiet)
        return
    if series_per_batch is not None:
        raise ITNetInputError(
            "--series-per-batch is for one process; with --workers / --scheduler each "
            "partition of DATA is one task"
        )
    if workers is not None and workers < 1:
        raise ITNetInputError(f"--workers must be >= 1, got {workers}")
    cluster, client = _dask_client(workers, scheduler)
    try:
        _predict_on_dask(client, model, data, h, freq, out, overwrite, quiet)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _predict_in_batches(model, data, h, freq, out: Path, overwrite, series_per_batch, quiet):
    """One process, reading ``data`` lazily ``series_per_batch`` series at a time."""
    from itnet_ts.distributed import predict_parquet

    if out.suffix.lower() not in _TABLE_SUFFIXES:
        raise ITNetInputError(f"--out {out}: unknown file type; use .parquet or .csv")
    predict_parquet(
        model, data, out, h=h, freq=freq, series_per_batch=series_per_batch,
        overwrite=overwrite, progress=not quiet,
    )  # fmt: skip
    if not quiet:
        typer.echo(f"forecasts written to {out}")


def _dask_client(workers: int | None, scheduler: str | None):
    """``(cluster, client)``: a local cluster of ``workers`` processes, or (``None``, a client
    of the running cluster at ``scheduler``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ITNetInputError(
            "--workers / --scheduler need Dask: pip install 'itnet-ts[dask]'"
        ) from None
    if workers is None:
        return None, Client(scheduler)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )  # fmt: skip
    return cluster, Client(cluster)


def _predict_on_dask(client, model, data, h, freq, out: Path, overwrite, quiet) -> None:
    """Forecast on the cluster: gathered into one file (``--out`` .parquet / .csv), or each
    worker writing its partitions' files into the folder ``out``."""
    from itnet_ts.distributed import predict

    if out.suffix.lower() in _TABLE_SUFFIXES:  # one file, gathered here
        import polars as pl

        from ._io import write_table_atomic

        frame = predict(model, data, h=h, freq=freq, client=client).compute()
        pred = pl.from_pandas(frame)
        write_table_atomic(pred, out, overwrite)
        if not quiet:
            typer.echo(f"{len(pred)} forecasts written to {out}")
    else:  # a folder: each worker writes its partitions' files
        written = predict(model, data, h=h, freq=freq, client=client, out=out,
                          overwrite=overwrite)  # fmt: skip
        if not quiet:
            typer.echo(f"{len(written)} partition files written to {out}/")

"""Batch forecasting on Dask: one task per partition, the model shipped once per worker.

Dask does all the scheduling (no cluster code here): the data are a Dask DataFrame, each
partition is forecast by ``ITNetForecaster.predict(df=partition)`` in a task, and the fitted
model travels as the bytes of its own model file, scattered once to every worker
(``Client.scatter(..., broadcast=True)``) and loaded once per worker process.

A series split across partitions would be forecast from part of its history, so partitions
are checked first (the distinct ids of each partition, counted) and, if any id is in two of
them, the frame is shuffled by id (``DataFrame.shuffle(on=id)``) so that each series lies in
one partition.
"""

from __future__ import annotations

import os
from pathlib import Path

from itnet_ts.errors import ITNetInputError

__all__ = ["predict"]

_SPLIT = ("check", "shuffle", "trust")
_PART = "part-{:05d}.parquet"


def _dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ITNetInputError(
            "itnet_ts.distributed.predict needs Dask: pip install 'itnet-ts[dask]'"
        ) from None
    return dask, dd


def _client(client):
    """The given client, else the current default ``dask.distributed`` client, else None
    (the local threaded scheduler)."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    try:
        return default_client()
    except ValueError:  # no client started
        return None


def as_dask_frame(data, npartitions: int | None = None, columns: list[str] | None = None):
    """A Dask DataFrame from a Dask DataFrame, a parquet path / folder (hive layout
    included) / glob / list of paths (read in those of ``columns`` it has), or a pandas /
    polars frame (split in ``npartitions``)."""
    _, dd = _dask()
    if isinstance(data, dd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)) or (
        isinstance(data, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in data)
    ):
        from itnet_ts.distributed._lazy import check_parquet_source

        check_parquet_source(data)
        paths = [str(p) for p in data] if isinstance(data, (list, tuple)) else str(data)
        ddf = dd.read_parquet(paths)
        if columns is not None:
            ddf = ddf[[c for c in ddf.columns if c in columns]]
        return ddf
    try:
        import polars as pl

        if isinstance(data, pl.DataFrame):
            data = data.to_pandas()
    except ImportError:  # pragma: no cover
        pass
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return dd.from_pandas(data, npartitions=npartitions or 1, sort=False)
    raise ITNetInputError(
        "data must be a Dask DataFrame, a parquet path / folder / glob, or a pandas / polars "
        f"frame, got {type(data).__name__}"
    )


def _distinct(ids):
    return ids.drop_duplicates()


def series_split(ddf, id_col: str) -> bool:
    """Whether some series id occurs in more than one partition of ``ddf``."""
    if ddf.npartitions < 2:
        return False
    per_part = ddf[id_col].map_partitions(_distinct, meta=ddf._meta[id_col])
    counts = per_part.value_counts().max().compute()
    return bool(counts == counts and counts > 1)  # NaN (no rows): not split


def whole_series(ddf, id_col: str, split: str = "check"):
    """``ddf`` with every series in one partition: checked (``split="check"``), shuffled by id
    unconditionally (``"shuffle"``), or taken as it is (``"trust"``)."""
    if split not in _SPLIT:
        raise ITNetInputError(f"split must be one of {list(_SPLIT)}, got {split!r}")
    if split == "trust" or (split == "check" and not series_split(ddf, id_col)):
        return ddf
    return ddf.shuffle(on=id_col, npartitions=ddf.npartitions)


def _plain_ids(part, id_col):
    """Hive partition keys come back as categoricals: give the ids their plain dtype."""
    import pandas as pd

    if id_col is not None and isinstance(part[id_col].dtype, pd.CategoricalDtype):
        part = part.assign(**{id_col: part[id_col].astype(part[id_col].cat.categories.dtype)})
    return part


def _forecast(part, raw, digest, h, freq):
    """Forecast one partition (pandas) with the model in ``raw``; None if it is empty."""
    from itnet_ts.distributed._model import forecaster_from_bytes

    if len(part) == 0:
        return None
    est = forecaster_from_bytes(raw, digest)
    return est.predict(h=h, freq=freq, df=_plain_ids(part, est.spec_.id_col))


def _predict_partition(part, raw, digest, h, freq, meta):
    pred = _forecast(part, raw, digest, h, freq)
    return meta if pred is None else pred


def _write_partition(part, raw, digest, h, freq, folder: str, index: int) -> str | None:
    """Forecast one partition and write it to ``folder/part-NNNNN.parquet`` atomically."""
    from itnet_ts._files import atomic_write

    pred = _forecast(part, raw, digest, h, freq)
    if pred is None:
        return None
    target = Path(folder) / _PART.format(index)
    with atomic_write(target) as tmp:
        pred.to_parquet(tmp, index=False)
    return str(target)


def _prepare_folder(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ITNetInputError(f"out={out} is a file; give a folder for the per-partition files")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ITNetInputError(
                f"{out} already exists and is not empty; pass overwrite=True to replace its "
                "forecast files"
            )
        for old in out.glob("part-*.parquet"):  # only files this function writes
            old.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _meta(est, ddf, h, freq):
    """An empty frame with the forecast columns and dtypes: the forecast of the first series
    of the first partition, emptied."""
    head = ddf.partitions[0].head(1000, compute=True)
    id_col = est.spec_.id_col
    if len(head) == 0:
        raise ITNetInputError("the first partition of the data is empty; repartition the data")
    head = _plain_ids(head, id_col)
    if id_col is not None:
        head = head[head[id_col] == head[id_col].iloc[0]]
    return est.predict(h=h, freq=freq, df=head).iloc[:0]


def predict(
    model,
    data,
    *,
    h: str | float,
    freq: str | float | None = None,
    out=None,
    client=None,
    split: str = "check",
    npartitions: int | None = None,
    overwrite: bool = False,
):
    """Forecast every series of ``data`` on Dask, partition by partition.

    Args:
        model: a fitted ``ITNetForecaster`` or the path of a saved one.
        data: a Dask DataFrame, a parquet dataset (file, folder -- hive layout included --,
            glob or list of files), or a pandas / polars frame (cut in ``npartitions``), in
            the columns the model was fit with.
        h, freq: horizon and query spacing, as in ``ITNetForecaster.predict``.
        out: a folder: each partition's forecasts are written to ``out/part-NNNNN.parquet``
            (atomically: temporary file, then rename) by the worker that made them. None:
            return a lazy Dask DataFrame of the forecasts.
        client: a ``dask.distributed.Client``; default: the current one, else Dask's local
            scheduler. The model is scattered to every worker of the client once.
        split: ``"check"`` (shuffle by id only if a series is split across partitions),
            ``"shuffle"`` (always) or ``"trust"`` (the caller guarantees whole series).
        overwrite: with ``out``, replace the ``part-*.parquet`` files of an existing folder.

    Returns:
        With ``out``: the paths written, one per non-empty partition. Else a Dask DataFrame
        (pandas partitions) with the columns of ``ITNetForecaster.predict``; every series'
        forecasts equal those of ``model.predict(h=h, df=<the whole frame>)``.
    """
    dask, dd = _dask()
    from itnet_ts.distributed._model import forecaster_bytes, model_columns

    est, raw, digest = forecaster_bytes(model)
    ddf = as_dask_frame(data, npartitions, model_columns(est.spec_))
    id_col = est.spec_.id_col
    meta = _meta(est, ddf, h, freq) if out is None else None  # before any shuffle
    if id_col is not None:
        if id_col not in ddf.columns:
            raise ITNetInputError(
                f"the data have no id column {id_col!r} (the model was fit with it); "
                f"columns: {list(ddf.columns)}"
            )
        ddf = whole_series(ddf, id_col, split)
    elif ddf.npartitions > 1:
        ddf = ddf.repartition(npartitions=1)  # one series: one partition
    client = _client(client)
    # the model's bytes go to every worker once; tasks receive them by reference
    model_ref = client.scatter(raw, broadcast=True, hash=False) if client is not None else raw
    parts = ddf.to_delayed()
    task = dask.delayed(_write_partition if out is not None else _predict_partition, pure=True)
    if out is not None:
        out = Path(out)
        _prepare_folder(out, overwrite)
        tasks = [task(p, model_ref, digest, h, freq, str(out), i) for i, p in enumerate(parts)]
        if client is not None:
            written = client.gather(client.compute(tasks))
        else:
            written = dask.compute(*tasks)
        return [Path(w) for w in written if w is not None]
    tasks = [task(p, model_ref, digest, h, freq, meta) for p in parts]
    return dd.from_delayed(tasks, meta=meta, verify_meta=False)

"""Batch forecasting on Dask: a LocalCluster of 2 worker processes on loopback gives the same
forecasts as in-process ``predict``, whatever the partitioning of the series, with the model
loaded once per worker."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from itnet_ts import ITNetForecaster  # noqa: E402
from itnet_ts.datasets import make_irregular  # noqa: E402
from itnet_ts.distributed import predict  # noqa: E402
from itnet_ts.distributed._dask import series_split  # noqa: E402
from itnet_ts.errors import ITNetInputError  # noqa: E402

KEY = ["unique_id", "ds", "variable"]

# dask's parquet reader calls DataFrame.reset_index(inplace=True), which pandas >= 3.1
# deprecates; the warning comes from dask's code, in this process only when a partition is
# read here (the local scheduler, or head() for the output's dtypes).
pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated"
)


@functools.cache
def _data() -> pl.DataFrame:
    return make_irregular(n_series=12, n_channels=2, length=20.0, seed=3, shape="wide")


@functools.cache
def _model() -> ITNetForecaster:
    return ITNetForecaster(
        d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False
    ).fit(_data())


def _reference(h=3.0) -> pl.DataFrame:
    return _model().predict(h=h, df=_data())


def _same(got, ref: pl.DataFrame) -> None:
    got = pl.from_pandas(got) if isinstance(got, pd.DataFrame) else got
    assert_frame_equal(got.sort(KEY), ref.sort(KEY), check_dtypes=False, rel_tol=1e-6)


def _shuffled(npartitions: int):
    """The data as a Dask DataFrame whose rows are shuffled: every series is split."""
    import dask.dataframe as dd

    pdf = _data().to_pandas().sample(frac=1.0, random_state=0).reset_index(drop=True)
    return dd.from_pandas(pdf, npartitions=npartitions, sort=False)


def test_cluster_forecasts_equal_in_process_and_model_loads_once_per_worker(client, tmp_path):
    from itnet_ts.distributed import _model as shipping

    loaded = client.run(lambda: shipping.LOADS["count"])  # the cluster is shared
    path = tmp_path / "m.itnet"
    _model().save(path)
    ddf = _shuffled(4)
    assert series_split(ddf, "unique_id")
    got = predict(path, ddf, h=3.0, client=client)
    _same(got.compute(), _reference())
    # and again from the estimator itself, into per-partition files
    written = predict(_model(), ddf, h=3.0, client=client, out=tmp_path / "out")
    assert written and all(p.parent == tmp_path / "out" for p in written)
    parts = [pl.read_parquet(p) for p in written]
    ids = [set(p["unique_id"]) for p in parts]
    assert sum(len(i) for i in ids) == len(set().union(*ids))  # each series in one file
    _same(pl.concat(parts), _reference())
    assert not list((tmp_path / "out").glob(".*.tmp"))
    # two model files over 8 partition tasks: each loaded at most once per worker process
    loads = client.run(lambda: shipping.LOADS["count"])
    delta = [loads[w] - loaded[w] for w in loads]
    assert sum(delta) > 0 and all(d <= 2 for d in delta)


def test_hive_dataset_split_by_time_is_shuffled_by_series(client, tmp_path):
    import pyarrow.dataset as ds

    folder = tmp_path / "hive"
    frame = _data().with_columns(bucket=(pl.col("ds") // 7).cast(pl.Int64))
    ds.write_dataset(frame.to_arrow(), folder, format="parquet", partitioning=["bucket"],
                     partitioning_flavor="hive")  # fmt: skip
    assert len(list(folder.iterdir())) > 1  # bucket=0/, bucket=1/, ...: series split
    written = predict(_model(), folder, h=3.0, client=client, out=tmp_path / "out")
    _same(pl.concat([pl.read_parquet(p) for p in written]), _reference())


def test_hive_dataset_partitioned_by_id_keeps_id_dtype(client, tmp_path):
    import pyarrow.dataset as ds

    ds.write_dataset(_data().to_arrow(), tmp_path / "by_id", format="parquet",
                     partitioning=["unique_id"], partitioning_flavor="hive")  # fmt: skip
    got = predict(_model(), tmp_path / "by_id", h=2.5, client=client).compute()
    _same(got, _reference(h=2.5))


def test_without_a_client_the_local_scheduler_gives_the_same(tmp_path):
    got = predict(_model(), _data(), h=3.0, npartitions=3).compute()
    _same(got, _reference())
    with pytest.raises(ITNetInputError, match="split"):
        predict(_model(), _data(), h=3.0, split="maybe")


def test_out_folder_is_not_clobbered(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ITNetInputError, match="overwrite"):
        predict(_model(), _data(), h=3.0, out=out)
    (out / "part-00007.parquet").write_text("stale")
    written = predict(_model(), _data(), h=3.0, out=out, overwrite=True, npartitions=2)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", *(p.name for p in written)]
    )
    assert (out / "notes.txt").read_text() == "mine"


def test_series_split_detection():
    import dask.dataframe as dd

    pdf = pd.DataFrame({"unique_id": ["a", "a", "b", "b", "c"], "v": np.arange(5)})
    whole = dd.from_pandas(pdf, npartitions=1)
    assert not series_split(whole, "unique_id")
    split = dd.from_pandas(pdf, npartitions=5, sort=False)
    assert series_split(split, "unique_id")


def test_import_itnet_ts_does_not_import_dask():
    code = (
        "import sys, itnet_ts, itnet_ts.distributed; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

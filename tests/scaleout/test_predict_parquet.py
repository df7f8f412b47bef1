"""Lazy input: ``predict_parquet`` reads a parquet dataset with polars ``scan_parquet`` a batch of
series at a time and gives exactly the eager ``predict`` forecasts."""

from __future__ import annotations

import functools

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular
from itnet_ts.distributed import predict_parquet
from itnet_ts.errors import ITNetInputError


@functools.cache
def _data() -> pl.DataFrame:
    return make_irregular(n_series=11, n_channels=2, length=20.0, seed=4, shape="wide")


@functools.cache
def _model() -> ITNetForecaster:
    return ITNetForecaster(
        d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False
    ).fit(_data())


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "data.parquet"
    _data().sample(fraction=1.0, shuffle=True, seed=0).write_parquet(path, row_group_size=64)
    return path


def test_batches_of_series_equal_the_eager_predict(dataset, monkeypatch):
    est = _model()
    ref = est.predict(h=3.0, df=_data())
    seen: list[int] = []
    eager = ITNetForecaster.predict

    def spy(self, *args, df=None, **kwargs):
        seen.append(df["unique_id"].n_unique())
        return eager(self, *args, df=df, **kwargs)

    monkeypatch.setattr(ITNetForecaster, "predict", spy)
    got = predict_parquet(est, dataset, h=3.0, series_per_batch=4)
    assert seen == [4, 4, 3]  # never more than series_per_batch series in memory
    assert_frame_equal(got, ref)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_writes_the_file_atomically(dataset, tmp_path, suffix):
    path = tmp_path / "m.itnet"
    _model().save(path)
    out = tmp_path / f"fc{suffix}"
    assert predict_parquet(path, dataset, out, h=2.0, series_per_batch=5) == out
    got = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out)
    ref = _model().predict(h=2.0, df=_data())
    assert_frame_equal(got, ref, check_dtypes=suffix == ".parquet")
    with pytest.raises(ITNetInputError, match="overwrite"):
        predict_parquet(path, dataset, out, h=2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["data.parquet", "m.itnet", out.name]
    )


def test_a_failing_batch_leaves_no_file(dataset, tmp_path, monkeypatch):
    calls = []
    eager = ITNetForecaster.predict

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return eager(self, *args, **kwargs)

    monkeypatch.setattr(ITNetForecaster, "predict", flaky)
    out = tmp_path / "fc.parquet"
    with pytest.raises(RuntimeError, match="worker lost"):
        predict_parquet(_model(), dataset, out, h=2.0, series_per_batch=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet"]


def test_hive_folder_with_extra_partition_key(tmp_path):
    folder = tmp_path / "hive"
    frame = _data().with_columns(bucket=(pl.col("ds") // 7).cast(pl.Int64))
    frame.write_parquet(folder, partition_by="bucket")  # bucket=0/..., every series split
    got = predict_parquet(_model(), folder, h=3.0, series_per_batch=3)
    assert_frame_equal(got, _model().predict(h=3.0, df=_data()))


def test_bad_arguments(dataset, tmp_path):
    with pytest.raises(ITNetInputError, match="series_per_batch"):
        predict_parquet(_model(), dataset, h=2.0, series_per_batch=0)
    with pytest.raises(FileNotFoundError):
        predict_parquet(_model(), tmp_path / "nope.parquet", h=2.0)
    with pytest.raises(ITNetInputError, match="file type"):
        predict_parquet(_model(), dataset, tmp_path / "fc.json", h=2.0)

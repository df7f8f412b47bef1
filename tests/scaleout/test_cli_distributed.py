"""``itnet-ts predict`` on Dask (--scheduler / --workers) and in batches of series
(--series-per-batch): the same forecasts as the plain command."""

from __future__ import annotations

import functools

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from itnet_ts import ITNetForecaster
from itnet_ts.cli.main import app
from itnet_ts.datasets import make_irregular

KEY = ["unique_id", "ds", "variable"]
runner = CliRunner()

# dask's parquet reader calls DataFrame.reset_index(inplace=True), deprecated by pandas >= 3.1
pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated"
)


@functools.cache
def _data() -> pl.DataFrame:
    return make_irregular(n_series=9, n_channels=2, length=20.0, seed=6, shape="wide")


@pytest.fixture
def files(tmp_path):
    est = ITNetForecaster(
        d_model=8, rank=2, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False
    ).fit(_data())
    est.save(tmp_path / "m.itnet")
    _data().sample(fraction=1.0, shuffle=True, seed=1).write_parquet(tmp_path / "data.parquet")
    ref = runner.invoke(app, ["predict", str(tmp_path / "m.itnet"), str(tmp_path / "data.parquet"),
                              "--h", "3", "--out", str(tmp_path / "ref.parquet"), "-q"])  # fmt: skip
    assert ref.exit_code == 0, ref.output
    return tmp_path


def _run(files, *args):
    return runner.invoke(
        app, ["predict", str(files / "m.itnet"), str(files / "data.parquet"), "--h", "3", *args]
    )


def _same(got: pl.DataFrame, files) -> None:
    ref = pl.read_parquet(files / "ref.parquet")
    assert_frame_equal(got.sort(KEY), ref.sort(KEY), check_dtypes=False, rel_tol=1e-6)


def test_series_per_batch_matches_the_plain_command(files):
    res = _run(files, "--series-per-batch", "4", "--out", str(files / "fc.parquet"), "-q")
    assert res.exit_code == 0, res.output
    _same(pl.read_parquet(files / "fc.parquet"), files)


def test_scheduler_writes_partition_files_or_one_file(files, client):
    address = client.scheduler.address
    res = _run(files, "--scheduler", address, "--out", str(files / "parts"))
    assert res.exit_code == 0, res.output
    assert "partition files written" in res.output
    _same(pl.concat([pl.read_parquet(p) for p in (files / "parts").glob("part-*.parquet")]), files)
    res = _run(files, "--scheduler", address, "--out", str(files / "one.csv"), "-q")
    assert res.exit_code == 0, res.output
    _same(pl.read_csv(files / "one.csv"), files)
    res = _run(files, "--scheduler", address, "--out", str(files / "parts"), "-q")
    assert res.exit_code == 3 and "--overwrite" in res.output  # never clobbered


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--workers", "0"], ">= 1"),
        (["--workers", "2", "--series-per-batch", "3"], "one process"),
        (["--series-per-batch", "3", "--level", "80"], "not available"),
    ],
)
def test_bad_combinations_exit_3(files, args, message):
    res = _run(files, *args, "--out", str(files / "x.parquet"))
    assert res.exit_code == 3, res.output
    assert message in res.output


def test_csv_data_needs_parquet_for_batches(files):
    _data().write_csv(files / "data.csv")
    res = runner.invoke(app, ["predict", str(files / "m.itnet"), str(files / "data.csv"), "--h",
                              "3", "--series-per-batch", "3", "--out", str(files / "x.csv")])  # fmt: skip
    assert res.exit_code == 3 and "not a parquet file" in res.output


@pytest.mark.slow
def test_workers_start_a_local_cluster(files):
    res = _run(files, "--workers", "2", "--out", str(files / "fc.parquet"), "-q")
    assert res.exit_code == 0, res.output
    _same(pl.read_parquet(files / "fc.parquet"), files)

"""One registry of dataset names (``itnet_ts.datasets.catalog``) for the catalog, the
benchmark harness and the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from itnet_ts.bench.data import DATASETS, dataset_name
from itnet_ts.datasets.catalog import BENCH_ONLY, CATALOG, bench_tasks, get
from itnet_ts.errors import ITNetInputError


def test_every_benchmark_task_is_declared_in_the_registry_and_implemented():
    assert set(bench_tasks()) == set(DATASETS)
    for task, dataset in bench_tasks().items():
        assert (dataset is None) == (task in BENCH_ONLY)
        if dataset is not None:
            assert CATALOG[dataset].bench == task


@pytest.mark.parametrize(
    ("typed", "dataset", "task"),
    [
        ("physionet2012", "physionet2012", "physionet"),
        ("physionet", "physionet2012", "physionet"),
        ("PhysioNet2012", "physionet2012", "physionet"),
        ("bursty", "bursty", "synthetic-bursty"),
        ("synthetic_few_obs", "few_obs", "synthetic-few_obs"),
        ("pbcseq", "pbcseq", "pbcseq"),
    ],
)
def test_one_name_space_for_catalog_and_benchmark(typed, dataset, task):
    assert get(typed).name == dataset
    assert dataset_name(typed) == task


def test_datasets_without_a_benchmark_task_are_refused_by_the_harness():
    assert get("ushcn").bench == ""
    with pytest.raises(ITNetInputError, match="supported: physionet, synthetic"):
        dataset_name("ushcn")
    assert dataset_name("synthetic") == "synthetic"  # a task that is no single dataset


def test_cli_describes_a_dataset_by_its_benchmark_name():
    from itnet_ts.cli.main import app

    res = CliRunner().invoke(app, ["datasets", "describe", "physionet", "--json"])
    assert res.exit_code == 0, res.output
    assert '"name": "physionet2012"' in res.output and '"bench": "physionet"' in res.output

"""The PhysioNet 2012 path of the benchmark on a tiny fake dataset in the raw challenge format
(tests/bench/conftest.py): data loading, baselines, a one-epoch ITNet run, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from itnet_ts.bench import run_model
from itnet_ts.bench.data import load_physionet
from itnet_ts.cli.main import app
from itnet_ts.datasets.physionet import load_physionet2012
from itnet_ts.datasets.protocol import baseline_forecast, physionet_protocol, protocol_metrics
from itnet_ts.errors import ITNetInputError

pytestmark = pytest.mark.usefixtures("_cache_in_tmp")
TINY = {"d_model": 8, "rank": 4, "n_layers": 1, "batch_size": 4}


@pytest.fixture(scope="module")
def data(physionet_dir, tmp_path_factory):
    return load_physionet(physionet_dir, check_published=False, cache=False)


def test_protocol_splits_and_windows(data, physionet_dir):
    assert data.sizes() == {"train": 6, "val": 3, "test": 3}
    assert len(data.variables) == 41
    assert data.unit == pytest.approx(1 / 48, rel=0.05)  # one hour; time_max close to 48 h
    frame = load_physionet2012(physionet_dir, descriptor_missing="protocol", cache=False)
    proto = physionet_protocol(frame, physionet_dir / "split_tpatchgnn.json", check_published=False)
    for s in ("train", "val", "test"):
        assert data.split(s).targets.equals(proto.split(s).targets)
        w = data.split(s).windows
        assert np.all(w.cutoff == proto.history_cutoff)
        np.testing.assert_allclose(
            w.q_target, proto.split(s).targets["value"].to_numpy()[data.split(s).perm]
        )
    # the bench's persistence is the protocol's (which reproduces the published anchors)
    rec = run_model("persistence", data, 0, epochs=1)
    want = protocol_metrics(baseline_forecast(proto, "test", "persistence"), proto.test.targets)
    assert rec["test_mse"] == want["mse"] and rec["test_mae"] == want["mae"]
    assert rec["dataset"] == "physionet" and rec["params"] == 0


def test_published_check_is_on_by_default(physionet_dir):
    with pytest.raises(ITNetInputError, match="split sizes"):
        load_physionet(physionet_dir, cache=False)


def test_itnet_runs_the_estimator_at_the_protocol_cutoffs(data):
    rec = run_model("itnet", data, 1, epochs=1, params=TINY)
    assert rec["windows"] == "protocol"
    assert np.isfinite(rec["test_mse"]) and rec["epochs_run"] == 1 and rec["params"] > 0
    assert rec["estimator"]["batch_size"] == 4 and rec["cfg"]["d_model"] == 8
    # the fitted model is checked against the baselines on the val records' targets
    n_val = int(data.val.targets.height)
    assert rec["validation"]["n_targets"] == n_val
    # fit(cutoffs=...) trains on each train record's history before 24 h only: with the
    # estimator's persistence start, an untrained-network equivalent is plain persistence
    val = protocol_metrics(baseline_forecast(data, "val", "persistence"), data.val.targets)
    v = rec["validation"]
    assert v["mse_persistence"] > 0 and val["mse"] > 0


def test_cli_physionet(physionet_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "bench"
    args = ["bench", "--dataset", "physionet", "--data-dir", str(physionet_dir),
            "--no-protocol-check", "--model", "itnet,grud,persistence,history_mean",
            "--seeds", "1,2", "--epochs", "1", "-p", "d_model=8", "-p", "rank=4",
            "-p", "n_layers=1", "-p", "grud.hidden=8",
            "--out", str(out), "--quiet", "--json"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert [r["model"] for r in report["summary"]] == [
        "itnet",
        "grud",
        "persistence",
        "history_mean",
    ]
    assert all(r["dataset"] == "physionet" and r["seeds"] == [1, 2] for r in report["summary"])
    assert len(report["rerun"]) == 8
    assert (out / "physionet" / "grud" / "seed2.json").exists()
    md = (out / "results.md").read_text()
    assert "### physionet" in md and "| grud | 1,2 |" in md

    res = runner.invoke(app, [a for a in args if a != "--json"])  # resumed: nothing rerun
    assert res.exit_code == 0, res.output
    assert "0 run(s) done, 8 reused" in res.stdout and "| itnet | 1,2 |" in res.stdout

    # without --no-protocol-check the tiny split fails the published check: exit 3
    res = runner.invoke(app, ["bench", "-d", "physionet", "--data-dir", str(physionet_dir),
                              "-m", "persistence", "--out", str(tmp_path / "b2"), "--quiet"])  # fmt: skip
    assert res.exit_code == 3
    assert "split sizes" in res.output

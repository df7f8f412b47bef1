"""Data-parallel training (``strategy="ddp"``): sharding helpers, and two real gloo processes
on loopback that must (a) take exactly the optimisation steps of one process with the same
global batch and (b) fit a forecaster that learns, written by rank 0 only.

The two-process run is spawned once per module (torch.multiprocessing, ``tcp://127.0.0.1``)
and its results checked by several tests. The torchrun + CLI run is marked slow.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from itnet_ts import ITNetForecaster
from itnet_ts.data._ingest import ingest
from itnet_ts.data._ragged import ragged_from_canonical
from itnet_ts.data._windows import (
    ValueScaler,
    concat_windows,
    make_batch,
    select_windows,
    training_windows,
)
from itnet_ts.datasets import make_irregular
from itnet_ts.errors import BaselineFallbackWarning, ITNetInputError
from itnet_ts.estimators._ddp import (
    DDPContext,
    series_windows,
    shard_indices,
    trainable_series,
)
from itnet_ts.estimators._training import fit_model
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

WORLD = 2
#: the forecaster fit under DDP: tiny, no dropout, enough epochs to learn something
LEARN = dict(
    start="persistence",  # the test watches the network learn from its start
    d_model=16, rank=4, n_layers=1, dropout=0.0, max_epochs=12, patience=12,
    windows_per_series=8, batch_size=16, learning_rate=1e-2, verbose=False,
)  # fmt: skip


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    df = make_irregular(
        n_series=16, family="damped_oscillators", n_channels=2, length=40.0, seed=1, shape="wide"
    )
    return df.filter(pl.col("ds") <= 32), df.filter(pl.col("ds") > 32)


# ---- the deterministic step-equivalence run ------------------------------------------------


def _steps_setup():
    """Model, data and 4 global batches of 8 windows, identical in every process."""
    df = make_irregular(n_series=8, n_channels=2, length=20.0, seed=5, shape="wide")
    canon, spec = ingest(df)
    ragged = ragged_from_canonical(canon, spec.channels)
    ws = training_windows(ragged, 5.0, np.random.default_rng(0), per_series=4)
    scaler = ValueScaler.fit(ragged)
    torch.manual_seed(0)
    cfg = ITNetConfig(n_channels=2, d_model=16, rank=4, n_layers=1, kernel_hidden=16, dropout=0.0)
    order = np.random.default_rng(1).permutation(len(ws))
    steps = [order[i : i + 8] for i in range(0, 32, 8)]
    return ITNet(cfg), ragged, ws, scaler, steps


def _run_steps(distributed: DDPContext | None = None) -> dict[str, torch.Tensor]:
    """One epoch of 4 AdamW steps; under DDP each rank takes every other window of each
    global batch (global batch 8 = 2 ranks x 4)."""
    model, ragged, ws, scaler, steps = _steps_setup()
    if distributed is not None:
        steps = [idx[distributed.rank :: distributed.world_size] for idx in steps]
    local = [make_batch(ragged, ws, idx, scaler, 1.0) for idx in steps]
    fit_model(
        model, lambda epoch: iter(local), None, max_epochs=1, learning_rate=1e-2, patience=1,
        device=torch.device("cpu"), progress=False, schedule="constant", distributed=distributed,
    )  # fmt: skip
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world: int, port: int, tmp: str) -> None:
    """One DDP process: the step-equivalence run, then a forecaster fit with strategy='ddp'."""
    import torch.distributed as dist
    from safetensors.torch import save_file

    warnings.simplefilter("error")  # as strict as the test suite, in the child too
    warnings.filterwarnings("ignore", category=BaselineFallbackWarning)  # as pyproject does
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        ctx = DDPContext(rank, world, torch.device("cpu"), "gloo", seed=0)
        save_file(_run_steps(ctx), str(Path(tmp) / f"steps-{rank}.safetensors"))
        train, _ = _frames()
        est = ITNetForecaster(**LEARN, strategy="ddp").fit(train)
        est.save(Path(tmp) / "ddp.itnet")  # rank 1: writes nothing
        record = {"history": est.train_result_.history, "distributed": est.distributed_}
        (Path(tmp) / f"fit-{rank}.json").write_text(json.dumps(record))
        # the group was ours: fit used it and left it alone
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """Spawn the two gloo processes once; their outputs land in the returned folder."""
    import torch.multiprocessing as mp

    tmp = tmp_path_factory.mktemp("ddp")
    before = os.environ.get("GLOO_SOCKET_IFNAME")
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only (the children inherit it)
    try:
        mp.spawn(_worker, args=(WORLD, _free_port(), str(tmp)), nprocs=WORLD, join=True)
    finally:
        if before is None:
            del os.environ["GLOO_SOCKET_IFNAME"]
        else:
            os.environ["GLOO_SOCKET_IFNAME"] = before
    return tmp


def test_ddp_steps_match_one_process_with_the_global_batch(ddp_run):
    from safetensors.torch import load_file

    single = _run_steps(None)
    init = _steps_setup()[0].state_dict()
    ranks = [load_file(str(ddp_run / f"steps-{r}.safetensors")) for r in range(WORLD)]
    moved = max(float((single[k] - init[k]).abs().max()) for k in single)
    assert moved > 1e-3  # the steps did change the weights
    for k in single:
        torch.testing.assert_close(ranks[0][k], ranks[1][k], rtol=0, atol=0)  # replicas agree
        torch.testing.assert_close(ranks[0][k], single[k], rtol=1e-4, atol=2e-5, msg=k)


def test_ddp_fit_agrees_across_ranks_and_rank0_writes(ddp_run):
    records = [json.loads((ddp_run / f"fit-{r}.json").read_text()) for r in range(WORLD)]
    assert [r["distributed"]["rank"] for r in records] == [0, 1]
    assert all(r["distributed"]["world_size"] == WORLD for r in records)
    # validation losses all-reduced: identical on both ranks, so early stopping agrees
    for key in ("train_loss", "val_loss"):
        assert [h[key] for h in records[0]["history"]] == [h[key] for h in records[1]["history"]]
    written = sorted(p.name for p in ddp_run.iterdir() if "itnet" in p.name)
    assert written == ["ddp.itnet"]  # one file, no temporary leftovers


def test_ddp_fit_learns(ddp_run):
    history = json.loads((ddp_run / "fit-0.json").read_text())["history"]
    val = [h["val_loss"] for h in history]
    assert min(val) < 0.9 * val[0]
    train, test = _frames()
    est = ITNetForecaster.load(ddp_run / "ddp.itnet")
    untrained = ITNetForecaster.load(ddp_run / "ddp.itnet")
    torch.manual_seed(0)
    untrained.model_ = ITNet(est.config_).eval()
    assert _held_out_mse(est, train, test) < 0.9 * _held_out_mse(untrained, train, test)


def _held_out_mse(est, train: pl.DataFrame, test: pl.DataFrame) -> float:
    pred = est.predict(df=train, times=test.select("unique_id", "ds"))
    actual = test.unpivot(index=["unique_id", "ds"], variable_name="variable", value_name="y")
    joined = actual.drop_nulls().join(pred, on=["unique_id", "ds", "variable"])
    assert joined.height == actual.drop_nulls().height
    return float(((joined["y"] - joined["y_hat"]) ** 2).mean())


# ---- helpers, one process ----------------------------------------------------------------------


def test_shard_indices_split_like_a_distributed_sampler():
    items = np.arange(7)
    shards = [shard_indices(items, r, 3, seed=0, epoch=0) for r in range(3)]
    assert {len(s) for s in shards} == {3}  # padded to a multiple of the world size
    assert set(np.concatenate(shards)) == set(items)
    again = [shard_indices(items, r, 3, seed=0, epoch=0) for r in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(shards, again, strict=True))
    other = np.concatenate([shard_indices(items, r, 3, seed=0, epoch=1) for r in range(3)])
    assert not np.array_equal(np.concatenate(shards), other)  # reshuffled every epoch
    tiny = [shard_indices(np.array([4]), r, 2, seed=0, epoch=0) for r in range(2)]
    assert [t.tolist() for t in tiny] == [[4], [4]]
    assert len(shard_indices(np.array([], np.int64), 0, 2, 0, 0)) == 0


def test_trainable_series_and_series_windows_match_training_windows():
    df = make_irregular(n_series=6, n_channels=2, length=10.0, seed=2, shape="wide")
    canon, spec = ingest(df)
    ragged = ragged_from_canonical(canon, spec.channels)
    end = ragged.indptr[1:].copy()
    end[1] = ragged.indptr[1] + 1  # series 1: one usable point, no window
    horizon = 2.0
    ok = trainable_series(ragged, end, horizon)
    drawn = training_windows(ragged, horizon, np.random.default_rng(0), 3, train_end=end)
    assert ok.tolist() == sorted(set(drawn.series.tolist()))
    assert 1 not in ok.tolist()
    picked = np.array([ok[0], ok[-1], ok[0]])  # repeats draw again
    ws = series_windows(ragged, end, horizon, 3, picked, np.random.default_rng(0))
    assert len(ws) == 9
    assert sorted(ws.series.tolist()) == sorted([ok[0]] * 6 + [ok[-1]] * 3)
    assert (ws.hist_end <= end[ws.series]).all()


def test_select_and_concat_windows_keep_queries_with_their_windows():
    df = make_irregular(n_series=4, n_channels=2, length=10.0, seed=2, shape="wide")
    canon, spec = ingest(df)
    ragged = ragged_from_canonical(canon, spec.channels)
    ws = training_windows(ragged, 3.0, np.random.default_rng(0), 2)
    n = len(ws)
    assert n >= 4
    even, odd = np.arange(0, n, 2), np.arange(1, n, 2)
    both = concat_windows([select_windows(ws, even), select_windows(ws, odd)])
    scaler = ValueScaler.fit(ragged)
    a = make_batch(ragged, ws, np.concatenate([even, odd]), scaler, 1.0)
    b = make_batch(ragged, both, np.arange(n), scaler, 1.0)
    for name in ("tau", "values", "q_tau", "q_chan", "y", "y_known"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name))


def test_strategy_is_validated_and_ddp_needs_a_process_group(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    df = make_irregular(n_series=3, n_channels=1, length=10.0, seed=0, shape="wide")
    with pytest.raises(ITNetInputError, match="strategy"):
        ITNetForecaster(strategy="horovod", verbose=False).fit(df)
    with pytest.raises(ITNetInputError, match="torchrun"):
        ITNetForecaster(strategy="ddp", max_epochs=1, verbose=False).fit(df)


def test_single_process_fit_records_no_distribution_and_saves(tmp_path):
    df = make_irregular(n_series=3, n_channels=1, length=10.0, seed=0, shape="wide")
    est = ITNetForecaster(d_model=8, rank=2, n_layers=1, max_epochs=1, verbose=False).fit(df)
    assert est.distributed_ is None
    est.save(tmp_path / "m.itnet")
    assert (tmp_path / "m.itnet").exists()
    est.distributed_ = {"rank": 1, "world_size": 2, "backend": "gloo"}  # as on rank 1
    est.save(tmp_path / "other.itnet")
    assert not (tmp_path / "other.itnet").exists()


# ---- torchrun + the CLI (slow: three fresh Python processes) --------------------------------


@pytest.mark.slow
def test_torchrun_cli_fit_writes_one_model(tmp_path):
    train, _ = _frames()
    data = tmp_path / "data.parquet"
    train.write_parquet(data)
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "itnet_ts.cli", "fit", str(data), "--out", str(tmp_path / "model.itnet"),
        "--max-epochs", "2", "-p", "d_model=8", "-p", "rank=2", "-p", "n_layers=1",
        "--json", "--quiet",
    ]  # fmt: skip
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)  # rank 0 alone reports
    assert summary["model"].endswith("model.itnet")
    est = ITNetForecaster.load(tmp_path / "model.itnet")
    assert est.n_series_ == train["unique_id"].n_unique()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet", "model.itnet"]

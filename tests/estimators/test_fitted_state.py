"""The fitted state (``_state.FittedState``): one object set by ``fit`` and ``load``, read by
``predict`` and ``update``; a refit drops the stream cache of ``update``; ``fit`` leaves the
caller's torch random state alone; the DDP process group is destroyed even when a fit fails."""

from __future__ import annotations

import dataclasses
import socket

import numpy as np
import polars as pl
import pytest
import torch

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular
from itnet_ts.estimators._ddp import ddp_group
from itnet_ts.estimators._engine import SingleProcess, training_strategy
from itnet_ts.estimators._state import FittedState

FAST = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return make_irregular(n_series=4, n_channels=2, length=20.0, seed=3, shape="wide")


@pytest.fixture(scope="module")
def fitted(frame) -> ITNetForecaster:
    return ITNetForecaster(**FAST).fit(frame)


def test_fit_sets_every_field_of_the_state(fitted):
    state = FittedState.of(fitted)
    for f in dataclasses.fields(FittedState):
        assert hasattr(fitted, f"{f.name}_"), f.name
    assert fitted.channels_ == state.spec.channels == ("ch0", "ch1")
    assert state.history is fitted.history_ and state.history.n_series == state.n_series == 4
    assert state.distributed is None  # one process
    assert state.config.n_channels == 2 and state.model.cfg is state.config
    assert {"start", "periodic"} <= set(state.validation)


def test_load_sets_the_same_state_without_the_data(fitted, tmp_path):
    fitted.save(tmp_path / "m.itnet")
    loaded = ITNetForecaster.load(tmp_path / "m.itnet")
    a, b = FittedState.of(fitted), FittedState.of(loaded)
    assert b.history is None
    for name in ("spec", "time_unit", "horizon", "n_series", "quantile_plan", "config"):
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.scaler.loc, b.scaler.loc)
    np.testing.assert_array_equal(a.scaler.scale, b.scaler.scale)
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[k], v, rtol=0, atol=0)


def test_a_refit_drops_the_stream_cache(frame):
    est = ITNetForecaster(**FAST).fit(frame.filter(pl.col("ds") <= 15))
    est.update(frame.filter(pl.col("ds") > 15))
    assert "_stream_cache" in est.__dict__
    est.fit(frame)
    assert "_stream_cache" not in est.__dict__


def test_fit_leaves_the_callers_random_state_alone(frame):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = ITNetForecaster(**FAST, random_state=7).fit(frame).predict(h=2.0)
    assert torch.equal(torch.rand(3), expected)  # as if fit had not run
    torch.manual_seed(999)  # another global state: the same seed gives the same model
    again = ITNetForecaster(**FAST, random_state=7).fit(frame).predict(h=2.0)
    assert first.equals(again)


def test_single_process_strategy(frame):
    with training_strategy("single", torch.device("cpu"), seed=0) as strategy:
        assert isinstance(strategy, SingleProcess) and strategy.distributed is None
        assert strategy.local_batch(64) == 64 and strategy.summary() is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_group_is_destroyed_when_the_fit_fails(monkeypatch):
    dist = torch.distributed
    if not dist.is_available() or dist.is_initialized():
        pytest.skip("needs torch.distributed and no process group yet")
    env = dict(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    for k, v in {**env, "GLOO_SOCKET_IFNAME": "lo"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(RuntimeError, match="boom"):
        with ddp_group(torch.device("cpu"), seed=0) as ctx:
            assert dist.is_initialized() and ctx.world_size == 1
            raise RuntimeError("boom")
    assert not dist.is_initialized()

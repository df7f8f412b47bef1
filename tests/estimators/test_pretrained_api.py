"""``ITNetForecaster.pretrained()`` (issue 13): the shipped checkpoint loads, forecasts any
channels / names / time units zero-shot, finitely and deterministically, with intervals; and
``fit(df, finetune="head")`` trains only the head and channel adapter."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from itnet_ts import ITNetForecaster
from itnet_ts.datasets import make_irregular, train_test_cut
from itnet_ts.errors import ITNetInputError
from itnet_ts.model.universal import UniversalITNet
from itnet_ts.model.universal_io import DEFAULT_CHECKPOINT, load_universal


def _frame(n_channels: int, n_series: int = 4, seed: int = 0) -> pl.DataFrame:
    df = make_irregular(n_series=n_series, n_channels=n_channels, length=30.0, seed=seed,
                        shape="tidy")  # fmt: skip
    return train_test_cut(df, 5.0)[0]


def test_shipped_checkpoint_loads_and_is_small():
    model, meta = load_universal(DEFAULT_CHECKPOINT)
    assert isinstance(model, UniversalITNet)
    assert len(meta["sha256"]) == 64
    assert "PhysioNet" not in meta["recipe"]["corpus"] or "no PhysioNet" in meta["recipe"]["corpus"]
    n = sum(p.numel() for p in model.parameters())
    assert 4 * n < 5e6  # float32 weights: a few MB at most


@pytest.mark.parametrize("n_channels", [1, 50])
def test_zero_shot_any_channels_finite_deterministic(n_channels):
    hist = _frame(n_channels, n_series=3)
    est = ITNetForecaster.pretrained(verbose=False)
    a = est.predict(df=hist, h=3.0)
    b = est.predict(df=hist, h=3.0)
    assert a.height > 0 and set(a["variable"].unique()) == set(hist["variable"].unique())
    assert np.isfinite(a["y_hat"].to_numpy()).all()
    assert a.equals(b)


def test_unseen_names_and_time_units():
    hist = _frame(3)
    names = {"ch0": "heart rate", "ch1": "x", "ch2": "glucose mg/dL"}
    renamed = hist.with_columns(
        pl.col("variable").replace(names), ("patient-" + pl.col("unique_id")).alias("unique_id")
    )
    est = ITNetForecaster.pretrained(verbose=False)
    keys = ["unique_id", "ds", "variable"]
    base = est.predict(df=hist, h=3.0).sort(keys)
    named = est.predict(df=renamed, h=3.0).with_columns(
        pl.col("variable").replace({v: k for k, v in names.items()}),
        pl.col("unique_id").str.strip_prefix("patient-"),
    )
    named = named.sort(keys)
    assert named.select(keys).equals(base.select(keys))
    np.testing.assert_allclose(
        named["y_hat"].to_numpy(), base["y_hat"].to_numpy(), rtol=1e-5, atol=1e-6
    )
    # the same series in days instead of hours: same forecasts at the same instants
    days = hist.with_columns(pl.col("ds") / 24.0)
    q = hist.group_by("unique_id").agg(pl.col("ds").max() + 1.5)
    a = est.predict(df=hist, times=q)
    b = est.predict(df=days, times=q.with_columns(pl.col("ds") / 24.0))
    key = ["unique_id", "variable"]  # times= without a variable: every channel
    a, b = a.sort(key), b.sort(key)
    np.testing.assert_allclose(b["y_hat"].to_numpy(), a["y_hat"].to_numpy(), rtol=1e-4, atol=1e-5)


def test_scale_equivariance_end_to_end():
    hist = _frame(2)
    est = ITNetForecaster.pretrained(verbose=False)
    a = est.predict(df=hist, h=3.0)
    b = est.predict(df=hist.with_columns(pl.col("value") * 1000.0 + 5.0), h=3.0)
    np.testing.assert_allclose(b["y_hat"].to_numpy(), a["y_hat"].to_numpy() * 1000.0 + 5.0,
                               rtol=1e-4, atol=1e-2)  # fmt: skip


def test_zero_shot_intervals_and_errors():
    hist = _frame(2)
    p = ITNetForecaster.pretrained(level=[80, 95], verbose=False).predict(df=hist, h=3.0)
    lo95, lo80, hi80, hi95 = (p[c].to_numpy() for c in
                              ("y_hat-lo-95", "y_hat-lo-80", "y_hat-hi-80", "y_hat-hi-95"))  # fmt: skip
    y = p["y_hat"].to_numpy()
    assert (lo95 <= lo80).all() and (lo80 <= y).all() and (y <= hi80).all() and (hi80 <= hi95).all()
    with pytest.raises(ITNetInputError, match="gives the quantiles"):
        ITNetForecaster.pretrained(level=[60], verbose=False).predict(df=hist, h=3.0)
    with pytest.raises(ITNetInputError, match="holds no data"):
        ITNetForecaster.pretrained(verbose=False).predict(h=3.0)
    with pytest.raises(ITNetInputError, match="finetune= needs a pretrained"):
        ITNetForecaster(verbose=False).fit(hist, finetune="head")


def test_head_finetune_touches_only_head_parameters(tmp_path):
    hist = _frame(2, n_series=6)
    est = ITNetForecaster.pretrained(max_epochs=2, batch_size=16, windows_per_series=2,
                                     patience=1, verbose=False)  # fmt: skip
    before = {k: v.clone() for k, v in est.model_.state_dict().items()}
    est.fit(hist, finetune="head")
    after = est.model_.state_dict()
    head = {f"head.{k}" for k in est.model_.head.state_dict()}
    head |= {f"adapter.{k}" for k in est.model_.adapter.state_dict()}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed <= head
    assert est.train_result_.best_epoch >= 0  # (seeded) an epoch beat the zero-shot start
    assert changed and any(k.startswith("head.") for k in changed)
    info = est.finetune_
    assert info["n_trainable"] == sum(p.numel() for p in est.model_.head_parameters())
    assert info["n_trainable"] <= 0.1 * info["n_parameters"]
    assert np.isfinite(est.predict(h=3.0)["y_hat"].to_numpy()).all()
    with pytest.raises(ITNetInputError, match="does not support pretrained"):
        est.save(tmp_path / "model.safetensors")

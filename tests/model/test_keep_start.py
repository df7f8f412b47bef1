"""Training never ends worse on validation than where it started (``fit_model(keep_start=)``),
and the estimator scores its start (the fitted mix) on validation."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from test_itnet import _batch, _ragged

from itnet_ts import BaselineFallbackWarning, ITNetForecaster
from itnet_ts.datasets import make_irregular
from itnet_ts.estimators._training import evaluate_loss, fit_model
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _setup():
    torch.manual_seed(0)
    val = _batch(_ragged(S=8, seed=1))
    last = val.last_value.gather(1, val.q_chan)  # targets near each series' last value
    val = dataclasses.replace(val, y=last + 0.1 * torch.randn(last.shape), y_known=val.q_valid)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4, dropout=0.0))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    return model, val, start


def _fit(model, train, val, keep_start):
    return fit_model(model, lambda epoch: [train], lambda: [val], max_epochs=4,
                     learning_rate=1e-2, patience=10, device=torch.device("cpu"),
                     progress=False, keep_start=keep_start)  # fmt: skip


def test_training_that_only_hurts_keeps_the_start():
    model, val, start = _setup()
    # training targets 5 units off what validation asks: every step moves away from it
    train = dataclasses.replace(val, y=val.y + 5.0)
    res = _fit(model, train, val, keep_start=True)
    assert res.best_epoch == -1
    assert res.best_val_loss == res.start_val_loss
    assert all(h["val_loss"] > res.start_val_loss for h in res.history)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, start[k])
    assert evaluate_loss(model, [val], torch.device("cpu")) == pytest.approx(res.start_val_loss)
    # without keep_start the best epoch is kept, worse than the start
    model2, _, _ = _setup()
    res2 = _fit(model2, train, val, keep_start=False)
    assert res2.best_epoch >= 0 and res2.start_val_loss is None
    assert res2.best_val_loss > res.start_val_loss


def test_training_that_helps_is_kept():
    model, val, _ = _setup()
    res = _fit(model, val, val, keep_start=True)  # learning the validation targets themselves
    assert res.best_epoch >= 0 and res.best_val_loss < res.start_val_loss


def test_the_estimator_never_ends_worse_than_its_start_on_validation():
    df = make_irregular(n_series=24, n_channels=2, length=60.0, seed=4, family="regime_shifts")
    est = ITNetForecaster(d_model=8, rank=4, n_layers=1, max_epochs=2, learning_rate=0.05,
                          windows_per_series=2, verbose=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaselineFallbackWarning)
        est.fit(df)
    v = est.get_fitted_summary()["validation"]
    start = v["start"]["val_loss"]
    assert start is not None and np.isfinite(start)
    assert est.train_result_.best_val_loss <= start
    assert v["mse_network"] == pytest.approx(est.train_result_.best_val_loss, rel=1e-5)


def test_early_stopping_waits_for_min_epochs():
    model, val, _ = _setup()
    train = dataclasses.replace(val, y=val.y + 5.0)  # no epoch beats the start
    kw = dict(learning_rate=1e-2, patience=1, device=torch.device("cpu"), progress=False,
              keep_start=True, max_epochs=8)  # fmt: skip
    res = fit_model(model, lambda epoch: [train], lambda: [val], **kw)
    assert len(res.history) == 1  # patience 1 from the start (epoch -1)
    model, _, _ = _setup()
    res = fit_model(model, lambda epoch: [train], lambda: [val], min_epochs=5, **kw)
    assert len(res.history) == 5 and res.best_epoch == -1

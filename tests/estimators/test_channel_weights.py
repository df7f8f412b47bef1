"""``channel_weights``: how much each channel's errors count in the training loss and in early
stopping (scaled units, the data's units, or per channel in the data's units)."""

import numpy as np
import polars as pl
import pytest
import torch

from itnet_ts import ITNetForecaster, ITNetInputError
from itnet_ts.data._ingest import ingest
from itnet_ts.data._ragged import ragged_from_canonical
from itnet_ts.data._windows import ValueScaler, make_batch, validation_windows
from itnet_ts.estimators._training import evaluate_loss, fit_model, loss_channel_weights
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = dict(d_model=8, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


def _two_channels(n_series=12, n=40, seed=0) -> pl.DataFrame:
    """Channel "a" in units of ~1, channel "b" in units of ~100, each at its own times."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        for name, amp in (("a", 1.0), ("b", 100.0)):
            t = np.sort(rng.uniform(0, 100, n))
            v = amp * (np.sin(t / 7 + s) + 0.3 * rng.normal(size=n))
            rows.append(pl.DataFrame({"unique_id": f"s{s}", "ds": t, "variable": name, "value": v}))
    return pl.concat(rows)


def test_named_weightings_follow_the_scales_and_counts():
    scale, counts = np.array([1.0, 10.0]), np.array([300.0, 100.0])
    assert loss_channel_weights("scaled", ["a", "b"], scale, counts) is None
    data = loss_channel_weights("data", ["a", "b"], scale, counts)
    assert data[1] / data[0] == pytest.approx(100.0)  # squared errors in the data's units
    per = loss_channel_weights("data_per_channel", ["a", "b"], scale, counts)
    # each channel's total weight is scale^2 (its mean error in the data's units counts once)
    assert (per * counts)[1] / (per * counts)[0] == pytest.approx(100.0)
    for w in (data, per):  # mean weight over the training observations is 1
        assert (w * counts).sum() / counts.sum() == pytest.approx(1.0)
    named = loss_channel_weights({"b": 3.0}, ["a", "b"], scale, counts)
    assert named[1] / named[0] == pytest.approx(3.0)


def test_unknown_channel_and_bad_values_are_refused_with_the_channels():
    df = _two_channels()
    tidy = dict(variable_col="variable", value_col="value")
    with pytest.raises(ITNetInputError, match=r"does not have: \['c'\].*\['a', 'b'\]"):
        ITNetForecaster(**TINY, channel_weights={"c": 2.0}).fit(df, **tidy)
    for bad in ("raw", {"a": 0.0}, {"a": float("nan")}, {}):
        with pytest.raises(ITNetInputError, match="channel_weights"):
            ITNetForecaster(**TINY, channel_weights=bad).fit(df, **tidy)


def test_early_stopping_scores_validation_with_the_same_weights():
    df = _two_channels()
    canon, spec = ingest(df, variable_col="variable", value_col="value", target_col=None)
    ragged = ragged_from_canonical(canon, spec.channels)
    scaler = ValueScaler.fit(ragged, "standard")
    windows, _ = validation_windows(ragged, 20.0)
    idx = np.arange(len(windows))
    batch = make_batch(ragged, windows, idx, scaler, 1.0, 256)
    cw = torch.tensor([1.0, 25.0])
    torch.manual_seed(0)
    model = ITNet(ITNetConfig(n_channels=2, d_model=8, rank=4, n_layers=1))
    result = fit_model(
        model, lambda epoch: [batch], lambda: [batch], max_epochs=1, learning_rate=1e-3,
        patience=1, device=torch.device("cpu"), progress=False, channel_weights=cw,
    )  # fmt: skip
    cpu = torch.device("cpu")
    weighted = evaluate_loss(model, [batch], cpu, channel_weights=cw)
    plain = evaluate_loss(model, [batch], cpu)
    assert result.best_val_loss == pytest.approx(weighted, rel=1e-6)
    assert weighted != pytest.approx(plain, rel=1e-3)
    # by hand: sum of w_c * e^2 over the known targets / their count
    with torch.no_grad():
        model.eval()
        e2 = ((model(batch)[..., 0] - batch.y) ** 2)[batch.y_known]
        w = cw[batch.q_chan[batch.y_known]]
    assert weighted == pytest.approx(float((w * e2).sum() / e2.numel()), rel=1e-5)


@pytest.mark.parametrize("how", ["data", "data_per_channel", {"b": 2.0}])
def test_fit_predict_and_round_trip_with_each_weighting(how, tmp_path):
    df = _two_channels()
    tidy = dict(variable_col="variable", value_col="value")
    est = ITNetForecaster(**TINY, horizon=20.0, channel_weights=how).fit(df, **tidy)
    pred = est.predict(h=5.0)
    assert np.isfinite(pred["y_hat"].to_numpy()).all()
    path = tmp_path / "m.itnet"
    est.save(path)
    loaded = ITNetForecaster.load(path)
    assert loaded.get_params()["channel_weights"] == how
    again = loaded.predict(df=df, h=5.0)
    np.testing.assert_allclose(again["y_hat"], pred["y_hat"], rtol=1e-5, atol=1e-6)

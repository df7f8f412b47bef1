"""Probabilistic forecasts: ``quantiles=`` / ``level=``, the non-crossing construction, the
pinball loss, output columns in every input shape, persistence, backtests, the CLI, coverage."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from typer.testing import CliRunner

from itnet_ts import ITNetForecaster, ITNetInputError
from itnet_ts.datasets import make_irregular
from itnet_ts.estimators._quantiles import plan_outputs
from itnet_ts.estimators._training import masked_loss
from itnet_ts.metrics import coverage, pinball_loss
from itnet_ts.model.quantiles import monotone_quantiles, pinball

FAST = dict(d_model=16, rank=4, n_layers=1, max_epochs=2, windows_per_series=4, verbose=False)
LEVEL_COLS = ["y_hat", "y_hat-lo-95", "y_hat-lo-80", "y_hat-hi-80", "y_hat-hi-95"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tidy():
    return make_irregular(n_series=10, n_channels=2, length=30.0, seed=3, shape="tidy")


@pytest.fixture(scope="module")
def level_model(tidy):
    return ITNetForecaster(level=[80, 95], **FAST).fit(tidy)


def _ordered(df, cols):
    """Every row's values in ``cols`` are non-decreasing."""
    v = pl.from_pandas(df) if isinstance(df, pd.DataFrame) else df
    a = v.select(cols).to_numpy()
    return bool((np.diff(a, axis=1) >= 0).all())


# ---- the construction and the loss --------------------------------------------------------

levels = st.lists(
    st.floats(0.001, 0.999).filter(lambda q: abs(q - 0.5) > 1e-6), min_size=0, max_size=6
).map(lambda qs: sorted({round(q, 6) for q in qs} | {0.5}))


@settings(max_examples=100, deadline=None)
@given(
    qs=levels,
    raw=arrays(np.float32, (5, 7), elements=st.floats(-1e4, 1e4, width=32)),
    base=st.floats(-1e3, 1e3),
)
def test_quantiles_never_cross_whatever_the_outputs(qs, raw, base):
    K = len(qs)
    out = monotone_quantiles(torch.from_numpy(raw[:, :K] + np.float32(base)), qs)  # (5, K)
    assert out.shape == (5, K)
    assert torch.isfinite(out).all()
    assert (out[:, 1:] >= out[:, :-1]).all()
    median = qs.index(0.5)
    torch.testing.assert_close(out[:, median], torch.from_numpy(raw[:, 0] + np.float32(base)))


def test_zero_outputs_start_at_standard_normal_quantiles():
    qs = [0.025, 0.1, 0.5, 0.9, 0.975]
    out = monotone_quantiles(torch.zeros(1, 5, dtype=torch.float64), qs)[0]
    want = torch.special.ndtri(torch.tensor(qs, dtype=torch.float64))
    torch.testing.assert_close(out, want)


def test_bad_quantile_levels_are_refused():
    with pytest.raises(ValueError, match=r"0\.5"):
        monotone_quantiles(torch.zeros(1, 2), [0.1, 0.9])
    with pytest.raises(ValueError, match="increase"):
        monotone_quantiles(torch.zeros(1, 3), [0.9, 0.5, 0.1])


@settings(max_examples=50, deadline=None)
@given(
    y=arrays(np.float64, 9, elements=st.floats(-100, 100)),
    f=arrays(np.float64, (9, 3), elements=st.floats(-100, 100)),
)
def test_pinball_matches_the_reference_formula(y, f):
    qs = [0.1, 0.5, 0.8]
    got = pinball(torch.from_numpy(f), torch.from_numpy(y), qs).numpy()  # (9,)
    ref = np.zeros(9)
    for i in range(9):
        for k, q in enumerate(qs):
            d = y[i] - f[i, k]
            ref[i] += (q * d if d >= 0 else (q - 1) * d) / len(qs)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    mean_metric = np.mean([pinball_loss(y, f[:, k], q) for k, q in enumerate(qs)])
    assert got.mean() == pytest.approx(mean_metric, rel=1e-9, abs=1e-12)


def test_training_loss_is_the_pinball_of_the_monotone_quantiles_over_known_targets():
    qs = (0.1, 0.5, 0.9)
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    y = torch.randn(2, 4, generator=g, dtype=torch.float64)
    known = torch.tensor([[True, True, False, True], [False, True, True, False]])
    batch = SimpleNamespace(y=y, y_known=known, q_chan=torch.zeros(2, 4, dtype=torch.long))
    total, n = masked_loss(raw, batch, "pinball", quantiles=qs)
    f = monotone_quantiles(raw, qs)[known].numpy()  # (5, 3)
    t = y[known].numpy()
    ref = sum(pinball_loss(t, f[:, k], q) for k, q in enumerate(qs)) / 3 * len(t)
    assert int(n) == 5 and float(total) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="quantile"):
        masked_loss(raw, batch, "pinball")


def test_output_plan_names_columns_nixtla_style():
    plan = plan_outputs(level=[95, 80])
    assert plan.quantiles == (0.025, 0.1, 0.5, 0.9, 0.975)
    assert [c for c, _ in plan.columns] == LEVEL_COLS
    assert [k for _, k in plan.columns] == [2, 0, 1, 3, 4]
    plan = plan_outputs(quantiles=[0.9, 0.1])
    assert plan.quantiles == (0.1, 0.5, 0.9)
    assert plan.columns == (("y_hat", 1), ("y_hat_q0.1", 0), ("y_hat_q0.9", 2))
    assert [c for c, _ in plan_outputs(quantiles=[0.5, 0.05]).columns] == [
        "y_hat", "y_hat_q0.05", "y_hat_q0.5",
    ]  # fmt: skip
    assert plan_outputs(level=[97.5]).columns[1][0] == "y_hat-lo-97.5"
    assert plan_outputs().n_outputs == 1 and not plan_outputs().probabilistic


# ---- parameters ---------------------------------------------------------------------------


def test_quantiles_and_level_together_is_an_error_naming_both(tidy):
    est = ITNetForecaster(quantiles=[0.1, 0.9], level=[80], **FAST)
    with pytest.raises(ITNetInputError, match=r"quantiles=.*level=.*not both"):
        est.fit(tidy)
    assert not hasattr(est, "model_")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("quantiles", 0.5), ("quantiles", []), ("quantiles", [0.1, 1.0]), ("quantiles", [0.2, 0.2]),
        ("quantiles", ["0.1"]), ("quantiles", [float("nan")]), ("level", 80), ("level", [0]),
        ("level", [80, 100]), ("level", [True]), ("level", "80"),
    ],
)  # fmt: skip
def test_invalid_quantiles_or_level_name_the_parameter(tidy, param, value):
    with pytest.raises(ITNetInputError, match=rf"{param}=.*{param} must be"):
        ITNetForecaster(**{param: value}, **FAST).fit(tidy)


# ---- forecasts ----------------------------------------------------------------------------


def test_level_forecasts_have_ordered_interval_columns(level_model):
    pred = level_model.predict(h=4.0)
    assert pred.columns == ["unique_id", "ds", "variable", *LEVEL_COLS]
    assert _ordered(pred, ["y_hat-lo-95", "y_hat-lo-80", "y_hat", "y_hat-hi-80", "y_hat-hi-95"])
    assert np.isfinite(pred.select(LEVEL_COLS).to_numpy()).all()
    # set_params after fit changes nothing until the next fit: the fitted plan is used
    level_model.set_params(level=None)
    try:
        assert level_model.predict(h=4.0).columns == pred.columns
    finally:
        level_model.set_params(level=[80, 95])


@pytest.mark.parametrize("library", ["polars", "pandas"])
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
def test_quantile_columns_in_every_input_shape(shape, library):
    n_channels = 1 if shape == "long" else 2
    df = make_irregular(
        n_series=4, n_channels=n_channels, length=20.0, seed=1, shape=shape, as_=library
    )
    est = ITNetForecaster(quantiles=[0.1, 0.5, 0.9], **{**FAST, "max_epochs": 1}).fit(df)
    pred = est.predict(h=3.0)
    assert isinstance(pred, pl.DataFrame if library == "polars" else pd.DataFrame)
    keys = ["unique_id", "ds"] + ([] if shape == "long" else ["variable"])
    assert list(pred.columns) == [*keys, "y_hat", "y_hat_q0.1", "y_hat_q0.5", "y_hat_q0.9"]
    assert _ordered(pred, ["y_hat_q0.1", "y_hat_q0.5", "y_hat_q0.9"])
    np.testing.assert_array_equal(np.asarray(pred["y_hat"]), np.asarray(pred["y_hat_q0.5"]))
    # explicit query times give the same columns
    times = pl.DataFrame({"unique_id": ["s0000"], "ds": [25.0]})
    if library == "pandas":
        times = times.to_pandas()
    got = est.predict(times=times)
    assert list(got.columns) == list(pred.columns)


def test_datetime_data_keeps_interval_columns():
    df = make_irregular(n_series=4, n_channels=2, length=20.0, seed=2, datetime=True)
    pred = ITNetForecaster(level=[90], **{**FAST, "max_epochs": 1}).fit(df).predict(h="3h")
    assert pred.schema["ds"] == df.schema["ds"]
    assert pred.columns[-3:] == ["y_hat", "y_hat-lo-90", "y_hat-hi-90"]


def test_save_load_round_trip_with_quantiles(tidy, tmp_path):
    est = ITNetForecaster(quantiles=(0.05, 0.95), **FAST).fit(tidy)
    est.save(tmp_path / "q.itnet")
    back = ITNetForecaster.load(tmp_path / "q.itnet")
    assert back.get_params()["quantiles"] == [0.05, 0.95]
    assert back.quantile_plan_ == est.quantile_plan_
    a, b = est.predict(h=3.0), back.predict(h=3.0, df=tidy)
    assert a.columns == b.columns == ["unique_id", "ds", "variable", "y_hat", "y_hat_q0.05",
                                      "y_hat_q0.95"]  # fmt: skip
    assert a.equals(b)


def test_save_load_round_trip_with_level_and_numpy_parameters(tidy, tmp_path):
    est = ITNetForecaster(level=np.array([80.0]), **{**FAST, "max_epochs": 1}).fit(tidy)
    est.save(tmp_path / "l.itnet")
    back = ITNetForecaster.load(tmp_path / "l.itnet")
    assert back.get_params()["level"] == [80.0]
    assert back.predict(h=3.0, df=tidy).equals(est.predict(h=3.0))


def test_cross_validation_carries_interval_columns(tidy):
    est = ITNetForecaster(level=[80], **{**FAST, "max_epochs": 1})
    cv = est.cross_validation(tidy, n_windows=2, h=3.0)
    assert cv.columns == ["unique_id", "ds", "cutoff", "variable", "y_hat", "y_hat-lo-80",
                          "y_hat-hi-80", "y"]  # fmt: skip
    assert _ordered(cv, ["y_hat-lo-80", "y_hat", "y_hat-hi-80"])
    assert cv["cutoff"].n_unique() == 2


def test_coverage_is_in_a_sane_band_after_a_small_fit():
    """Loose bounds on purpose: this guards against intervals that are degenerate (near 0
    coverage) or useless (always everything), not against a slightly miscalibrated model."""
    kw = dict(n_channels=2, length=60.0, shape="tidy")
    train = make_irregular(n_series=24, seed=0, **kw)
    test = make_irregular(n_series=12, seed=100, **kw)
    est = ITNetForecaster(
        level=[50, 90], horizon=6.0, d_model=16, rank=4, n_layers=1, max_epochs=6, verbose=False
    ).fit(train)
    cut = test["ds"].max() - 6.0  # unseen series: history up to the cutoff, score after it
    hist, fut = test.filter(pl.col("ds") <= cut), test.filter(pl.col("ds") > cut)
    pred = est.predict(df=hist, times=fut.select("unique_id", "ds", "variable"))
    got = fut.join(pred, on=["unique_id", "ds", "variable"])
    assert got.height > 100
    c50 = coverage(got["value"], got["y_hat-lo-50"], got["y_hat-hi-50"])
    c90 = coverage(got["value"], got["y_hat-lo-90"], got["y_hat-hi-90"])
    assert 0.2 <= c50 <= 0.85, c50
    assert 0.6 <= c90 <= 1.0, c90
    assert c90 >= c50


# ---- CLI ----------------------------------------------------------------------------------

TINY = ["--max-epochs", "1", "--quiet", "-p", "d_model=16", "-p", "rank=4", "-p", "n_layers=1",
        "-p", "windows_per_series=2"]  # fmt: skip


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cliq") / "history.csv"
    make_irregular(n_series=4, n_channels=2, length=20.0, seed=1, shape="wide").write_csv(path)
    return path


def test_cli_forecast_fit_predict_with_levels(data_csv, tmp_path):
    from itnet_ts.cli.main import app

    runner = CliRunner()
    out = tmp_path / "f.csv"
    res = runner.invoke(app, ["forecast", str(data_csv), "--h", "3", "--level", "80,95",
                              "--out", str(out), *TINY])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pl.read_csv(out).columns[-5:] == LEVEL_COLS

    model = tmp_path / "m.itnet"
    res = runner.invoke(app, ["fit", str(data_csv), "--quantiles", "0.1,0.9", "--out",
                              str(model), *TINY])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["predict", str(model), str(data_csv), "--h", "3", "--quantiles",
                              "0.9", "--out", str(tmp_path / "p.csv"), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pl.read_csv(tmp_path / "p.csv").columns[-2:] == ["y_hat", "y_hat_q0.9"]
    res = runner.invoke(app, ["predict", str(model), str(data_csv), "--h", "3", "--level", "80",
                              "--out", str(tmp_path / "p2.csv"), "--quiet"])  # fmt: skip
    assert res.exit_code == 3 and "--level 80" in res.output and "refit" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "80,x"], "is not a number"),
        (["--level", "150"], "level must be"),
        (["--level", "80", "--quantiles", "0.1"], "not both"),
        (["--level", "80", "-p", "level=[90]"], "not both"),
    ],
)
def test_cli_bad_levels_exit_3_with_a_message(data_csv, tmp_path, args, message):
    from itnet_ts.cli.main import app

    res = CliRunner().invoke(
        app, ["forecast", str(data_csv), "--h", "3", "--out", str(tmp_path / "f.csv"), *args,
              *TINY],
    )  # fmt: skip
    assert res.exit_code == 3, res.output
    assert message in res.output

"""plot_forecast: what is drawn where (on the Agg backend; no model needed)."""

import datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import polars as pl
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from itnet_ts import ITNetInputError, plot_forecast


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def history():
    return pl.DataFrame(
        {
            "unique_id": ["a"] * 5 + ["b"] * 3,
            "ds": [0.0, 0.5, 2.0, 3.1, 4.0, 0.0, 1.0, 3.0],
            "x": [1.0, None, 2.0, 1.5, None, 0.0, 1.0, None],
            "z": [None, 5.0, None, 6.0, 7.0, 2.0, None, 3.0],
        }
    )


@pytest.fixture
def forecast():
    rows = []
    for sid, last in (("a", 4.0), ("b", 3.0)):
        for k in (1, 2, 3):
            for var in ("x", "z"):
                rows.append((sid, last + k, var, 1.0 * k))
    fc = pl.DataFrame(rows, schema=["unique_id", "ds", "variable", "y_hat"], orient="row")
    return fc.with_columns(
        (pl.col("y_hat") - 1).alias("y_hat-lo-80"), (pl.col("y_hat") + 1).alias("y_hat-hi-80"),
        (pl.col("y_hat") - 2).alias("y_hat-lo-95"), (pl.col("y_hat") + 2).alias("y_hat-hi-95"),
    )  # fmt: skip


def _scatter_points(ax, color_label="history"):
    return sum(
        len(c.get_offsets()) for c in ax.collections
        if isinstance(c, PathCollection) and c.get_label() == color_label
    )  # fmt: skip


def test_panels_history_points_bands_and_cutoff(history, forecast, tmp_path):
    fig = plot_forecast(history, forecast)
    axes = fig.axes
    assert len(axes) == 4  # 2 series x 2 channels, row-major
    assert [a.get_title() for a in axes] == ["a · x", "a · z", "b · x", "b · z"]
    # each channel shows only its own observations, at their true times
    assert _scatter_points(axes[0]) == 3 and _scatter_points(axes[1]) == 3
    xs = axes[1].collections[0].get_offsets()[:, 0]
    np.testing.assert_allclose(sorted(xs), [0.5, 3.1, 4.0])
    bands = [c for c in axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # 95% and 80%
    cut = [ln for ln in axes[0].lines if ln.get_linestyle() == "--"]
    assert len(cut) == 1 and cut[0].get_xdata()[0] == 4.0  # end of series a's history
    assert next(ln for ln in axes[2].lines if ln.get_linestyle() == "--").get_xdata()[0] == 3.0
    out = tmp_path / "plot.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_validation_output_draws_each_cutoff_and_the_actuals(history):
    cv = pl.DataFrame(
        {
            "unique_id": ["a"] * 4,
            "ds": [2.0, 3.1, 3.1, 4.0],
            "cutoff": [1.0, 1.0, 3.0, 3.0],
            "variable": ["x", "x", "z", "z"],
            "y_hat": [1.0, 1.1, 5.5, 5.6],
            "y": [2.0, 1.5, 6.0, 7.0],
        }
    )
    fig = plot_forecast(history, cv, ids=["a"], intervals=False)
    ax_x, ax_z = fig.axes
    assert [ln.get_xdata()[0] for ln in ax_x.lines if ln.get_linestyle() == "--"] == [1.0]
    assert _scatter_points(ax_x, "actual") == 2 and _scatter_points(ax_z, "actual") == 2


def test_selection_and_given_axes(history, forecast):
    fig, ax = plt.subplots()
    got = plot_forecast(
        history, forecast, ids="b", channels="z", ax=ax, cutoff=False, intervals=[80]
    )
    assert got is fig and len(fig.axes) == 1
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1
    assert not [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    only_history = plot_forecast(history, max_series=1)
    assert len(only_history.axes) == 2


def test_datetime_axes_and_pandas_input():
    t0 = datetime.datetime(2024, 1, 1)
    hours = [t0 + datetime.timedelta(hours=k) for k in range(4)]
    hist = pd.DataFrame({"unique_id": ["a"] * 3, "ds": hours[:3], "y": [1.0, 2.0, 3.0]})
    fc = pd.DataFrame({"unique_id": ["a"], "ds": hours[3:], "y_hat": [3.5]})
    fig = plot_forecast(hist, fc)
    (ax,) = fig.axes
    assert ax.get_title() == "a · y"
    cut = next(ln for ln in ax.lines if ln.get_linestyle() == "--")
    assert pd.Timestamp(cut.get_xdata()[0]) == pd.Timestamp("2024-01-01 02:00")


def test_errors(history, forecast):
    with pytest.raises(ITNetInputError, match="needs a history"):
        plot_forecast()
    with pytest.raises(ITNetInputError, match="not in the data"):
        plot_forecast(history, forecast, ids=["nope"])
    with pytest.raises(ITNetInputError, match="channels"):
        plot_forecast(history, forecast, channels=["nope"])
    with pytest.raises(ITNetInputError, match="panels"):
        plot_forecast(history, forecast, ax=plt.subplots()[1])
    with pytest.raises(ITNetInputError, match="intervals"):
        plot_forecast(history, forecast, intervals=[50])

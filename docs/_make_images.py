"""Regenerate the pictures of the docs: ``python docs/_make_images.py``.

The same code as the examples in ``docs/backtesting.md``, with the default model size and
more epochs (the page's examples train tiny models so that the test suite runs fast).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import polars as pl

from itnet_ts import ITNetForecaster, cross_validation, plot_forecast
from itnet_ts.datasets import load_sample

OUT = Path(__file__).parent / "images"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    df = load_sample()
    fc = ITNetForecaster(horizon="6h", max_epochs=15, verbose=False)
    cv = cross_validation(fc, df, n_windows=2, h="6h", step_size="6h")
    width = cv.group_by("variable").agg(
        (pl.col("y") - pl.col("y_hat")).abs().quantile(0.8).alias("w")
    )
    banded = (
        cv.join(width, on="variable")
        .with_columns(
            (pl.col("y_hat") - pl.col("w")).alias("y_hat-lo-80"),
            (pl.col("y_hat") + pl.col("w")).alias("y_hat-hi-80"),
        )
        .drop("w")
    )
    fig = plot_forecast(df, banded, ids=["s0000", "s0001"], channels=["ch0", "ch1"],
                        lookback="1d", title="backtest, 2 windows")  # fmt: skip
    fig.savefig(OUT / "backtest.png", dpi=80)


if __name__ == "__main__":
    main()

"""Tiny data and models shared by the reliability tests (fitted once per test session).

Kept small on purpose: these tests check behaviour (errors, invariances, finiteness), not
accuracy, and run on a shared 2-core machine.
"""

from __future__ import annotations

import functools

import polars as pl

from itnet_ts.datasets import make_irregular

#: A tiny, fast ITNet: enough to exercise every code path.
FAST = dict(d_model=16, rank=4, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)


@functools.cache
def numeric_frame() -> pl.DataFrame:
    """Wide polars frame: 4 series, channels ch0 / ch1, float time in [0, 20]."""
    return make_irregular(n_series=4, n_channels=2, length=20.0, seed=3, shape="wide")


@functools.cache
def datetime_frame() -> pl.DataFrame:
    """Wide polars frame with naive ``Datetime(us)`` times (hours from 2024-01-01)."""
    return make_irregular(
        n_series=4, n_channels=2, length=20.0, seed=3, shape="wide", datetime=True
    )


@functools.cache
def numeric_model():
    from itnet_ts import ITNetForecaster

    return ITNetForecaster(**FAST).fit(numeric_frame())


@functools.cache
def datetime_model():
    from itnet_ts import ITNetForecaster

    return ITNetForecaster(**FAST).fit(datetime_frame())


def last_times(df: pl.DataFrame) -> pl.DataFrame:
    """``unique_id, ds``: the last time of each series (the forecast cutoff)."""
    return df.group_by("unique_id").agg(pl.col("ds").max()).sort("unique_id")

"""Durations and time-unit inference in canonical time units."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from itnet_ts.data._ingest import ingest
from itnet_ts.data._time import (
    DATETIME_FALLBACK_UNIT_NS,
    NUMERIC_FALLBACK_UNIT,
    infer_time_unit,
    parse_duration,
)
from itnet_ts.errors import ITNetInputError

H = 3_600e9  # one hour in ns


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6h", 6 * H),
        ("30min", 30 * 60e9),
        ("1d", 24 * H),
        ("15s", 15e9),
        ("2.5h", 2.5 * H),
        ("1w", 7 * 24 * H),
        ("1 day", 24 * H),
        ("01:30:00", 1.5 * H),
        ("1h30min", 1.5 * H),
        ("90 minutes", 1.5 * H),
        ("10m", 600e9),
        ("1D", 24 * H),
        ("250ms", 250e6),
        ("P1DT2H", 26 * H),
        (dt.timedelta(hours=2), 2 * H),
        (np.timedelta64(90, "m"), 1.5 * H),
        (pd.Timedelta("3h"), 3 * H),
    ],
)
def test_parse_duration_datetime(value, expected):
    out = parse_duration(value, "datetime")
    assert isinstance(out, float)
    assert out == pytest.approx(expected, rel=0, abs=0)


def test_parse_duration_numbers():
    assert parse_duration(6, "numeric") == 6.0
    assert parse_duration(0.25, "numeric") == 0.25
    assert parse_duration(np.float32(0.5), "numeric") == 0.5
    assert parse_duration("12", "numeric") == 12.0  # a number typed on a command line
    # with a time unit, a number counts in time units, for either kind
    assert parse_duration(2, "datetime", time_unit=H) == 2 * H
    assert parse_duration(3, "numeric", time_unit=0.5) == 1.5
    # a time span ignores the time unit
    assert parse_duration("1h", "datetime", time_unit=60e9) == H


@pytest.mark.parametrize(
    ("value", "kind", "match"),
    [
        (6, "datetime", "bare number"),
        ("6h", "numeric", "numeric"),
        (dt.timedelta(hours=1), "numeric", "numeric"),
        (np.timedelta64(1, "h"), "numeric", "numeric"),
        (0, "numeric", "not positive"),
        (-1.5, "numeric", "not positive"),
        ("-1h", "datetime", "not positive"),
        ("0s", "datetime", "not positive"),
        (math.nan, "numeric", "not finite"),
        (math.inf, "numeric", "not finite"),
        ("soon", "datetime", "cannot read 'soon'"),
        ("1mo", "datetime", "months"),
        ("2y", "datetime", "years"),
        ("1M", "datetime", "months"),
        ("3 months", "datetime", "months"),
        (True, "numeric", "number"),
        (None, "numeric", "cannot read None"),
        ([1], "numeric", "cannot read"),
        (pd.NaT, "datetime", "NaT|cannot read"),
    ],
)
def test_parse_duration_errors(value, kind, match):
    with pytest.raises(ITNetInputError, match=match):
        parse_duration(value, kind)


def test_parse_duration_bad_kind_and_unit():
    with pytest.raises(ITNetInputError, match="time_kind"):
        parse_duration(1, "dates")
    with pytest.raises(ITNetInputError, match="not positive"):
        parse_duration(1, "numeric", time_unit=0)


def test_infer_time_unit_datetime_pooled_median():
    base = pd.Timestamp("2024-01-01")
    df = pd.DataFrame(
        {
            "unique_id": ["a"] * 4 + ["b"] * 3,
            "ds": [base + pd.Timedelta(hours=h) for h in (0, 1, 2, 10)]
            + [base + pd.Timedelta(hours=h) for h in (0, 1, 3)],
            "y": np.arange(7.0),
        }
    )
    canon, _ = ingest(df)
    # gaps: a -> 1, 1, 8 ; b -> 1, 2 ; pooled median = 1h
    assert infer_time_unit(canon) == H


def test_infer_time_unit_uses_distinct_times_over_channels():
    # two channels observed at the same times must not create zero gaps
    df = pl.DataFrame({"ds": [0.0, 0.5, 1.0, 3.0], "a": [1.0, 2, 3, 4], "b": [1.0, 2, 3, 4]})
    canon, _ = ingest(df)
    assert infer_time_unit(canon) == 0.5


def test_infer_time_unit_numeric_median_of_gaps():
    df = pl.DataFrame({"unique_id": ["a"] * 4, "ds": [0, 2, 4, 100], "y": [1.0, 2, 3, 4]})
    canon, _ = ingest(df)
    assert infer_time_unit(canon) == 2.0


@pytest.mark.parametrize(
    ("ds", "fallback"),
    [
        ([1.0, 1.0], NUMERIC_FALLBACK_UNIT),
        ([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)], DATETIME_FALLBACK_UNIT_NS),
    ],
)
def test_infer_time_unit_fallback_when_no_gap(ds, fallback):
    # every series has a single timestamp
    df = pl.DataFrame({"unique_id": ["a", "b"], "ds": ds, "y": [1.0, 2.0]})
    canon, _ = ingest(df)
    assert infer_time_unit(canon) == fallback
    assert DATETIME_FALLBACK_UNIT_NS == H
    assert NUMERIC_FALLBACK_UNIT == 1.0


def test_infer_time_unit_rejects_non_canonical():
    with pytest.raises(ITNetInputError, match="canonical"):
        infer_time_unit(pl.DataFrame({"ds": [1.0]}))

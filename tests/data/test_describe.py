"""``describe_frame``: the statistics ``itnet-ts datasets describe`` prints."""

from __future__ import annotations

import datetime as dt

import polars as pl

from itnet_ts.data._describe import describe_frame


def test_tidy_frame_statistics():
    frame = pl.DataFrame(
        {
            "unique_id": ["a", "a", "a", "b", "b"],
            "ds": [0.0, 1.0, 1.0, 0.5, 2.0],
            "variable": ["x", "x", "y", "x", "x"],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    stats = describe_frame(frame)
    assert stats == {
        "rows": 5,
        "shape": "tidy",
        "series": 2,
        "channels": ["x", "y"],
        "observations": 5,
        "observations_per_channel": {"x": 4, "y": 1},
        "time_points_per_series": {"min": 2, "median": 2.0, "max": 2},
        "time_kind": "numeric",
        "start": 0.0,
        "end": 2.0,
    }


def test_datetime_range_is_shown_as_timestamps():
    t0 = dt.datetime(2024, 1, 1)
    frame = pl.DataFrame({"ds": [t0, t0 + dt.timedelta(hours=5)], "y": [1.0, 2.0]})
    stats = describe_frame(frame)
    assert (stats["series"], stats["time_kind"]) == (1, "datetime")
    assert (stats["start"], stats["end"]) == ("2024-01-01 00:00:00", "2024-01-01 05:00:00")

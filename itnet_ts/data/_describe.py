"""Summary statistics of a frame, as ``itnet-ts datasets describe`` prints them."""

from __future__ import annotations

from typing import Any

import polars as pl

from itnet_ts.data._ingest import ingest

__all__ = ["describe_frame"]


def describe_frame(frame: pl.DataFrame) -> dict[str, Any]:
    """Rows, shape, series, channels, observations (per channel), time points per series
    (min / median / max), the kind of time and its range, of a long, wide or tidy polars
    frame with the default column names (duplicate stamps averaged, as ``fit`` would)."""
    canon, spec = ingest(frame, duplicates="mean")
    per_channel = canon.group_by("variable").len().sort("variable")
    lengths = canon.group_by("unique_id").agg(pl.col("time").n_unique().alias("n"))["n"]
    times = canon["time"]
    if spec.time_kind == "datetime":
        import pandas as pd

        start, end = str(pd.Timestamp(times.min())), str(pd.Timestamp(times.max()))
    else:
        start, end = float(times.min()), float(times.max())
    return {
        "rows": frame.height,
        "shape": spec.shape,
        "series": int(canon["unique_id"].n_unique()),
        "channels": list(spec.channels),
        "observations": canon.height,
        "observations_per_channel": dict(
            zip(per_channel["variable"].to_list(), per_channel["len"].to_list(), strict=True)
        ),
        "time_points_per_series": {
            "min": int(lengths.min()), "median": float(lengths.median()), "max": int(lengths.max())
        },
        "time_kind": spec.time_kind,
        "start": start,
        "end": end,
    }  # fmt: skip

"""Explicit query times (``predict(times=...)``) through the same validation as the data."""

from __future__ import annotations

import polars as pl

from itnet_ts.data._ingest import FrameSpec, ingest

__all__ = ["ingest_queries"]

_VALUE, _VARIABLE = "__itnet_query_value__", "__itnet_query_variable__"


def ingest_queries(times, spec: FrameSpec) -> pl.DataFrame:
    """Canonical queries ``unique_id, time[, variable]`` from a user frame of query times.

    ``times`` has the fit's id column (unless the fit had none), its time column, and
    optionally a channel column (``spec.variable_col`` or ``"variable"``); without one every
    channel is queried. Times are validated and converted exactly like the data's.
    """
    var_col = next(
        (c for c in (spec.variable_col, "variable") if c is not None and c in times.columns), None
    )
    fill = {_VALUE: 0.0}
    if var_col is None:
        fill[_VARIABLE] = spec.channels[0]
    if isinstance(times, pl.DataFrame):
        q = times.with_columns(*(pl.lit(v).alias(k) for k, v in fill.items()))
    else:
        q = times.assign(**fill)
    canon, _ = ingest(
        q,
        id_col=spec.id_col or "unique_id",
        time_col=spec.time_col,
        variable_col=var_col or _VARIABLE,
        value_col=_VALUE,
        shape="tidy",
        duplicates="last",
        spec=spec,
    )
    cols = ["unique_id", "time"] + (["variable"] if var_col is not None else [])
    return canon.select(cols).unique(maintain_order=True)

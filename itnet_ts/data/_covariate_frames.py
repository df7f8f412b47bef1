"""Covariate frames (``static_df``, ``futr_df`` and the covariate columns of a training frame):
read from pandas or polars with ids and times converted exactly like the data's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import polars as pl

from itnet_ts.data._ingest import (
    FrameSpec,
    canonical_ids,
    check_times,
    make_source,
    positive_zero,
)
from itnet_ts.errors import ITNetInputError

__all__ = ["ROW_COL", "drop_columns", "frame_columns", "locate_row", "read_covariate_frame"]

#: The column of ``read_covariate_frame``'s output holding each row's 0-based position.
ROW_COL = "__itnet_cov_row__"


def frame_columns(df: Any) -> list[str]:
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, (pl.DataFrame, pd.DataFrame)):
        return [str(c) for c in df.columns]
    raise ITNetInputError(
        f"expected a pandas or polars DataFrame, got {type(df).__module__}.{type(df).__name__}."
    )


def _bools_to_float(df: Any, cols: Sequence[str]) -> Any:
    """0/1 flags given as booleans are numbers here (holidays, promotions, ...)."""
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        casts = [pl.col(c).cast(pl.Float64) for c in cols if df.schema[c] == pl.Boolean]
        return df.with_columns(casts) if casts else df
    bools = [c for c in cols if pd.api.types.is_bool_dtype(df[c].dtype)]
    return df.assign(**{c: df[c].astype(float) for c in bools}) if bools else df


def drop_columns(df: Any, cols: Sequence[str]) -> Any:
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        return df.drop(list(cols))
    return df.drop(columns=list(cols))


def read_covariate_frame(
    df: Any,
    spec: FrameSpec,
    cols: Sequence[str],
    role: str,
    what: str,
    with_time: bool,
) -> pl.DataFrame:
    """``(row, unique_id, [time,] *cols)`` from a user frame: ids and times converted exactly
    like the data's (canonical), values numeric Float64 (null where missing / NaN)."""
    present = frame_columns(df)
    id_col = spec.id_col
    need = ([id_col] if id_col is not None else []) + ([spec.time_col] if with_time else [])
    missing = [c for c in [*need, *cols] if c not in present]
    if missing:
        raise ITNetInputError(
            f"{what} lacks the column{'s' * (len(missing) > 1)} {missing} (it has {present}). "
            f"It needs {need + list(cols)}."
        )
    df = _bools_to_float(df, cols)
    src = make_source(df, need)
    n = src.height
    ids, _ = canonical_ids(src, id_col)
    out: dict[str, pl.Series] = {
        ROW_COL: pl.int_range(0, n, dtype=pl.Int64, eager=True),
        "unique_id": ids.rename("unique_id"),
    }
    if with_time:
        times, meta = src.time(spec.time_col)
        if meta.kind != spec.time_kind:
            raise ITNetInputError(
                f"{what}: time column {spec.time_col!r} holds "
                f"{'datetimes' if meta.kind == 'datetime' else 'numbers'}, but the model was fit "
                f"on {'datetimes' if spec.time_kind == 'datetime' else 'numbers'}; give times "
                "of the same kind as the training frame."
            )
        check_times(times, ids if id_col is not None else None, spec.time_col, meta)
        out["time"] = positive_zero(times, meta).rename("time")  # -0.0 -> 0.0, as the data's
    for c in cols:
        v = src.values(c, role)
        out[c] = v.fill_nan(None).rename(c)
    return pl.DataFrame(out)


def locate_row(df: Any, spec: FrameSpec, series_id: Any, time: Any) -> int | None:
    """0-based row of ``df`` holding (series, time), for error messages (None: not found)."""
    try:
        frame = read_covariate_frame(df, spec, [], "value", "the frame", with_time=True)
    except ITNetInputError:
        return None
    key = frame["unique_id"].cast(pl.String)
    hit = frame.filter((key == str(series_id)) & (frame["time"] == time))[ROW_COL]
    return int(hit[0]) if len(hit) else None

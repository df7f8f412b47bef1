"""Frame helpers shared by metrics, cross-validation, transformers and plots.

These read *prediction-like* frames (the output of ``predict`` / ``cross_validation``: id,
time, an optional ``cutoff``, an optional variable column and value columns such as
``y_hat``, ``y_hat-lo-80``, ``y_hat_q0.1`` and ``y``) into one polars frame with canonical
columns, and convert times the way :mod:`itnet_ts.data._ingest` does so that frames from
different files (CSV vs parquet, pandas vs polars) join exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from itnet_ts.data._ingest import SINGLE_SERIES_ID, make_source
from itnet_ts.errors import ITNetInputError

__all__ = [
    "PRED_COL",
    "PredColumns",
    "frame_library",
    "parse_pred_columns",
    "pred_view",
    "to_library",
    "to_polars",
]

#: The point-forecast column every itnet-ts forecast frame has.
PRED_COL = "y_hat"
_LEVEL_RE = re.compile(r"^(?P<base>.+)-(?P<side>lo|hi)-(?P<level>\d+(?:\.\d+)?)$")
_QUANT_RE = re.compile(r"^(?P<base>.+)_q(?P<q>\d*\.?\d+)$")


@dataclass
class PredColumns:
    """The forecast columns of a frame: the point forecast, intervals and quantiles."""

    point: str | None
    levels: dict[float, tuple[str, str]] = field(default_factory=dict)  # level -> (lo, hi)
    quantiles: dict[float, str] = field(default_factory=dict)  # q in (0, 1) -> column

    @property
    def columns(self) -> list[str]:
        cols = [self.point] if self.point else []
        for lo, hi in self.levels.values():
            cols += [lo, hi]
        cols += list(self.quantiles.values())
        return cols

    def all_quantiles(self) -> dict[float, str]:
        """Quantile -> column, the interval bounds included (``lo-80`` is q=0.1)."""
        out = dict(self.quantiles)
        for level, (lo, hi) in self.levels.items():
            out.setdefault(round(0.5 - level / 200, 10), lo)
            out.setdefault(round(0.5 + level / 200, 10), hi)
        return dict(sorted(out.items()))

    def intervals(self) -> dict[float, tuple[str, str]]:
        """Level -> (lo, hi): the level columns, and symmetric quantile pairs (q, 1 - q)."""
        out = dict(self.levels)
        qs = self.quantiles
        for q, col in qs.items():
            partner = round(1 - q, 10)
            if q < 0.5 and partner in qs:
                level = round(100 * (1 - 2 * q), 6)
                out.setdefault(level, (col, qs[partner]))
        return dict(sorted(out.items()))


def parse_pred_columns(columns: Sequence[str], pred_col: str = PRED_COL) -> PredColumns:
    """Find ``pred_col`` and its interval (``<pred>-lo-80``/``-hi-80``) and quantile
    (``<pred>_q0.1``) columns among ``columns``."""
    point = pred_col if pred_col in columns else None
    lo: dict[float, str] = {}
    hi: dict[float, str] = {}
    quantiles: dict[float, str] = {}
    for c in columns:
        m = _LEVEL_RE.match(c)
        if m and m["base"] == pred_col:
            level = float(m["level"])
            if not 0 < level < 100:
                raise ITNetInputError(f"column {c!r}: an interval level must be in (0, 100)")
            (lo if m["side"] == "lo" else hi)[level] = c
            continue
        m = _QUANT_RE.match(c)
        if m and m["base"] == pred_col:
            q = float(m["q"])
            if not 0 < q < 1:
                raise ITNetInputError(f"column {c!r}: a quantile must be in (0, 1)")
            quantiles[q] = c
    unpaired = sorted(set(lo) ^ set(hi))
    if unpaired:
        raise ITNetInputError(
            f"interval columns come in pairs: level(s) {unpaired} have only a lo or a hi column"
        )
    levels = {lv: (lo[lv], hi[lv]) for lv in sorted(lo)}
    return PredColumns(point, levels, dict(sorted(quantiles.items())))


def frame_library(df: Any) -> str:
    if isinstance(df, (pl.DataFrame, pl.LazyFrame)):
        return "polars"
    if isinstance(df, pd.DataFrame):
        return "pandas"
    raise ITNetInputError(
        f"expected a pandas or polars DataFrame, got {type(df).__module__}.{type(df).__name__}."
    )


def to_polars(df: Any, wanted: Sequence[str | None] = ()) -> pl.DataFrame:
    """A polars copy of ``df``; pandas index levels named in ``wanted`` become columns."""
    if isinstance(df, pl.LazyFrame):
        return df.collect()
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pd.DataFrame):
        names = [str(c) for c in df.columns]
        in_index = [n for n in df.index.names if n is not None and str(n) in wanted]
        if any(str(n) not in names for n in in_index):
            df = df.reset_index(level=[n for n in in_index if str(n) not in names])
        return pl.from_pandas(df.reset_index(drop=True))
    frame_library(df)  # raises
    raise AssertionError  # pragma: no cover


def to_library(df: pl.DataFrame, library: str):
    """``df`` as a frame of ``library`` ("pandas" or "polars")."""
    return df.to_pandas() if library == "pandas" else df


def canonical_time(df: Any, col: str, wanted: Sequence[str | None] = ()) -> tuple[pl.Series, str]:
    """``(times, kind)``: column ``col`` as canonical time (Int64 ns or Float64), as ingest
    converts it, row for row; ``kind`` is "datetime" or "numeric"."""
    src = make_source(df, [*wanted, col])
    if col not in src.columns:
        raise ITNetInputError(f"column {col!r} not found (columns: {src.columns})")
    times, meta = src.time(col)
    return times, meta.kind


def pred_view(
    df: Any,
    *,
    id_col: str | None = "unique_id",
    time_col: str = "ds",
    variable_col: str | None = None,
    target_col: str = "y",
    pred_col: str = PRED_COL,
    keep: Sequence[str] = (),
    require_pred: bool = True,
) -> tuple[pl.DataFrame, PredColumns, str]:
    """A prediction-like frame as polars with canonical columns.

    Returns ``(frame, pred_columns, time_kind)``. ``frame`` has ``unique_id`` (the user's ids;
    ``SINGLE_SERIES_ID`` when there is no id column), ``time`` (canonical), ``cutoff``
    (canonical, when the frame has one), ``variable`` (String: the variable column, or
    ``target_col`` for a one-channel frame without one), ``y`` (when ``target_col`` is there),
    the forecast columns under their own names, and the ``keep`` columns as ``__keep__<name>``.
    """
    pl_df = to_polars(df, [id_col, time_col])
    src_cols = list(pl_df.columns)
    if time_col not in pl_df.columns:
        raise ITNetInputError(
            f"time column {time_col!r} not found in the forecast frame (columns: {src_cols}); "
            "pass time_col= to name it"
        )
    pcols = parse_pred_columns(pl_df.columns, pred_col)
    if require_pred and pcols.point is None and not pcols.columns:
        raise ITNetInputError(
            f"the forecast frame has no {pred_col!r} column (columns: {src_cols})"
        )
    times, kind = canonical_time(pl_df, time_col)
    n = pl_df.height
    cols: dict[str, pl.Series] = {}
    if id_col is not None and id_col in pl_df.columns:
        ids = pl_df[id_col]
        if isinstance(ids.dtype, (pl.Categorical, pl.Enum)):
            ids = ids.cast(pl.String)
        cols["unique_id"] = ids.alias("unique_id")
    else:
        cols["unique_id"] = pl.repeat(SINGLE_SERIES_ID, n, dtype=pl.String, eager=True)
    cols["time"] = times.alias("time")
    if "cutoff" in pl_df.columns:
        cutoff, ckind = canonical_time(pl_df, "cutoff")
        if ckind != kind:
            raise ITNetInputError("the cutoff and time columns hold different kinds of time")
        cols["cutoff"] = cutoff.alias("cutoff")
    var_name = variable_col or "variable"
    if var_name in pl_df.columns:
        cols["variable"] = pl_df[var_name].cast(pl.String).alias("variable")
    else:
        cols["variable"] = pl.repeat(target_col, n, dtype=pl.String, eager=True)
    if target_col in pl_df.columns:
        cols["y"] = _float(pl_df[target_col], target_col).alias("y")
    for c in pcols.columns:
        cols[c] = _float(pl_df[c], c)
    for c in keep:
        if c not in pl_df.columns:
            raise ITNetInputError(f"column {c!r} not found (columns: {src_cols})")
        cols[f"__keep__{c}"] = pl_df[c]
    return pl.DataFrame([s.alias(k) for k, s in cols.items()]), pcols, kind


def _float(s: pl.Series, name: str) -> pl.Series:
    if not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise ITNetInputError(f"column {name!r} has dtype {s.dtype}; it must hold numbers")
    return s.cast(pl.Float64).fill_nan(None)


def harmonize_ids(a: pl.DataFrame, b: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast the ``unique_id`` columns of two frames to one dtype (String if they differ)."""
    if a.schema["unique_id"] != b.schema["unique_id"]:
        a = a.with_columns(pl.col("unique_id").cast(pl.String))
        b = b.with_columns(pl.col("unique_id").cast(pl.String))
    return a, b


def as_plot_time(values: np.ndarray, kind: str) -> np.ndarray:
    """Canonical times as values matplotlib understands (datetime64 for datetime time)."""
    if kind == "datetime":
        return np.asarray(values, dtype=np.int64).astype("datetime64[ns]")
    return np.asarray(values, dtype=np.float64)

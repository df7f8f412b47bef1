"""Static and known-future covariates: reading, validating, scaling and aligning them.

Conventions follow Nixtla's neuralforecast:

* **static** covariates come in ``static_df`` (the id column + one numeric column per
  covariate, one row per series), passed to ``fit`` and, for series the model has not seen,
  to ``predict`` / ``update``;
* **known-future** covariates are named by the estimator's ``futr_exog_list``; their
  historic values are columns of the training frame ``df`` (a value on every row that holds
  an observation), and their values at the query times come in ``predict(futr_df=...)``
  (id, time and those columns).

Every covariate is standardised with the mean / standard deviation of the training data; the
model sees the standardised values (statics as an embedding added to every token and query,
known-future values as token features at the history's time points and as query features).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.data._covariate_frames import (
    ROW_COL,
    drop_columns,
    frame_columns,
    read_covariate_frame,
)
from itnet_ts.data._ingest import FrameSpec, format_time
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.errors import ITNetInputError

__all__ = [
    "Covariates",
    "attach_covariates",
    "fit_covariates",
    "futr_at_queries",
    "split_futr",
]

_ROW, _KEY = ROW_COL, "__itnet_cov_key__"


def _empty() -> np.ndarray:
    return np.zeros(0, np.float64)


@dataclass(frozen=True)
class Covariates:
    """The fitted covariate layout: column names and standardisation (loc / scale)."""

    static_cols: tuple[str, ...] = ()
    futr_cols: tuple[str, ...] = ()
    static_loc: np.ndarray = field(default_factory=_empty)
    static_scale: np.ndarray = field(default_factory=_empty)
    futr_loc: np.ndarray = field(default_factory=_empty)
    futr_scale: np.ndarray = field(default_factory=_empty)

    @property
    def n_static(self) -> int:
        return len(self.static_cols)

    @property
    def n_futr(self) -> int:
        return len(self.futr_cols)

    def to_json(self) -> str:
        return json.dumps(
            {
                "static_cols": list(self.static_cols),
                "futr_cols": list(self.futr_cols),
                "static_loc": self.static_loc.tolist(),
                "static_scale": self.static_scale.tolist(),
                "futr_loc": self.futr_loc.tolist(),
                "futr_scale": self.futr_scale.tolist(),
            }
        )

    @classmethod
    def from_dict(cls, d: dict) -> Covariates:
        """Validated inverse of ``to_json`` (raises ``ValueError`` on anything malformed)."""
        cols = {}
        for name in ("static_cols", "futr_cols"):
            v = d.get(name, [])
            if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
                raise ValueError(f"covariates {name} is not a list of strings")
            if len(set(v)) != len(v):
                raise ValueError(f"covariates {name} repeats a name")
            cols[name] = tuple(v)
        arrays = {}
        for name, n in (
            ("static_loc", len(cols["static_cols"])),
            ("static_scale", len(cols["static_cols"])),
            ("futr_loc", len(cols["futr_cols"])),
            ("futr_scale", len(cols["futr_cols"])),
        ):
            v = d.get(name, [])
            if (
                not isinstance(v, list)
                or len(v) != n
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                or not all(math.isfinite(x) for x in v)
            ):
                raise ValueError(f"covariates {name} is not a list of {n} finite numbers")
            arrays[name] = np.asarray(v, np.float64)
        if (arrays["static_scale"] <= 0).any() or (arrays["futr_scale"] <= 0).any():
            raise ValueError("covariates scale holds values <= 0")
        return cls(**cols, **arrays)


def _key(ids: Any) -> pl.Expr | pl.Series:
    """Join key of series ids (as strings: one key type whatever the ids' dtype)."""
    if isinstance(ids, pl.Series):
        return ids.cast(pl.String)
    return pl.Series(list(ids)).cast(pl.String)


def _series_key(ragged_ids: np.ndarray) -> pl.Series:
    return pl.Series(_KEY, [str(i) for i in ragged_ids.tolist()], dtype=pl.String)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 for constant columns)."""
    if len(x) == 0:
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    loc = x.mean(0)
    scale = x.std(0)
    scale = np.where(scale > 1e-12 * np.maximum(np.abs(loc), 1.0), scale, 1.0)
    return loc, scale


# --------------------------------------------------------------------------------------
# known-future covariates
# --------------------------------------------------------------------------------------


def check_futr_names(futr_cols: Sequence[str], spec_like: dict[str, str | None]) -> None:
    """futr columns may not be the id / time columns."""
    for role, col in spec_like.items():
        if col is not None and col in futr_cols:
            raise ITNetInputError(
                f"futr_exog_list names {col!r}, the {role} column; known-future covariates "
                "must be other columns."
            )


def split_futr(df: Any, futr_cols: Sequence[str], what: str) -> tuple[Any, Any]:
    """``(df without the futr columns, df)``: the observations go through the usual ingest,
    the covariates are read from the full frame afterwards. Missing columns: an error."""
    if not futr_cols:
        return df, None
    present = frame_columns(df)
    missing = [c for c in futr_cols if c not in present]
    if missing:
        raise ITNetInputError(
            f"{what} lacks the known-future covariate column{'s' * (len(missing) > 1)} "
            f"{missing} named by futr_exog_list (it has {present}). Their historic values must "
            "be columns of the frame, on every row that holds an observation."
        )
    return drop_columns(df, futr_cols), df


def _futr_frame(df: Any, spec: FrameSpec, cols: Sequence[str], what: str) -> pl.DataFrame:
    """One row per (series, time): ``key, time, row, *cols``; repeated (series, time) rows
    (tidy frames) must agree."""
    raw = read_covariate_frame(df, spec, cols, "known-future covariate", what, with_time=True)
    raw = raw.with_columns(_key(raw["unique_id"]).alias(_KEY))
    agg = raw.group_by(_KEY, "time").agg(
        pl.col(_ROW).min(),
        *[pl.col(c).drop_nulls().n_unique().alias(f"__n_{c}") for c in cols],
        *[pl.col(c).drop_nulls().first() for c in cols],
    )
    for c in cols:
        bad = agg.filter(pl.col(f"__n_{c}") > 1)
        if bad.height:
            key, t = bad.row(0, named=True)[_KEY], bad.row(0, named=True)["time"]
            rows = raw.filter((pl.col(_KEY) == key) & (pl.col("time") == t))[_ROW].to_list()
            raise ITNetInputError(
                f"{what}: known-future covariate {c!r} has different values for series {key!r} "
                f"at time {format_time(t, spec)} (rows {rows[:10]}); one (series, time) has one value."
            )
    return agg.select(_KEY, "time", _ROW, *cols)


def futr_at_points(
    df: Any, ragged: RaggedSeries, spec: FrameSpec, cols: Sequence[str], what: str
) -> np.ndarray:
    """(T, n_futr) raw known-future values at every time point of ``ragged``, read from the
    frame the observations came from; a missing value is an error naming row and column."""
    frame = _futr_frame(df, spec, cols, what)
    keys = pl.DataFrame(
        {
            _KEY: np.repeat(_series_key(ragged.ids).to_numpy(), ragged.lengths()),
            "time": ragged.times,
        },
        schema={_KEY: pl.String, "time": frame.schema["time"]},
    ).with_row_index("__pt")
    got = keys.join(frame, on=[_KEY, "time"], how="left").sort("__pt")
    for c in cols:
        miss = got.filter(pl.col(c).is_null())
        if miss.height:
            r = miss.row(0, named=True)
            row = f"row {r[_ROW]}" if r[_ROW] is not None else "a row"
            raise ITNetInputError(
                f"{what}: {row} (series {r[_KEY]!r}, time {format_time(r['time'], spec)}) has an "
                f"observation but no value of the known-future covariate {c!r} (null/NaN; "
                f"{miss.height} such time points in all). Known-future covariates need a value "
                "at every observed time: fill them (they are known in advance by definition), "
                "or drop the column from futr_exog_list."
            )
    return got.select(cols).to_numpy().astype(np.float64).reshape(len(keys), len(cols))


def futr_at_queries(
    cov: Covariates,
    futr_df: Any,
    spec: FrameSpec,
    ids: np.ndarray,
    q_series: np.ndarray,
    q_time: np.ndarray,
) -> np.ndarray | None:
    """(Q, n_futr) standardised known-future values at the query (series, time) pairs."""
    if cov.n_futr == 0:
        if futr_df is not None:
            raise ITNetInputError(
                "futr_df= was given, but the model was fit without known-future covariates; "
                "refit with futr_exog_list=[...] (and those columns in the training frame), or "
                "drop futr_df=."
            )
        return None
    cols = cov.futr_cols
    if futr_df is None:
        raise ITNetInputError(
            f"this model uses the known-future covariates {list(cols)}: pass their values at "
            f"the query times with futr_df= (columns {spec.id_col or '(no id)'}, "
            f"{spec.time_col!r}, {list(cols)}); make_future_dataframe(h=...) lists the query "
            "times of a horizon."
        )
    frame = _futr_frame(futr_df, spec, cols, "futr_df")
    keys = pl.DataFrame(
        {_KEY: _series_key(ids).to_numpy()[q_series], "time": q_time},
        schema={_KEY: pl.String, "time": frame.schema["time"]},
    ).with_row_index("__q")
    got = keys.join(frame, on=[_KEY, "time"], how="left").sort("__q")
    for c in cols:
        miss = got.filter(pl.col(c).is_null())
        if miss.height:
            r = miss.row(0, named=True)
            n_pairs = miss.select(_KEY, "time").unique().height
            more = f" ({n_pairs} query times in all)" if n_pairs > 1 else ""
            why = "has no row" if r[_ROW] is None else f"has a null/NaN in row {r[_ROW]}"
            raise ITNetInputError(
                f"futr_df {why} for series {r[_KEY]!r} at query time {format_time(r['time'], spec)}"
                f"{more}: the known-future covariate {c!r} must be given at every query time. "
                "Add those rows (make_future_dataframe(h=...) lists the query times of a "
                "horizon; with times=, the query times themselves)."
            )
    x = got.select(cols).to_numpy().astype(np.float64).reshape(len(keys), len(cols))
    return (x - cov.futr_loc) / cov.futr_scale


# --------------------------------------------------------------------------------------
# static covariates
# --------------------------------------------------------------------------------------


def _static_frame(
    static_df: Any, spec: FrameSpec, cols: Sequence[str] | None, what: str = "static_df"
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    present = frame_columns(static_df)
    if cols is None:
        skip = {spec.id_col or "unique_id"}
        cols = tuple(c for c in present if c not in skip)
        if not cols:
            raise ITNetInputError(
                f"{what} has no covariate columns (it has {present}); give the id column and "
                "one numeric column per static covariate."
            )
    frame = read_covariate_frame(static_df, spec, cols, "static covariate", what, with_time=False)
    for c in cols:
        row = frame.select(pl.col(c).is_null().arg_true().first()).item()
        if row is not None:
            sid = frame["unique_id"][row]
            raise ITNetInputError(
                f"{what}: static covariate {c!r} is missing (null/NaN) in row {row} (series "
                f"{sid!r}). Static covariates need a value for every series: fill it (e.g. "
                "with the column mean, adding a 0/1 indicator column if being missing matters)."
            )
    frame = frame.with_columns(_key(frame["unique_id"]).alias(_KEY))
    dup = frame.filter(pl.col(_KEY).is_duplicated())
    if dup.height:
        key = dup[_KEY][0]
        rows = dup.filter(pl.col(_KEY) == key)[_ROW].to_list()
        raise ITNetInputError(
            f"{what}: series {key!r} appears in rows {rows[:10]}; static_df has one row per series."
        )
    return frame, tuple(cols)


def static_for(frame: pl.DataFrame, cols: Sequence[str], ids: np.ndarray, what: str) -> np.ndarray:
    """(S, n_static) raw statics of series ``ids`` from a checked static frame."""
    keys = pl.DataFrame({_KEY: _series_key(ids)}).with_row_index("__s")
    got = keys.join(frame, on=_KEY, how="left").sort("__s")
    miss = got.filter(pl.col(_ROW).is_null())[_KEY].to_list()
    if miss:
        more = f" and {len(miss) - 5} more" if len(miss) > 5 else ""
        raise ITNetInputError(
            f"{what} has no row for series {miss[:5]}{more}; give the static covariates of "
            "every series (one row per series, matched on the id column; check that the ids "
            "have the same type as in the data)."
        )
    return got.select(cols).to_numpy().astype(np.float64).reshape(len(ids), len(cols))


# --------------------------------------------------------------------------------------
# fit / predict entry points
# --------------------------------------------------------------------------------------


def fit_covariates(
    ragged: RaggedSeries,
    spec: FrameSpec,
    futr_cols: Sequence[str],
    full_df: Any,
    static_df: Any,
) -> tuple[Covariates, RaggedSeries]:
    """Read, check and standardise the training covariates; ``ragged`` with them attached."""
    cov_kw: dict[str, Any] = {}
    static = futr = None
    if static_df is not None:
        frame, scols = _static_frame(static_df, spec, None)
        raw = static_for(frame, scols, ragged.ids, "static_df")
        loc, scale = _standardise(raw)
        static = (raw - loc) / scale
        cov_kw.update(static_cols=scols, static_loc=loc, static_scale=scale)
    if futr_cols:
        raw = futr_at_points(full_df, ragged, spec, futr_cols, "the training frame")
        loc, scale = _standardise(raw)
        futr = (raw - loc) / scale
        cov_kw.update(futr_cols=tuple(futr_cols), futr_loc=loc, futr_scale=scale)
    cov = Covariates(**cov_kw)
    return cov, _with(ragged, static, futr)


def attach_covariates(
    cov: Covariates,
    ragged: RaggedSeries,
    spec: FrameSpec,
    full_df: Any,
    static_df: Any,
    known: RaggedSeries | None,
    what: str,
) -> RaggedSeries:
    """``ragged`` (new data at predict / update time) with its standardised covariates:
    known-future values from ``full_df``, statics from ``static_df`` or, for series the
    model holds already, from ``known`` (the fitted history)."""
    static = futr = None
    if cov.n_static:
        static = np.zeros((ragged.n_series, cov.n_static))
        given = np.zeros(ragged.n_series, bool)
        if static_df is not None:  # series in static_df take those values ...
            frame, _ = _static_frame(static_df, spec, cov.static_cols)
            keys = set(frame[_KEY].to_list())
            given = np.array([str(i) in keys for i in ragged.ids.tolist()], bool)
            if given.any():
                raw = static_for(frame, cov.static_cols, ragged.ids[given], "static_df")
                static[given] = (raw - cov.static_loc) / cov.static_scale
        if not given.all():  # ... the others keep their fitted values
            static[~given] = _known_static(cov, ragged.ids[~given], known, what)
    elif static_df is not None:
        raise ITNetInputError(
            "static_df= was given, but the model was fit without static covariates; refit "
            "with fit(df, static_df=...), or drop static_df=."
        )
    if cov.n_futr:
        raw = futr_at_points(full_df, ragged, spec, cov.futr_cols, what)
        futr = (raw - cov.futr_loc) / cov.futr_scale
    return _with(ragged, static, futr)


def _known_static(
    cov: Covariates, ids: np.ndarray, known: RaggedSeries | None, what: str
) -> np.ndarray:
    index = {} if known is None else {str(k): i for i, k in enumerate(known.ids.tolist())}
    miss = [str(i) for i in ids.tolist() if str(i) not in index]
    if miss or known is None or known.static is None:
        shown = miss[:5] or [str(i) for i in ids.tolist()[:5]]
        raise ITNetInputError(
            f"{what}: no static covariates for series {shown}: this model uses the static "
            f"covariates {list(cov.static_cols)}; pass static_df= with a row for each of these "
            "series (series of the training frame default to their training values)."
        )
    return known.static[[index[str(i)] for i in ids.tolist()]]


def _with(ragged: RaggedSeries, static: np.ndarray | None, futr: np.ndarray | None):
    from dataclasses import replace

    return replace(ragged, static=static, futr=futr)

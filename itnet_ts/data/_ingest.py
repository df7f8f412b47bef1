"""Dataframe ingest: user frames in, one canonical polars frame out, and back.

Users give a pandas or polars ``DataFrame`` in one of three shapes (see DESIGN.md §2):

* **long** — ``unique_id, ds, y``: one channel, named after the target column;
* **wide** — ``unique_id, ds, <channel columns...>``: a null / NaN means "not observed";
* **tidy** — ``unique_id, ds, variable, value``: one row per observation.

:func:`ingest` turns any of them into the **canonical frame**, a polars ``DataFrame`` with
exactly these columns, one row per observation, sorted by ``(unique_id, time, variable)``:

``unique_id``
    The user's id values with the user's dtype (a pandas / polars categorical id becomes
    ``String`` here and is restored on output). A frame without an id column is one
    series whose id is the string :data:`SINGLE_SERIES_ID` (``"series_0"``).
``time``
    ``Int64`` nanoseconds since the Unix epoch in UTC for datetime (and date) input —
    naive datetimes are taken as-is, as if they were UTC; tz-aware ones are converted to
    UTC — or ``Float64`` for numeric input (integers become ``Float64``).
``variable``
    ``String``: the channel name.
``value``
    ``Float64``: the observed value. Nulls and NaN mean "not observed" and are dropped;
    ``±inf`` is an error.

The accompanying :class:`FrameSpec` records what the user gave (library, shape, column
names, dtypes, time zone) so that :func:`to_user_frame` can hand predictions back in the
same library, with the same column names and the same time / id dtypes.

pandas input is converted to polars on entry (column by column, so that errors name the
column); everything after that is the same code path for both libraries. Rows named in
error messages are 0-based positions in the user's frame (not pandas index labels).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "SINGLE_SERIES_ID",
    "FrameSpec",
    "TimeMeta",
    "check_ids",
    "check_times",
    "fmt_time",
    "format_time",
    "ingest",
    "make_source",
    "polars_time_out",
    "time_unit_of",
    "to_user_frame",
]

#: The ``unique_id`` given to every row of a frame that has no id column (one series).
SINGLE_SERIES_ID = "series_0"

_SHAPES = ("auto", "long", "wide", "tidy")
_DUPLICATES = ("error", "mean", "last")
_KEYS = ["unique_id", "time", "variable"]
# One Int64 sort key stands in for (unique_id, time, variable): sorting one integer column
# is several times faster than a three-column sort with strings in it.
_STAMP = "__itnet_stamp__"  # dense rank of (unique_id, time) among the frame's rows
_KEY = "__itnet_key__"  # stamp * n_channels + channel rank
_ROW = "__itnet_row__"  # internal column; frames are built with fixed names, never the user's
_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_NS_PER_DAY = 86_400 * 1_000_000_000
_INT64_MAX = 2**63 - 1
_FLOAT_EXACT_INT = 2**53
_DATETIME_DTYPE_RE = re.compile(r"^Datetime\((\w+)(?:, (.+))?\)$")
_POLARS_DTYPES: dict[str, Any] = {
    name: getattr(pl, name)
    for name in (
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
        "Float32", "Float64", "String", "Boolean", "Date", "Categorical",
    )
}  # fmt: skip


# --------------------------------------------------------------------------------------
# FrameSpec
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameSpec:
    """What the user's frame looked like; enough to give results back in the same form.

    All fields are plain strings / tuples so the spec serialises to JSON
    (:meth:`to_dict` / :meth:`from_dict`).
    """

    library: str  # "pandas" | "polars": what the user gave; outputs use the same
    shape: str  # "long" | "wide" | "tidy"
    id_col: str | None  # None when the user frame had no id column (one series)
    time_col: str
    channels: tuple[str, ...]  # sorted channel names
    target_col: str | None  # long shape: the y column
    variable_col: str | None  # tidy shape
    value_col: str | None  # tidy shape
    time_kind: str  # "datetime" | "numeric"
    time_zone: str | None  # tz of a tz-aware datetime column, else None
    time_dtype: str  # e.g. "Datetime(ns)", "Datetime(us, UTC)", "Date", "Float64", "Int64"
    id_dtype: str  # polars dtype string of the id column ("String" when there is none)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``channels`` as a list)."""
        out = asdict(self)
        out["channels"] = list(self.channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameSpec:
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["channels"] = tuple(fields["channels"])
        return cls(**fields)


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def _dtype_str(dtype: Any) -> str:
    """A short, parseable polars dtype name (``Enum`` is recorded as ``Categorical``)."""
    if isinstance(dtype, pl.Datetime):
        tz = f", {dtype.time_zone}" if dtype.time_zone else ""
        return f"Datetime({dtype.time_unit}{tz})"
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Categorical, pl.Enum):
        return "Categorical"
    return str(dtype)


def _dtype_from_str(name: str) -> Any | None:
    """The polars dtype for a :func:`_dtype_str` name, or ``None`` when unknown."""
    if name in _POLARS_DTYPES:
        return _POLARS_DTYPES[name]
    match = _DATETIME_DTYPE_RE.match(name)
    if match and match.group(1) in ("ms", "us", "ns"):
        return pl.Datetime(match.group(1), match.group(2))
    return None


def _is_stringlike(dtype_name: str) -> bool:
    return dtype_name in ("String", "Categorical")


def _tz_name(tz: Any) -> str | None:
    """A string naming a pandas / Python tzinfo that pandas accepts back as ``tz=``."""
    if tz is None:
        return None
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key:
        return str(key)
    if tz is _dt.timezone.utc or str(tz) == "UTC":
        return "UTC"
    try:
        offset = tz.utcoffset(None)
    except Exception:  # some tzinfo need a datetime
        offset = None
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        return f"{sign}{hours:02d}:{mins:02d}"
    return str(tz)


def _suggest(name: str, columns: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in columns}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return matches[0] if matches else None


def _missing_column(name: str, role: str, param: str, columns: Sequence[str]) -> ITNetInputError:
    shown = ", ".join(repr(c) for c in list(columns)[:20])
    more = " ..." if len(columns) > 20 else ""
    match = _suggest(name, columns)
    guess = f"; did you mean {match!r}?" if match else "."
    return ITNetInputError(
        f"{role} column {name!r} not found in the frame (columns: {shown}{more}){guess}",
        param=param,
        hint=f"Pass {param}='<column name>' to name it.",
    )


def _first_true(mask: pl.Series) -> int | None:
    idx = mask.fill_null(False).arg_true()
    return int(idx[0]) if idx.len() else None


def _dense_codes(s: pl.Series) -> pl.Series:
    """``UInt32`` codes ordered like the values (sorting by codes = sorting by values)."""
    uniq = s.unique().sort()
    codes = pl.int_range(0, uniq.len(), dtype=pl.UInt32, eager=True)
    return s.replace_strict(uniq, codes, return_dtype=pl.UInt32)


def _stamp_ranks(ids: pl.Series, times: pl.Series) -> pl.Series:
    """Dense rank of each row's (id, time) pair, ordered like the pairs."""
    frame = pl.DataFrame({"i": _dense_codes(ids), "t": times})
    order = frame.select(pl.arg_sort_by("i", "t")).to_series()
    srt = frame[order]
    new = (srt["i"] != srt["i"].shift(1)) | (srt["t"] != srt["t"].shift(1))
    ranks_sorted = new.fill_null(True).cast(pl.Int64).cum_sum() - 1
    ranks = np.empty(frame.height, dtype=np.int64)
    ranks[order.to_numpy()] = ranks_sorted.to_numpy()
    return pl.Series(_STAMP, ranks)


def _series_label(ids: pl.Series | None, row: int) -> str:
    if ids is None:
        return ""
    return f" (series {ids[row]!r})"


# --------------------------------------------------------------------------------------
# time conversion: user column -> canonical Int64 ns / Float64
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeMeta:
    kind: str  # "datetime" | "numeric"
    tz: str | None
    dtype: str


def _ints_to_ns(ints: pl.Series, factor: int, col: str) -> pl.Series:
    """Multiply int64 time values by ``factor`` into ns, refusing int64 overflow."""
    ints = ints.cast(pl.Int64)
    if factor != 1:
        bound = _INT64_MAX // factor
        bad = _first_true(ints.abs() > bound)
        if bad is not None:
            raise ITNetInputError(
                f"time column {col!r}, row {bad}: the time is outside the range nanoseconds "
                "since 1970 can hold (years 1677-2262). Use times within that range."
            )
        ints = ints * factor
    return ints


def _string_time_error(col: str, dtype: Any, library: str) -> ITNetInputError:
    how = (
        f"pd.to_datetime(df[{col!r}])"
        if library == "pandas"
        else f"df.with_columns(pl.col({col!r}).str.to_datetime())"
    )
    return ITNetInputError(
        f"time column {col!r} holds text (dtype {dtype}), not datetimes or numbers. "
        f"Parse it first, e.g. {how}; or, for numeric time, cast it to numbers."
    )


def _polars_time(s: pl.Series, col: str, library: str) -> tuple[pl.Series, TimeMeta]:
    dtype = s.dtype
    if isinstance(dtype, pl.Datetime):
        unit = dtype.time_unit
        ns = _ints_to_ns(s.to_physical(), _NS_PER[unit], col)
        return ns, TimeMeta("datetime", dtype.time_zone, _dtype_str(dtype))
    if dtype == pl.Date:
        ns = _ints_to_ns(s.to_physical(), _NS_PER_DAY, col)
        return ns, TimeMeta("datetime", None, "Date")
    if dtype.is_integer():
        nonnull = s.drop_nulls()
        if nonnull.len() and max(abs(nonnull.min()), abs(nonnull.max())) > _FLOAT_EXACT_INT:
            back = s.cast(pl.Float64).cast(dtype, strict=False)  # null where it overflows
            lossy = _first_true(s.is_not_null() & (back != s).fill_null(True))
            if lossy is not None:
                raise ITNetInputError(
                    f"time column {col!r}, row {lossy}: the integer time {s[lossy]} is too large "
                    "to hold exactly as a float64 (numeric time is float64). If these are epoch "
                    "timestamps, convert the column to datetimes first, e.g. "
                    f"pd.to_datetime(df[{col!r}], unit='ns') or pl.from_epoch(pl.col({col!r}), "
                    "'ns')."
                )
        return s.cast(pl.Float64), TimeMeta("numeric", None, _dtype_str(dtype))
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return s.cast(pl.Float64), TimeMeta("numeric", None, "Float64")
    if dtype == pl.Null:
        return s.cast(pl.Float64), TimeMeta("numeric", None, "Float64")
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        raise _string_time_error(col, dtype, library)
    if isinstance(dtype, pl.Duration):
        raise ITNetInputError(
            f"time column {col!r} holds durations (dtype {dtype}). Use datetimes, or convert "
            f"the durations to numbers, e.g. df[{col!r}].dt.total_seconds() (pandas) or "
            f"pl.col({col!r}).dt.total_seconds() (polars)."
        )
    raise ITNetInputError(
        f"time column {col!r} has dtype {dtype}; it must hold datetimes, dates or numbers."
    )


def _pandas_time(s: pd.Series, col: str) -> tuple[pl.Series, TimeMeta]:
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        tz = _tz_name(s.dt.tz)
        unit = s.dt.unit
        if tz is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        raw = s.to_numpy(dtype=f"datetime64[{unit}]").view(np.int64)
        ints = pl.Series(col, raw, dtype=pl.Int64)
        nat = s.isna().to_numpy()
        if nat.any():
            ints = ints.set(pl.Series(nat), None)
        ns = _ints_to_ns(ints, _NS_PER[unit], col)
        label = f"Datetime({unit}, {tz})" if tz else f"Datetime({unit})"
        return ns, TimeMeta("datetime", tz, label)
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("datetime", "datetime64"):
            nonnull = s[s.notna()]
            zones = {_tz_name(getattr(x, "tzinfo", None)) for x in nonnull}
            if len(zones) > 1:
                shown = ", ".join(sorted("naive" if z is None else z for z in zones))
                raise ITNetInputError(
                    f"time column {col!r} mixes time zones ({shown}). Convert it to one time "
                    f"zone first, e.g. df[{col!r}] = pd.to_datetime(df[{col!r}], utc=True)."
                )
            return _pandas_time(pd.Series(pd.to_datetime(s), name=s.name), col)
        if inferred == "date":
            return _polars_time(pl.Series(col, s.tolist(), dtype=pl.Date), col, "pandas")
        if inferred in ("string", "bytes"):
            raise _string_time_error(col, dtype, "pandas")
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
            return _pandas_time(pd.Series(pd.to_numeric(s), name=s.name), col)
        raise ITNetInputError(
            f"time column {col!r} holds mixed values ({inferred}); it must hold datetimes or "
            f"numbers only. Convert it, e.g. pd.to_datetime(df[{col!r}])."
        )
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        return _polars_time(pl.Series(col, s.to_numpy()), col, "pandas")
    if pd.api.types.is_bool_dtype(dtype):
        raise ITNetInputError(f"time column {col!r} holds booleans; it must hold datetimes.")
    return _polars_time(_from_pandas(s, col, "time"), col, "pandas")


# --------------------------------------------------------------------------------------
# value / id conversion
# --------------------------------------------------------------------------------------


def _from_pandas(s: pd.Series, col: str, role: str) -> pl.Series:
    try:
        out = pl.from_pandas(s)
    except Exception as exc:
        raise ITNetInputError(
            f"{role} column {col!r} (dtype {s.dtype}) cannot be read: {exc}. Give it one "
            "plain type, e.g. df[col].astype(str) for ids or pd.to_numeric for values."
        ) from None
    return out.rename(col)


def _not_numeric(
    col: str, dtype: Any, role: str, row: int | None, shown: Any, mostly_numbers: bool = False
) -> ITNetInputError:
    where = f"; row {row} holds {shown!r}" if row is not None else ""
    if mostly_numbers:
        hint = " Fix that value, or make it empty (= not observed)."
    elif role == "channel":
        hint = f" If {col!r} identifies the series, pass id_col={col!r}; otherwise drop the column."
    else:
        hint = ""
    return ITNetInputError(
        f"{role} column {col!r} is not numeric (dtype {dtype}{where}). Values must be numbers: "
        f"convert with pd.to_numeric(df[{col!r}]) or pl.col({col!r}).cast(pl.Float64).{hint}"
    )


def _polars_values(s: pl.Series, col: str, role: str) -> pl.Series:
    dtype = s.dtype
    if dtype == pl.Null:
        return s.cast(pl.Float64)
    if dtype.is_numeric():
        return s.cast(pl.Float64)
    row = shown = None
    mostly = False
    if dtype == pl.String:
        parsed = s.cast(pl.Float64, strict=False)
        bad = s.is_not_null() & parsed.is_null()
        row = _first_true(bad)
        shown = s[row] if row is not None else None
        mostly = parsed.is_not_null().sum() > bad.sum()
    elif dtype == pl.Boolean:
        raise ITNetInputError(
            f"{role} column {col!r} holds booleans (dtype Boolean). Cast it to numbers if it "
            f"is a 0/1 channel, e.g. pl.col({col!r}).cast(pl.Float64) or df[{col!r}]"
            ".astype(float); otherwise drop the column."
        )
    raise _not_numeric(col, dtype, role, row, shown, mostly)


def _pandas_values(s: pd.Series, col: str, role: str) -> pl.Series:
    if pd.api.types.is_object_dtype(s.dtype):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
            return _polars_values(_from_pandas(pd.to_numeric(s), col, role), col, role)
        if inferred == "boolean":
            return _polars_values(pl.Series(col, [], dtype=pl.Boolean), col, role)
        coerced = pd.to_numeric(s, errors="coerce")
        bad = np.flatnonzero((coerced.isna() & s.notna()).to_numpy())
        row = int(bad[0]) if bad.size else None
        mostly = int(coerced.notna().sum()) > bad.size
        shown = s.iloc[row] if row is not None else None
        raise _not_numeric(col, s.dtype, role, row, shown, mostly)
    return _polars_values(_from_pandas(s, col, role), col, role)


def _pandas_ids(s: pd.Series, col: str) -> pl.Series:
    if pd.api.types.is_object_dtype(s.dtype):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred.startswith("mixed"):
            raise ITNetInputError(
                f"id column {col!r} mixes value types ({inferred}); give the ids one type, "
                f"e.g. df[{col!r}] = df[{col!r}].astype(str)."
            )
    return _from_pandas(s, col, "id")


def check_ids(ids: pl.Series, col: str) -> pl.Series:
    dtype = ids.dtype
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Categorical, pl.Enum):
        ids = ids.cast(pl.String)
    elif isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object)) or dtype == pl.Null:
        raise ITNetInputError(
            f"id column {col!r} has dtype {dtype}; ids must be strings or numbers."
        )
    missing = ids.is_null()
    if ids.dtype.is_float():
        missing = missing | ids.is_nan()
    row = _first_true(missing)
    if row is not None:
        raise ITNetInputError(
            f"id column {col!r}, row {row}: the series id is missing (null/NaN). Every row "
            f"needs an id: drop those rows or fill them, e.g. df.dropna(subset=[{col!r}])."
        )
    return ids.rename("unique_id")


# --------------------------------------------------------------------------------------
# source adapters: one interface over pandas and polars frames
# --------------------------------------------------------------------------------------


class _Source:
    library: str
    columns: list[str]
    height: int

    def is_numeric(self, col: str) -> bool:  # for shape detection only
        raise NotImplementedError

    def is_datetime(self, col: str) -> bool:  # for hints only
        raise NotImplementedError

    def ids(self, col: str) -> pl.Series:
        raise NotImplementedError

    def time(self, col: str) -> tuple[pl.Series, TimeMeta]:
        raise NotImplementedError

    def values(self, col: str, role: str) -> pl.Series:
        raise NotImplementedError

    def raw(self, col: str) -> pl.Series:
        raise NotImplementedError

    def time_hint(self, col: str) -> str:  # extra advice when the time column is missing
        return ""


class _PolarsSource(_Source):
    library = "polars"

    def __init__(self, df: pl.DataFrame) -> None:
        self.df = df
        self.columns = list(df.columns)
        self.height = df.height

    def is_numeric(self, col: str) -> bool:
        return self.df.schema[col].is_numeric()

    def is_datetime(self, col: str) -> bool:
        return self.df.schema[col].is_temporal()

    def ids(self, col: str) -> pl.Series:
        return self.df.get_column(col)

    def time(self, col: str) -> tuple[pl.Series, TimeMeta]:
        return _polars_time(self.df.get_column(col), col, "polars")

    def values(self, col: str, role: str) -> pl.Series:
        return _polars_values(self.df.get_column(col), col, role)

    def raw(self, col: str) -> pl.Series:
        return self.df.get_column(col)


class _PandasSource(_Source):
    library = "pandas"

    def __init__(self, df: pd.DataFrame, wanted: Sequence[str | None]) -> None:
        if isinstance(df.columns, pd.MultiIndex):
            raise ITNetInputError(
                "the frame has MultiIndex columns; flatten them to one level of string names "
                "first, e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns]."
            )
        # id / time living in the index (a common pandas layout) become columns.
        names = [str(c) for c in df.columns]
        in_index = [n for n in df.index.names if n is not None and str(n) in wanted]
        if any(str(n) not in names for n in in_index):
            df = df.reset_index(level=[n for n in in_index if str(n) not in names])
            names = [str(c) for c in df.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ITNetInputError(
                f"the frame has duplicate column names {dupes}; give every column a unique name."
            )
        self.df = df
        self._by_name = dict(zip(names, df.columns, strict=True))
        self.columns = names
        self.height = len(df)

    def _col(self, col: str) -> pd.Series:
        s = self.df[self._by_name[col]]
        return s.reset_index(drop=True)

    def is_numeric(self, col: str) -> bool:
        dtype = self.df.dtypes[self._by_name[col]]
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)

    def is_datetime(self, col: str) -> bool:
        return pd.api.types.is_datetime64_any_dtype(self.df.dtypes[self._by_name[col]])

    def ids(self, col: str) -> pl.Series:
        return _pandas_ids(self._col(col), col)

    def time(self, col: str) -> tuple[pl.Series, TimeMeta]:
        return _pandas_time(self._col(col), col)

    def values(self, col: str, role: str) -> pl.Series:
        return _pandas_values(self._col(col), col, role)

    def raw(self, col: str) -> pl.Series:
        return _from_pandas(self._col(col), col, "variable")

    def time_hint(self, col: str) -> str:
        if isinstance(self.df.index, pd.DatetimeIndex):
            return f" The times seem to be in the index: use df.rename_axis({col!r}).reset_index()."
        return ""


def make_source(df: Any, wanted: Sequence[str | None]) -> _Source:
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        return _PolarsSource(df)
    if isinstance(df, pd.DataFrame):
        return _PandasSource(df, wanted)
    raise ITNetInputError(
        f"expected a pandas or polars DataFrame, got {type(df).__module__}.{type(df).__name__}."
    )


# --------------------------------------------------------------------------------------
# shape detection
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    shape: str
    id_col: str | None
    time_col: str
    target_col: str | None
    variable_col: str | None
    value_col: str | None
    value_cols: tuple[str, ...]  # wide: channel columns; long: (target,); tidy: ()


def _resolve_layout(
    src: _Source,
    *,
    id_col: str | None,
    time_col: str,
    target_col: str | None,
    variable_col: str | None,
    value_col: str | None,
    shape: str,
) -> _Layout:
    cols = src.columns
    if id_col is not None and id_col not in cols:
        if id_col != "unique_id":  # an id column the user named must exist
            raise _missing_column(id_col, "id", "id_col", cols)
        # the default name absent: one series -- unless a column looks like a misspelling of
        # it, which would otherwise silently become a channel
        near = difflib.get_close_matches(id_col, [c for c in cols if c != time_col], 1, 0.8)
        near = near or [c for c in cols if c.lower() == id_col and c != time_col]
        if near:
            raise ITNetInputError(
                f"id column {id_col!r} not found in the frame; did you mean {near[0]!r}? "
                f"Pass id_col={near[0]!r}, or id_col=None if the frame holds a single series."
            )
        id_col = None
    if time_col not in cols:
        err = _missing_column(time_col, "time", "time_col", cols)
        dated = [c for c in cols if src.is_datetime(c)]
        if dated and not _suggest(time_col, cols):
            err = ITNetInputError(f"{err} Datetime columns found: {dated}.")
        hint = src.time_hint(time_col)
        raise ITNetInputError(f"{err}{hint}") if hint else err
    if id_col == time_col:
        raise ITNetInputError(f"id_col and time_col are both {id_col!r}; they must differ.")
    others = [c for c in cols if c not in (id_col, time_col)]
    if not others:
        present = ", ".join(repr(c) for c in (id_col, time_col) if c is not None)
        raise ITNetInputError(
            f"the frame has only the id/time columns ({present}) and no values. Add channel "
            f"columns (wide), a {target_col or 'y'!r} column (long), or 'variable' and "
            "'value' columns (tidy)."
        )

    if shape == "auto":
        if variable_col is not None or value_col is not None:
            shape = "tidy"
        elif "variable" in others and "value" in others:
            shape = "tidy"
        elif (
            target_col is not None
            and target_col in others
            and not any(src.is_numeric(c) for c in others if c != target_col)
        ):
            shape = "long"
        else:
            shape = "wide"

    if shape == "tidy":
        variable_col = variable_col or "variable"
        value_col = value_col or "value"
        for name, role, param in (
            (variable_col, "variable", "variable_col"),
            (value_col, "value", "value_col"),
        ):
            if name not in others:
                raise _missing_column(name, role, param, cols)
        if variable_col == value_col:
            raise ITNetInputError(f"variable_col and value_col are both {value_col!r}.")
        return _Layout("tidy", id_col, time_col, None, variable_col, value_col, ())
    if shape == "long":
        if target_col is None or target_col not in others:
            raise _missing_column(str(target_col), "target", "target_col", cols)
        return _Layout("long", id_col, time_col, target_col, None, None, (target_col,))
    return _Layout("wide", id_col, time_col, None, None, None, tuple(others))


# --------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------


def fmt_time(value: Any, meta: TimeMeta) -> str:
    if meta.kind == "datetime":
        ts = pd.Timestamp(int(value), unit="ns", tz="UTC")
        ts = ts.tz_convert(meta.tz) if meta.tz else ts.tz_localize(None)
        return str(ts)
    if meta.dtype != "Float64" and float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def format_time(value: Any, spec: FrameSpec) -> str:
    """A canonical time (ns since the epoch, or a number) as the user's frame shows it."""
    return fmt_time(value, TimeMeta(spec.time_kind, spec.time_zone, spec.time_dtype))


def check_times(times: pl.Series, ids: pl.Series | None, col: str, meta: TimeMeta) -> None:
    row = _first_true(times.is_null())
    if row is not None:
        raise ITNetInputError(
            f"time column {col!r}, row {row}{_series_label(ids, row)}: the time is missing "
            f"(NaT/null). Drop or fill those rows, e.g. df.dropna(subset=[{col!r}]) or "
            f"df.drop_nulls({col!r})."
        )
    if meta.kind == "numeric":
        row = _first_true(~times.is_finite())
        if row is not None:
            raise ITNetInputError(
                f"time column {col!r}, row {row}{_series_label(ids, row)}: the time "
                f"{times[row]} is not finite. Times must be finite numbers; drop those rows."
            )


def _observations(
    base: pl.DataFrame,
    variable: str | pl.Series,
    var_code: int | pl.Series,
    n_channels: int,
    values: pl.Series,
    has_ids: bool,
    col: str,
) -> pl.DataFrame:
    """Observation rows: ``±inf`` is an error, null / NaN ("not observed") are dropped."""
    row = _first_true(values.is_infinite())
    if row is not None:
        series = f", series {base['unique_id'][row]!r}" if has_ids else ""
        name = variable if isinstance(variable, str) else variable[row]
        raise ITNetInputError(
            f"value column {col!r}, row {row}{series}, channel {name!r}: the value "
            f"{values[row]} is infinite. Replace infinities with NaN/null (= not observed) or "
            "with finite numbers."
        )
    var = pl.lit(variable, dtype=pl.String) if isinstance(variable, str) else variable
    code = pl.lit(var_code, dtype=pl.UInt32) if isinstance(var_code, int) else var_code
    key = (pl.col(_STAMP) * n_channels + code.cast(pl.Int64)).alias(_KEY)
    frame = base.with_columns(var.alias("variable"), key, values.alias("value"))
    return frame.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())


def _sort_and_resolve(obs: pl.DataFrame, duplicates: str, meta: TimeMeta) -> pl.DataFrame:
    """Sort by (series, time, channel) and apply the duplicates policy."""
    obs = obs.sort(_KEY)
    repeat = obs.select((pl.col(_KEY) == pl.col(_KEY).shift(1)).fill_null(False)).to_series()
    if not repeat.any():
        return obs
    group = (~repeat).cast(pl.Int64).cum_sum().alias("__group")
    obs = obs.with_columns(group)
    if duplicates == "error":
        dup_groups = group.filter(repeat).unique()
        dup = (
            obs.join(dup_groups.to_frame("__group"), on="__group", how="semi")
            .group_by("__group")
            .agg(pl.col(_KEYS).first(), pl.col(_ROW).sort().alias("rows"))
            .sort(pl.col("rows").list.first())
        )
        uid, t, var, rows = dup.select(*_KEYS, "rows").row(0)
        shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        more = (
            f" ({dup.height} repeated (series, time, channel) keys in all)"
            if dup.height > 1
            else ""
        )
        raise ITNetInputError(
            f"duplicate observations{more}: series {uid!r}, time {fmt_time(t, meta)}, "
            f"channel {var!r} appears in rows {shown}. Each (series, time, channel) may be "
            "observed once. Remove the duplicates, or pass duplicates='mean' to average them "
            "or duplicates='last' to keep the last one in input order."
        )
    if duplicates == "mean":
        value = pl.col("value").mean()
    else:  # the last in input order
        value = pl.col("value").sort_by(_ROW).last()
    return (
        obs.group_by("__group", maintain_order=True)
        .agg(pl.col(_KEYS).first(), value)
        .drop("__group")
    )


def _check_against(new: FrameSpec, fit: FrameSpec) -> None:
    """Raise if ``new`` (predict-time frame) is incompatible with ``fit`` (training)."""
    col = new.time_col
    if new.time_kind != fit.time_kind:
        was = "datetimes" if fit.time_kind == "datetime" else "numbers"
        now = "datetimes" if new.time_kind == "datetime" else "numbers"
        how = (
            f"convert them, e.g. pd.to_datetime(df[{col!r}], unit='s') (pandas) or "
            f"pl.from_epoch(pl.col({col!r}), 's') (polars) for epoch seconds"
            if fit.time_kind == "datetime"
            else "convert them to the numbers used in training (same origin and unit)"
        )
        raise ITNetInputError(
            f"time column {col!r} holds {now} ({new.time_dtype}), but the model was fit on "
            f"{was} ({fit.time_dtype}). Give times of the same kind as in training: {how}."
        )
    if new.time_kind == "datetime" and (new.time_zone is None) != (fit.time_zone is None):
        if fit.time_zone is not None:
            raise ITNetInputError(
                f"time column {col!r} holds naive datetimes, but the model was fit on "
                f"tz-aware ones ({fit.time_zone}). Localize them, e.g. "
                f"df[{col!r}].dt.tz_localize({fit.time_zone!r}) (pandas) or "
                f"pl.col({col!r}).dt.replace_time_zone({fit.time_zone!r}) (polars)."
            )
        raise ITNetInputError(
            f"time column {col!r} holds tz-aware datetimes ({new.time_zone}), but the model "
            "was fit on naive ones. Drop the time zone the way the training data did, e.g. "
            f"df[{col!r}].dt.tz_localize(None) (pandas) or "
            f"pl.col({col!r}).dt.replace_time_zone(None) (polars)."
        )
    if (new.id_col is None) != (fit.id_col is None):
        if fit.id_col is not None:
            raise ITNetInputError(
                f"the frame has no id column, but the model was fit with series ids in "
                f"{fit.id_col!r}. Add the id column (or pass id_col=... to name it)."
            )
        raise ITNetInputError(
            f"the frame has an id column {new.id_col!r}, but the model was fit on a single "
            "series without ids. Drop the id column (or pass id_col=None)."
        )
    if new.id_col is not None and _is_stringlike(new.id_dtype) != _is_stringlike(fit.id_dtype):
        raise ITNetInputError(
            f"id column {new.id_col!r} has dtype {new.id_dtype}, but the ids were "
            f"{fit.id_dtype} in training, so no series would match. Cast the ids to the "
            "training dtype."
        )
    unknown = sorted(set(new.channels) - set(fit.channels))
    if unknown:
        known = ", ".join(repr(c) for c in fit.channels[:20])
        raise ITNetInputError(
            f"channels {unknown} were never seen in training (known channels: {known}). "
            "Drop those columns / rows, or refit the model with them."
        )


def ingest(
    df: Any,
    *,
    id_col: str | None = "unique_id",
    time_col: str = "ds",
    target_col: str | None = "y",
    variable_col: str | None = None,
    value_col: str | None = None,
    shape: str = "auto",
    duplicates: str = "error",
    spec: FrameSpec | None = None,
) -> tuple[pl.DataFrame, FrameSpec]:
    """Turn a user frame (pandas or polars, long / wide / tidy) into the canonical frame.

    Parameters
    ----------
    df
        A pandas or polars ``DataFrame`` (a polars ``LazyFrame`` is collected). With
        pandas, an id / time column may also sit in the index.
    id_col
        Series id column. When the default ``"unique_id"`` is absent, or ``id_col=None``,
        the frame is one series with id :data:`SINGLE_SERIES_ID`. A non-default name that
        is absent is an error.
    time_col
        Time column: datetimes (naive or tz-aware, any unit), dates, or numbers.
    target_col
        Long shape: the value column; it names the one channel.
    variable_col, value_col
        Tidy shape: channel-name and value columns (defaults ``"variable"``/``"value"``).
    shape
        ``"auto"`` (default), ``"long"``, ``"wide"`` or ``"tidy"``. Auto: tidy when
        ``variable_col``/``value_col`` are given or columns ``variable`` and ``value``
        exist; long when ``target_col`` exists and no other column besides id/time is
        numeric; otherwise wide (every column besides id/time is a channel). Long and tidy
        ignore any further columns.
    duplicates
        What to do with several observations of one (series, time, channel):
        ``"error"`` (default), ``"mean"`` (average them) or ``"last"`` (keep the last in
        input order).
    spec
        The :class:`FrameSpec` of the training frame, at predict time: the new frame must
        have the same time kind, tz-awareness, id presence / id kind, and only channels
        seen in training (its shape may differ).

    Returns
    -------
    (canonical frame, FrameSpec of ``df``)
        See the module docstring for the canonical frame.

    Raises
    ------
    ITNetInputError
        On any invalid input; the message names the column, row (0-based position in
        ``df``) and series where it can, and says how to fix it.
    """
    if duplicates not in _DUPLICATES:
        raise ITNetInputError(
            f"duplicates must be one of {_DUPLICATES}, got {duplicates!r}: 'error' refuses "
            "them, 'mean' averages them, 'last' keeps the last one in input order."
        )
    if shape not in _SHAPES:
        raise ITNetInputError(f"shape must be one of {_SHAPES}, got {shape!r}.")
    if spec is not None and not isinstance(spec, FrameSpec):
        raise ITNetInputError(f"spec must be a FrameSpec, got {type(spec).__name__}.")

    src = make_source(df, [id_col, time_col])
    if src.height == 0:
        raise ITNetInputError(
            "the frame is empty (0 rows); give at least one observation per series."
        )
    layout = _resolve_layout(
        src,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        variable_col=variable_col,
        value_col=value_col,
        shape=shape,
    )
    n = src.height
    has_ids = layout.id_col is not None

    if layout.id_col is not None:
        raw_ids = src.ids(layout.id_col)
        id_dtype = _dtype_str(raw_ids.dtype)
        ids = check_ids(raw_ids, layout.id_col)
    else:
        id_dtype = "String"
        ids = pl.repeat(SINGLE_SERIES_ID, n, dtype=pl.String, eager=True).alias("unique_id")
    times, meta = src.time(layout.time_col)
    check_times(times, ids if has_ids else None, layout.time_col, meta)
    if meta.kind == "numeric":
        # -0.0 -> 0.0: one time, one key, one sign
        times = times.to_frame("t").select(
            pl.when(pl.col("t") == 0.0).then(pl.lit(0.0)).otherwise(pl.col("t")).alias("time")
        )["time"]

    base = pl.DataFrame(
        {
            _ROW: pl.int_range(0, n, dtype=pl.Int64, eager=True),
            "unique_id": ids,
            "time": times.rename("time"),
            _STAMP: _stamp_ranks(ids, times),
        }
    )

    if layout.shape == "tidy":
        assert layout.variable_col is not None and layout.value_col is not None
        variables = _tidy_variables(src.raw(layout.variable_col), layout.variable_col, ids, has_ids)
        values = src.values(layout.value_col, "value")
        channels = tuple(sorted(variables.unique().to_list()))
        codes = _dense_codes(variables)
        parts = [
            _observations(base, variables, codes, len(channels), values, has_ids, layout.value_col)
        ]
    else:
        channels = tuple(sorted(layout.value_cols))
        role = "channel" if layout.shape == "wide" else "target"
        order = {c: i for i, c in enumerate(channels)}
        parts = [
            _observations(base, c, order[c], len(channels), src.values(c, role), has_ids, c)
            for c in layout.value_cols
        ]

    obs = pl.concat(parts, how="vertical") if parts else base.clear()
    if obs.height == 0:
        raise ITNetInputError(
            "the frame has no observed values: every value is null/NaN. Give at least one "
            "observation."
        )
    canon = _sort_and_resolve(obs, duplicates, meta).select(
        pl.col("unique_id"),
        pl.col("time"),
        pl.col("variable").cast(pl.String),
        pl.col("value").cast(pl.Float64),
    )

    new_spec = FrameSpec(
        library=src.library,
        shape=layout.shape,
        id_col=layout.id_col,
        time_col=layout.time_col,
        channels=channels,
        target_col=layout.target_col,
        variable_col=layout.variable_col,
        value_col=layout.value_col,
        time_kind=meta.kind,
        time_zone=meta.tz,
        time_dtype=meta.dtype,
        id_dtype=id_dtype,
    )
    if spec is not None:
        _check_against(new_spec, spec)
    return canon, new_spec


def _tidy_variables(raw: pl.Series, col: str, ids: pl.Series, has_ids: bool) -> pl.Series:
    dtype = raw.dtype
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object)):
        raise ITNetInputError(
            f"variable column {col!r} has dtype {dtype}; channel names must be strings."
        )
    names = raw.cast(pl.String)
    row = _first_true(names.is_null())
    if row is not None:
        raise ITNetInputError(
            f"variable column {col!r}, row {row}{_series_label(ids if has_ids else None, row)}: "
            "the channel name is missing (null). Drop or fill those rows."
        )
    return names


# --------------------------------------------------------------------------------------
# back to the user's frame
# --------------------------------------------------------------------------------------


def time_unit_of(spec: FrameSpec) -> str:
    match = _DATETIME_DTYPE_RE.match(spec.time_dtype)
    return match.group(1) if match else "ns"


def _ns_series(pred_time: pl.Series) -> pl.Series:
    if pred_time.dtype.is_float():
        return pred_time.round(0).cast(pl.Int64)
    return pred_time.cast(pl.Int64)


def polars_time_out(pred_time: pl.Series, spec: FrameSpec, name: str) -> pl.Series:
    if spec.time_kind == "datetime":
        ns = _ns_series(pred_time)
        if spec.time_dtype == "Date":
            if bool((ns % _NS_PER_DAY == 0).all()):
                return pl.from_epoch(ns // _NS_PER_DAY, time_unit="d").alias(name)
            return pl.from_epoch(ns, time_unit="ns").dt.cast_time_unit("us").alias(name)
        out = pl.from_epoch(ns, time_unit="ns")
        if spec.time_zone:
            out = out.dt.replace_time_zone("UTC").dt.convert_time_zone(spec.time_zone)
        unit = time_unit_of(spec)
        if unit in ("ms", "us"):
            out = out.dt.cast_time_unit(unit)
        return out.alias(name)
    return _numeric_time_out(pred_time, spec).alias(name)


def _numeric_time_out(pred_time: pl.Series, spec: FrameSpec) -> pl.Series:
    t = pred_time.cast(pl.Float64)
    target = _dtype_from_str(spec.time_dtype)
    if target is not None and target.is_integer():
        finite = t.drop_nulls()
        if finite.len() == 0 or bool((finite.is_finite() & (finite == finite.round(0))).all()):
            cast = t.cast(target, strict=False)
            if cast.null_count() == t.null_count():
                return cast
    return t


def _pandas_time_out(pred_time: pl.Series, spec: FrameSpec) -> Any:
    if spec.time_kind == "datetime":
        ns = _ns_series(pred_time).to_numpy().astype("datetime64[ns]")
        out = pd.Series(ns)
        if spec.time_dtype == "Date":
            ints = ns.view(np.int64)
            if bool((ints % _NS_PER_DAY == 0).all()):
                return out.dt.date.astype(object)
            return out.dt.as_unit("us")
        if spec.time_zone:
            out = out.dt.tz_localize("UTC").dt.tz_convert(spec.time_zone)
        return out.dt.as_unit(time_unit_of(spec))
    return _numeric_time_out(pred_time, spec).to_pandas()


def _restore_ids(ids: pl.Series, id_dtype: str) -> pl.Series:
    target = _dtype_from_str(id_dtype)
    if target is None or ids.dtype == target:
        return ids
    try:
        return ids.cast(target)
    except Exception:  # e.g. ids that were never of that type; keep what we have
        return ids


def to_user_frame(
    pred: pl.DataFrame,
    spec: FrameSpec,
    value_cols: Sequence[str] = ("y_hat",),
    *,
    extra_time_cols: Sequence[str] = (),
) -> pd.DataFrame | pl.DataFrame:
    """Give a canonical-style prediction frame back in the user's library and dtypes.

    ``pred`` is a polars frame with ``unique_id``, ``time`` (``Int64`` ns UTC for datetime
    time, ``Float64`` for numeric), ``variable`` and the ``value_cols``. The result has the
    columns ``[id_col,] time_col, [variable_col or "variable",] *value_cols``: no id column
    when the user frame had none, no variable column for the long shape (one channel).

    Time comes back in the user's dtype: datetimes with the user's unit and time zone
    (sub-unit precision truncated); dates as dates when every time is midnight, else
    datetimes in microseconds; numeric time as ``Float64``, or the user's integer dtype
    when the user's times were integers and every output time is integral. The id column
    gets the user's dtype back.

    ``extra_time_cols`` names further ``pred`` columns holding canonical times (e.g. a
    ``cutoff`` column of cross-validation); they are converted like ``time`` and placed
    right after the time column, under their own names.
    """
    if isinstance(pred, pl.LazyFrame):
        pred = pred.collect()
    if not isinstance(pred, pl.DataFrame):
        raise ITNetInputError(f"pred must be a polars DataFrame, got {type(pred).__name__}.")
    value_cols = [value_cols] if isinstance(value_cols, str) else list(value_cols)
    extra = [extra_time_cols] if isinstance(extra_time_cols, str) else list(extra_time_cols)
    needed = ["unique_id", "time", *extra, *value_cols]
    if spec.shape != "long":
        needed.insert(2, "variable")
    missing = [c for c in needed if c not in pred.columns]
    if missing:
        raise ITNetInputError(
            f"prediction frame lacks columns {missing} (has {pred.columns}); it needs {needed}."
        )
    variable_name = spec.variable_col or "variable"
    names = [spec.id_col, spec.time_col, *extra]
    names += [variable_name] if spec.shape != "long" else []
    names += value_cols
    names = [c for c in names if c is not None]
    clashes = sorted({c for c in names if names.count(c) > 1})
    if clashes:
        raise ITNetInputError(
            f"output columns would repeat {clashes}; rename the value columns so that they "
            "differ from the id / time / variable column names."
        )

    if spec.library == "polars":
        cols: dict[str, pl.Series] = {}
        if spec.id_col is not None:
            cols[spec.id_col] = _restore_ids(pred["unique_id"], spec.id_dtype).alias(spec.id_col)
        cols[spec.time_col] = polars_time_out(pred["time"], spec, spec.time_col)
        for c in extra:
            cols[c] = polars_time_out(pred[c], spec, c)
        if spec.shape != "long":
            cols[variable_name] = pred["variable"].cast(pl.String).alias(variable_name)
        for c in value_cols:
            cols[c] = pred[c]
        return pl.DataFrame(list(cols.values()))

    pcols: dict[str, Any] = {}
    if spec.id_col is not None:
        pcols[spec.id_col] = _restore_ids(pred["unique_id"], spec.id_dtype).to_pandas()
    pcols[spec.time_col] = _pandas_time_out(pred["time"], spec)
    for c in extra:
        pcols[c] = _pandas_time_out(pred[c], spec)
    if spec.shape != "long":
        pcols[variable_name] = pred["variable"].cast(pl.String).to_pandas()
    for c in value_cols:
        pcols[c] = pred[c].to_pandas()
    return pd.DataFrame(
        {k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v) for k, v in pcols.items()}
    )

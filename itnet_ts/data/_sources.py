"""Reading the user's columns, pandas or polars, into canonical polars series: times to Int64 ns
since the epoch (UTC) or Float64, values to Float64, ids checked; ``make_source`` wraps a frame
of either library behind one interface. Errors name the column and the 0-based row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from itnet_ts.data._spec import (
    FLOAT_EXACT_INT,
    INT64_MAX,
    NS_PER,
    NS_PER_DAY,
    SINGLE_SERIES_ID,
    TimeMeta,
    dtype_str,
    first_true,
    tz_name,
)
from itnet_ts.errors import ITNetInputError

__all__ = ["Source", "canonical_ids", "check_ids", "make_source", "positive_zero"]


def _ints_to_ns(ints: pl.Series, factor: int, col: str) -> pl.Series:
    """Multiply int64 time values by ``factor`` into ns, refusing int64 overflow."""
    ints = ints.cast(pl.Int64)
    if factor != 1:
        bound = INT64_MAX // factor
        bad = first_true(ints.abs() > bound)
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
        ns = _ints_to_ns(s.to_physical(), NS_PER[unit], col)
        return ns, TimeMeta("datetime", dtype.time_zone, dtype_str(dtype))
    if dtype == pl.Date:
        ns = _ints_to_ns(s.to_physical(), NS_PER_DAY, col)
        return ns, TimeMeta("datetime", None, "Date")
    if dtype.is_integer():
        nonnull = s.drop_nulls()
        if nonnull.len() and max(abs(nonnull.min()), abs(nonnull.max())) > FLOAT_EXACT_INT:
            back = s.cast(pl.Float64).cast(dtype, strict=False)  # null where it overflows
            lossy = first_true(s.is_not_null() & (back != s).fill_null(True))
            if lossy is not None:
                raise ITNetInputError(
                    f"time column {col!r}, row {lossy}: the integer time {s[lossy]} is too large "
                    "to hold exactly as a float64 (numeric time is float64). If these are epoch "
                    "timestamps, convert the column to datetimes first, e.g. "
                    f"pd.to_datetime(df[{col!r}], unit='ns') or pl.from_epoch(pl.col({col!r}), "
                    "'ns')."
                )
        return s.cast(pl.Float64), TimeMeta("numeric", None, dtype_str(dtype))
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
        tz = tz_name(s.dt.tz)
        unit = s.dt.unit
        if tz is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        raw = s.to_numpy(dtype=f"datetime64[{unit}]").view(np.int64)
        ints = pl.Series(col, raw, dtype=pl.Int64)
        nat = s.isna().to_numpy()
        if nat.any():
            ints = ints.set(pl.Series(nat), None)
        ns = _ints_to_ns(ints, NS_PER[unit], col)
        label = f"Datetime({unit}, {tz})" if tz else f"Datetime({unit})"
        return ns, TimeMeta("datetime", tz, label)
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("datetime", "datetime64"):
            nonnull = s[s.notna()]
            zones = {tz_name(getattr(x, "tzinfo", None)) for x in nonnull}
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
        row = first_true(bad)
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
    row = first_true(missing)
    if row is not None:
        raise ITNetInputError(
            f"id column {col!r}, row {row}: the series id is missing (null/NaN). Every row "
            f"needs an id: drop those rows or fill them, e.g. df.dropna(subset=[{col!r}])."
        )
    return ids.rename("unique_id")


class Source:
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


class _PolarsSource(Source):
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


class _PandasSource(Source):
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


def make_source(df: Any, wanted: Sequence[str | None]) -> Source:
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        return _PolarsSource(df)
    if isinstance(df, pd.DataFrame):
        return _PandasSource(df, wanted)
    raise ITNetInputError(
        f"expected a pandas or polars DataFrame, got {type(df).__module__}.{type(df).__name__}."
    )


def canonical_ids(src: Source, id_col: str | None) -> tuple[pl.Series, str]:
    """(the ``unique_id`` of every row, the id column's dtype name): the checked ids, or
    :data:`SINGLE_SERIES_ID` on every row of a frame without an id column."""
    if id_col is None:
        ids = pl.repeat(SINGLE_SERIES_ID, src.height, dtype=pl.String, eager=True)
        return ids.alias("unique_id"), "String"
    raw_ids = src.ids(id_col)
    return check_ids(raw_ids, id_col), dtype_str(raw_ids.dtype)


def positive_zero(times: pl.Series, meta: TimeMeta) -> pl.Series:
    """Numeric times with -0.0 made 0.0 (one time, one key, one sign); datetimes as given."""
    if meta.kind != "numeric":
        return times
    return times.to_frame("t").select(
        pl.when(pl.col("t") == 0.0).then(pl.lit(0.0)).otherwise(pl.col("t")).alias("time")
    )["time"]

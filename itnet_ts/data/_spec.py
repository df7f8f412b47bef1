"""The frame spec: what the user's frame looked like (library, shape, column names, dtypes, time
zone), enough to give results back in the same form; polars dtype names, time metadata and
times formatted as the user would write them, and the check that a later frame (``predict``,
``update``) matches the one the model was fitted on.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "FLOAT_EXACT_INT",
    "INT64_MAX",
    "NS_PER",
    "NS_PER_DAY",
    "SINGLE_SERIES_ID",
    "FrameSpec",
    "TimeMeta",
    "check_against",
    "dtype_from_str",
    "dtype_str",
    "first_true",
    "fmt_time",
    "format_time",
    "series_label",
    "time_unit_of",
    "tz_name",
]


#: The ``unique_id`` given to every row of a frame that has no id column (one series).
SINGLE_SERIES_ID = "series_0"

NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
NS_PER_DAY = 86_400 * 1_000_000_000
INT64_MAX = 2**63 - 1
FLOAT_EXACT_INT = 2**53
_DATETIME_DTYPE_RE = re.compile(r"^Datetime\((\w+)(?:, (.+))?\)$")
_POLARS_DTYPES: dict[str, Any] = {
    name: getattr(pl, name)
    for name in (
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
        "Float32", "Float64", "String", "Boolean", "Date", "Categorical",
    )
}  # fmt: skip


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


def dtype_str(dtype: Any) -> str:
    """A short, parseable polars dtype name (``Enum`` is recorded as ``Categorical``)."""
    if isinstance(dtype, pl.Datetime):
        tz = f", {dtype.time_zone}" if dtype.time_zone else ""
        return f"Datetime({dtype.time_unit}{tz})"
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Categorical, pl.Enum):
        return "Categorical"
    return str(dtype)


def dtype_from_str(name: str) -> Any | None:
    """The polars dtype for a :func:`dtype_str` name, or ``None`` when unknown."""
    if name in _POLARS_DTYPES:
        return _POLARS_DTYPES[name]
    match = _DATETIME_DTYPE_RE.match(name)
    if match and match.group(1) in ("ms", "us", "ns"):
        return pl.Datetime(match.group(1), match.group(2))
    return None


def _is_stringlike(dtype_name: str) -> bool:
    return dtype_name in ("String", "Categorical")


def tz_name(tz: Any) -> str | None:
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


def first_true(mask: pl.Series) -> int | None:
    idx = mask.fill_null(False).arg_true()
    return int(idx[0]) if idx.len() else None


def series_label(ids: pl.Series | None, row: int) -> str:
    if ids is None:
        return ""
    return f" (series {ids[row]!r})"


@dataclass(frozen=True)
class TimeMeta:
    kind: str  # "datetime" | "numeric"
    tz: str | None
    dtype: str


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


def check_against(new: FrameSpec, fit: FrameSpec) -> None:
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


def time_unit_of(spec: FrameSpec) -> str:
    match = _DATETIME_DTYPE_RE.match(spec.time_dtype)
    return match.group(1) if match else "ns"

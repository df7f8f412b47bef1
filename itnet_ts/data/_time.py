"""Durations and time units in the canonical time coordinates.

Canonical time (see :mod:`itnet_ts.data._ingest`) is

* ``Int64`` nanoseconds since the Unix epoch (UTC) when the user's time column was a
  datetime (``time_kind == "datetime"``), and
* ``Float64`` in the user's own units when it was a number (``time_kind == "numeric"``).

A *duration* in canonical units is therefore nanoseconds for datetime time and raw units
for numeric time. :func:`parse_duration` turns what a user may type (``"6h"``, ``3600``,
``timedelta(hours=1)``, ...) into such a duration; :func:`infer_time_unit` picks a natural
time unit for a canonical frame (the median positive gap between observations).
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import re
import warnings

import numpy as np
import pandas as pd
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "DATETIME_FALLBACK_UNIT_NS",
    "NUMERIC_FALLBACK_UNIT",
    "format_duration",
    "infer_time_unit",
    "parse_duration",
]

#: ``infer_time_unit`` falls back to one hour (in ns) for datetime time with no positive gap.
DATETIME_FALLBACK_UNIT_NS: float = 3_600e9
#: ``infer_time_unit`` falls back to 1.0 for numeric time with no positive gap.
NUMERIC_FALLBACK_UNIT: float = 1.0

_TIME_KINDS = ("datetime", "numeric")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PART_RE = re.compile(rf"\s*({_NUM})\s*([a-zA-Zµ]+)\s*")
_UNIT_NS: dict[str, float] = {}
for _names, _ns in (
    (("ns", "nanosecond", "nanoseconds", "nanos"), 1.0),
    (("us", "µs", "microsecond", "microseconds", "micros"), 1e3),
    (("ms", "millisecond", "milliseconds", "millis"), 1e6),
    (("s", "sec", "secs", "second", "seconds"), 1e9),
    (("m", "min", "mins", "minute", "minutes", "t"), 60e9),
    (("h", "hr", "hrs", "hour", "hours"), 3_600e9),
    (("d", "day", "days"), 86_400e9),
    (("w", "wk", "wks", "week", "weeks"), 604_800e9),
):
    for _name in _names:
        _UNIT_NS[_name] = _ns
# calendar units of variable length: refused ("M" is a month for pandas, "m" a minute)
_CALENDAR_UNITS = {"mo", "mon", "mons", "month", "months", "y", "yr", "yrs", "year", "years",
                   "q", "qs", "quarter", "quarters"}  # fmt: skip


def _check_kind(time_kind: str) -> None:
    if time_kind not in _TIME_KINDS:
        raise ITNetInputError(f"time_kind must be one of {_TIME_KINDS}, got {time_kind!r}.")


def _positive_finite(result: float, value: object) -> float:
    if not math.isfinite(result):
        raise ITNetInputError(f"duration {value!r} is not finite; pass a positive duration.")
    if result <= 0:
        raise ITNetInputError(
            f"duration {value!r} is not positive; durations (horizons, time units, steps) "
            "must be > 0."
        )
    return float(result)


def _string_ns(value: str) -> float:
    """Nanoseconds of a duration string: ``"6h"``, ``"2.5h"``, ``"1h30min"``, ``"1 day"``..."""
    text = value.strip()
    parts = []
    pos = 0
    while pos < len(text):
        match = _PART_RE.match(text, pos)
        if match is None:
            break
        parts.append((float(match.group(1)), match.group(2)))
        pos = match.end()
    if parts and pos == len(text):
        total = 0.0
        for number, unit in parts:
            if unit == "M" or unit.lower() in _CALENDAR_UNITS:
                raise ITNetInputError(
                    f"duration {value!r} uses months / quarters / years, whose length varies. "
                    "Use a fixed span such as '30d', '7d' or '365d'."
                )
            if unit.lower() not in _UNIT_NS:
                break
            total += number * _UNIT_NS[unit.lower()]
        else:
            return total
    return _timedelta_ns(value)  # "01:30:00", ISO 8601 "P1DT2H", ...


def _timedelta_ns(value: object) -> float:
    """Nanoseconds of a timedelta-like (``timedelta``, ``np.timedelta64``, ``"01:30:00"``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas deprecation chatter about unit letters
            td = pd.Timedelta(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ITNetInputError(
            f"cannot read {value!r} as a duration ({exc}). Use a string such as '6h', "
            "'30min', '1d', '15s', '2.5h', '1w', or a datetime.timedelta."
        ) from None
    if td is pd.NaT:
        raise ITNetInputError(f"duration {value!r} is missing (NaT); pass a positive duration.")
    return float(td.value)


def parse_duration(value: object, time_kind: str, time_unit: float | None = None) -> float:
    """A duration in canonical time units (ns for datetime time, raw units for numeric).

    Parameters
    ----------
    value
        * a number: ``value * time_unit`` when ``time_unit`` is given (either kind); without
          ``time_unit`` it is taken in raw units for numeric time, and is an error for
          datetime time (a bare number has no unit there). A string holding only a number
          (``"12"``, from a command line) counts as that number.
        * a string such as ``"6h"``, ``"30min"``, ``"1d"``, ``"15s"``, ``"2.5h"``, ``"1w"``
          (anything ``pandas.Timedelta`` reads; months / years are rejected because their
          length varies) — datetime time only.
        * ``datetime.timedelta``, ``numpy.timedelta64``, ``pandas.Timedelta`` — datetime
          time only.
    time_kind
        ``"datetime"`` or ``"numeric"`` (``FrameSpec.time_kind``).
    time_unit
        The time unit in canonical units (e.g. from :func:`infer_time_unit`), or ``None``.

    Returns
    -------
    float
        The duration, strictly positive and finite.
    """
    _check_kind(time_kind)
    if time_unit is not None:
        _positive_finite(float(time_unit), time_unit)

    if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        value = float(value.strip())

    if isinstance(value, (bool, np.bool_)):
        raise ITNetInputError(f"duration must be a number or a time span, got {value!r}.")

    if value is pd.NaT or (isinstance(value, np.timedelta64) and np.isnat(value)):
        raise ITNetInputError(f"duration {value!r} is missing (NaT); pass a positive duration.")

    is_timedelta_like = isinstance(value, (_dt.timedelta, np.timedelta64))  # pd.Timedelta too
    if isinstance(value, str) or is_timedelta_like:
        if time_kind == "numeric":
            raise ITNetInputError(
                f"duration {value!r} is a time span, but the time column is numeric (plain "
                "numbers, no calendar unit). Pass the duration as a number in the same units "
                "as the time column, e.g. 6 or 0.25."
            )
        ns = _string_ns(value) if isinstance(value, str) else _timedelta_ns(value)
        return _positive_finite(ns, value)

    if isinstance(value, numbers.Real):
        number = float(value)
        if time_unit is not None:
            return _positive_finite(number * float(time_unit), value)
        if time_kind == "numeric":
            return _positive_finite(number, value)
        raise ITNetInputError(
            f"duration {value!r} is a bare number but the time column holds datetimes, so "
            "it has no unit. Pass a string such as '6h' or '30min', a datetime.timedelta, "
            "or give a time_unit so that numbers count in time units."
        )

    raise ITNetInputError(
        f"cannot read {value!r} (type {type(value).__name__}) as a duration. Pass a number, "
        "a string such as '6h', or a datetime.timedelta."
    )


def infer_time_unit(canon: pl.DataFrame) -> float:
    """Median positive gap between consecutive distinct timestamps within each series.

    Gaps are pooled over all series (one median over every series' gaps), computed on the
    union of each series' observation times over all channels. ``canon`` is a canonical
    frame from :func:`itnet_ts.data._ingest.ingest`: an ``Int64`` ``time`` column means
    datetime time (result in ns), ``Float64`` numeric time (result in raw units).

    When no series has two distinct timestamps there is no gap to measure; the fallback is
    ``1.0`` for numeric time and one hour (``3.6e12`` ns) for datetime time.
    """
    if not isinstance(canon, pl.DataFrame) or not {"unique_id", "time"} <= set(canon.columns):
        raise ITNetInputError(
            "infer_time_unit expects a canonical polars frame with 'unique_id' and 'time' "
            "columns (the output of ingest)."
        )
    is_datetime = canon.schema["time"].is_integer()
    fallback = DATETIME_FALLBACK_UNIT_NS if is_datetime else NUMERIC_FALLBACK_UNIT
    if canon.height == 0:
        return fallback
    gaps = (
        canon.select("unique_id", "time")
        .unique()
        .sort("unique_id", "time")
        .select(pl.col("time").diff().over("unique_id").alias("gap"))
        .filter(pl.col("gap") > 0)
        .get_column("gap")
    )
    if gaps.len() == 0:
        return fallback
    median = gaps.cast(pl.Float64).median()
    if median is None or not math.isfinite(median) or median <= 0:
        return fallback
    return float(median)


def format_duration(value: float, time_kind: str) -> str:
    """A duration in native units as the user would write it (``"0 days 06:00:00"`` for
    datetime time, else the number)."""
    if time_kind == "datetime":
        return str(pd.Timedelta(int(value), unit="ns"))
    return f"{value:g}"

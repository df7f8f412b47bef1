"""The dataframe ingest layer: user frames -> canonical polars frame -> user frames."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal as pl_assert_equal

from itnet_ts.data._ingest import (
    SINGLE_SERIES_ID,
    FrameSpec,
    ingest,
    to_user_frame,
)
from itnet_ts.errors import ITNetInputError

LIBS = ["pandas", "polars"]
CANON_SCHEMA_DT = {
    "unique_id": pl.String,
    "time": pl.Int64,
    "variable": pl.String,
    "value": pl.Float64,
}
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z in seconds
NS = 1_000_000_000


def as_lib(frame: pl.DataFrame, lib: str):
    return frame.to_pandas() if lib == "pandas" else frame


def hours(*hs: float) -> list[dt.datetime]:
    return [dt.datetime(2024, 1, 1) + dt.timedelta(hours=h) for h in hs]


def ns_of_hours(*hs: float) -> list[int]:
    return [(T0 + int(h * 3600)) * NS for h in hs]


def df_time_dtype_as_polars(df):
    return (pl.from_pandas(df) if isinstance(df, pd.DataFrame) else df).schema["ds"]


def to_pred(canon: pl.DataFrame) -> pl.DataFrame:
    return canon.rename({"value": "y_hat"})


# ---------------------------------------------------------------------------------------
# the same data in the three shapes, two libraries -> one canonical frame
# ---------------------------------------------------------------------------------------

EXPECTED = pl.DataFrame(
    {
        "unique_id": ["a", "a", "a", "b", "b"],
        "time": ns_of_hours(0, 0, 1.5, 0, 2),
        "variable": ["x", "z", "x", "z", "x"],
        "value": [1.0, 10.0, 2.0, 30.0, 3.0],
    },
    schema=CANON_SCHEMA_DT,
)


def frame_in_shape(shape: str) -> pl.DataFrame:
    """EXPECTED, written by a user in the given shape, rows deliberately unsorted."""
    if shape == "long":
        return pl.DataFrame(
            {"unique_id": ["b", "a", "a"], "ds": hours(2, 1.5, 0), "y": [3.0, 2.0, 1.0]}
        )
    if shape == "wide":
        return pl.DataFrame(
            {
                "unique_id": ["b", "a", "a", "b"],
                "ds": hours(2, 1.5, 0, 0),
                "x": [3.0, 2.0, 1.0, None],
                "z": [float("nan"), None, 10.0, 30.0],
            }
        )
    return pl.DataFrame(
        {
            "unique_id": ["b", "a", "a", "b", "a"],
            "ds": hours(2, 1.5, 0, 0, 0),
            "variable": ["x", "x", "x", "z", "z"],
            "value": [3.0, 2.0, 1.0, 30.0, 10.0],
        }
    )


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
def test_shapes_and_libraries_give_one_canonical_frame(shape, lib):
    canon, spec = ingest(as_lib(frame_in_shape(shape), lib))
    expected = EXPECTED
    if shape == "long":
        expected = EXPECTED.filter(pl.col("variable") == "x").with_columns(variable=pl.lit("y"))
    pl_assert_equal(canon, expected)
    assert canon.columns == ["unique_id", "time", "variable", "value"]
    assert spec.library == lib
    assert spec.shape == shape
    assert spec.id_col == "unique_id"
    assert spec.time_col == "ds"
    assert spec.channels == (("y",) if shape == "long" else ("x", "z"))
    assert spec.target_col == ("y" if shape == "long" else None)
    assert spec.variable_col == ("variable" if shape == "tidy" else None)
    assert spec.value_col == ("value" if shape == "tidy" else None)
    assert spec.time_kind == "datetime"
    assert spec.time_zone is None
    assert spec.id_dtype == "String"


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
def test_explicit_shape_matches_auto(shape, lib):
    df = as_lib(frame_in_shape(shape), lib)
    assert ingest(df, shape=shape)[0].equals(ingest(df)[0])


def test_auto_detection_rules():
    base = {"unique_id": ["a", "a"], "ds": [1.0, 2.0]}
    # target plus another numeric column -> wide, the target is one channel among others
    _, spec = ingest(pl.DataFrame({**base, "y": [1.0, 2.0], "temp": [3.0, 4.0]}))
    assert (spec.shape, spec.channels) == ("wide", ("temp", "y"))
    # target plus a non-numeric column -> long; the extra column is ignored
    canon, spec = ingest(pl.DataFrame({**base, "y": [1.0, 2.0], "note": ["u", "v"]}))
    assert (spec.shape, spec.channels) == ("long", ("y",))
    assert canon["variable"].to_list() == ["y", "y"]
    # no target -> wide
    _, spec = ingest(pl.DataFrame({**base, "hr": [1.0, 2.0]}))
    assert (spec.shape, spec.channels) == ("wide", ("hr",))
    # explicit tidy column names -> tidy
    canon, spec = ingest(
        pl.DataFrame({**base, "signal": ["hr", "bp"], "reading": [60.0, 120.0]}),
        variable_col="signal",
        value_col="reading",
    )
    assert (spec.shape, spec.channels) == ("tidy", ("bp", "hr"))
    assert (spec.variable_col, spec.value_col) == ("signal", "reading")
    # explicit wide on a long frame -> one channel named after the column
    _, spec = ingest(pl.DataFrame({**base, "y": [1.0, 2.0]}), shape="wide")
    assert (spec.shape, spec.channels) == ("wide", ("y",))
    # other column names
    canon, spec = ingest(
        pl.DataFrame({"sid": [1, 1], "t": [0.0, 1.0], "load": [5.0, 6.0]}),
        id_col="sid",
        time_col="t",
        target_col="load",
    )
    assert (spec.shape, spec.id_col, spec.time_col, spec.target_col) == ("long", "sid", "t", "load")
    assert canon["unique_id"].dtype == pl.Int64


@pytest.mark.parametrize("lib", LIBS)
def test_tidy_variables_of_any_dtype_become_strings(lib):
    df = pl.DataFrame({"ds": [0.0, 0.0, 1.0], "variable": [2, 10, 2], "value": [1.0, 2.0, 3.0]})
    canon, spec = ingest(as_lib(df, lib))
    assert spec.channels == ("10", "2")
    assert canon["variable"].to_list() == ["10", "2", "2"]


def test_pandas_integer_column_names_are_channels_as_strings():
    df = pd.DataFrame({"ds": [0.0, 1.0], 0: [1.0, 2.0], 1: [3.0, np.nan]})
    canon, spec = ingest(df)
    assert spec.channels == ("0", "1")
    assert canon.height == 3


def test_pandas_id_and_time_in_the_index():
    df = pd.DataFrame(
        {"unique_id": ["a", "a", "b"], "ds": hours(0, 1, 0), "y": [1.0, 2.0, 3.0]}
    ).set_index(["unique_id", "ds"])
    canon, spec = ingest(df)
    flat, _ = ingest(df.reset_index())
    assert canon.equals(flat)
    assert spec.id_col == "unique_id"


# ---------------------------------------------------------------------------------------
# no id column, id dtypes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_frame_without_id_column_is_one_series(lib):
    df = pl.DataFrame({"ds": [2.0, 1.0], "y": [5.0, 4.0]})
    canon, spec = ingest(as_lib(df, lib))
    assert spec.id_col is None
    assert spec.id_dtype == "String"
    assert canon["unique_id"].to_list() == [SINGLE_SERIES_ID] * 2 == ["series_0"] * 2
    out = to_user_frame(to_pred(canon), spec)
    assert list(out.columns) == ["ds", "y_hat"]
    # id_col=None forces "no id" even when a unique_id column exists (it becomes a channel)
    df2 = pl.DataFrame({"unique_id": [1.0, 1.0], "ds": [1.0, 2.0]})
    canon2, spec2 = ingest(df2, id_col=None)
    assert spec2.channels == ("unique_id",)
    assert set(canon2["unique_id"]) == {SINGLE_SERIES_ID}


@pytest.mark.parametrize(
    ("ids", "canon_dtype", "id_dtype"),
    [
        (pl.Series(["b", "a", "b"]), pl.String, "String"),
        (pl.Series([2, 1, 2], dtype=pl.Int32), pl.Int32, "Int32"),
        (pl.Series([20, 10, 20], dtype=pl.UInt64), pl.UInt64, "UInt64"),
        (pl.Series(["b", "a", "b"], dtype=pl.Categorical), pl.String, "Categorical"),
        (pl.Series(["b", "a", "b"], dtype=pl.Enum(["b", "a"])), pl.String, "Categorical"),
    ],
)
def test_polars_id_dtypes_round_trip(ids, canon_dtype, id_dtype):
    df = pl.DataFrame({"unique_id": ids, "ds": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0]})
    canon, spec = ingest(df)
    assert canon["unique_id"].dtype == canon_dtype
    assert spec.id_dtype == id_dtype
    out = to_user_frame(to_pred(canon), spec)
    restored = out["unique_id"]
    if id_dtype == "Categorical":
        assert restored.dtype == pl.Categorical
    else:
        assert restored.dtype == ids.dtype
    assert sorted(restored.cast(pl.String).to_list()) == sorted(ids.cast(pl.String).to_list())


@pytest.mark.parametrize(
    "ids",
    [
        pd.Series(["b", "a", "b"]),
        pd.Series(["b", "a", "b"], dtype=object),
        pd.Series([2, 1, 2]),
        pd.Series(["b", "a", "b"], dtype="category"),
    ],
)
def test_pandas_id_dtypes_round_trip(ids):
    df = pd.DataFrame({"unique_id": ids, "ds": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0]})
    canon, spec = ingest(df)
    out = to_user_frame(to_pred(canon), spec)
    assert isinstance(out, pd.DataFrame)
    if isinstance(ids.dtype, pd.CategoricalDtype):
        assert isinstance(out["unique_id"].dtype, pd.CategoricalDtype)
    elif pd.api.types.is_integer_dtype(ids.dtype):
        assert out["unique_id"].dtype == np.int64
    else:
        assert pd.api.types.is_string_dtype(out["unique_id"].dtype)
    assert sorted(out["unique_id"].astype(str)) == sorted(ids.astype(str))


# ---------------------------------------------------------------------------------------
# datetimes: units, time zones, dates; exact int64 ns
# ---------------------------------------------------------------------------------------

NAIVE = [dt.datetime(2024, 3, 31, 0, 30), dt.datetime(2024, 3, 31, 1, 30), dt.datetime(2024, 7, 1)]


def naive_ns() -> list[int]:
    return [int(d.replace(tzinfo=dt.timezone.utc).timestamp()) * NS for d in NAIVE]


def make_dt_frame(lib: str, unit: str, tz: str | None):
    """Times given as the wall clock NAIVE in zone tz (or naive)."""
    if lib == "pandas":
        ds = pd.Series(pd.to_datetime(NAIVE)).dt.as_unit(unit)
        if tz is not None:
            ds = ds.dt.tz_localize(tz)
        return pd.DataFrame({"unique_id": ["a"] * 3, "ds": ds, "y": [1.0, 2.0, 3.0]})
    ds = pl.Series(NAIVE).cast(pl.Datetime(unit))
    if tz is not None:
        ds = ds.dt.replace_time_zone(tz)
    return pl.DataFrame({"unique_id": ["a"] * 3, "ds": ds, "y": [1.0, 2.0, 3.0]})


DT_CASES = [
    ("pandas", "ns", None),
    ("pandas", "us", None),
    ("pandas", "s", None),
    ("pandas", "ns", "UTC"),
    ("pandas", "us", "Europe/Paris"),
    ("pandas", "ms", "America/New_York"),
    ("polars", "ns", None),
    ("polars", "us", None),
    ("polars", "ms", None),
    ("polars", "ns", "UTC"),
    ("polars", "us", "Europe/Paris"),
    ("polars", "us", "America/New_York"),
]


@pytest.mark.parametrize(("lib", "unit", "tz"), DT_CASES)
def test_datetime_to_utc_ns_and_back(lib, unit, tz):
    df = make_dt_frame(lib, unit, tz)
    canon, spec = ingest(df)
    assert canon["time"].dtype == pl.Int64
    offsets = [0, 0, 0]
    if tz is not None:
        # wall clock in tz -> UTC: subtract the zone's offset at that instant
        offsets = [
            int(pd.Timestamp(d).tz_localize(tz).utcoffset().total_seconds()) * NS for d in NAIVE
        ]
    assert canon["time"].to_list() == [n - o for n, o in zip(naive_ns(), offsets, strict=True)]
    assert spec.time_kind == "datetime"
    assert spec.time_zone == tz
    assert spec.time_dtype == (f"Datetime({unit}, {tz})" if tz else f"Datetime({unit})")

    out = to_user_frame(to_pred(canon), spec)
    assert type(out) is type(df)
    if lib == "pandas":
        assert out["ds"].dtype == df["ds"].dtype
        pd.testing.assert_series_equal(out["ds"], df["ds"])
    else:
        assert out.schema["ds"] == df.schema["ds"]
        assert out["ds"].equals(df["ds"])
    assert list(out.columns) == ["unique_id", "ds", "y_hat"]


def test_naive_datetimes_are_taken_as_utc_and_aware_equal_instants_match():
    naive = pl.DataFrame({"ds": hours(0, 1), "y": [1.0, 2.0]})
    utc = naive.with_columns(pl.col("ds").dt.replace_time_zone("UTC"))
    paris = utc.with_columns(pl.col("ds").dt.convert_time_zone("Europe/Paris"))
    c1, _ = ingest(naive)
    c2, _ = ingest(utc)
    c3, s3 = ingest(paris)
    assert c1.equals(c2) and c2.equals(c3)
    assert c1["time"].to_list() == ns_of_hours(0, 1)
    assert s3.time_zone == "Europe/Paris"


def test_pandas_fixed_offset_time_zone_round_trip():
    ds = pd.Series(pd.to_datetime(["2024-01-01T00:00+05:30", "2024-01-01T06:00+05:30"]))
    df = pd.DataFrame({"ds": ds, "y": [1.0, 2.0]})
    canon, spec = ingest(df)
    assert canon["time"].to_list()[0] == (T0 - 5 * 3600 - 1800) * NS
    assert spec.time_zone == "+05:30"
    out = to_user_frame(to_pred(canon), spec)
    assert out["ds"].tolist() == df["ds"].tolist()
    assert str(out["ds"].dt.tz) == str(df["ds"].dt.tz)


def test_pandas_object_column_of_timestamps():
    ds = pd.Series(
        [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-01 01:00", tz="UTC")]
    )
    df = pd.DataFrame({"ds": ds.astype(object), "y": [1.0, 2.0]})
    canon, spec = ingest(df)
    assert canon["time"].to_list() == ns_of_hours(0, 1)
    assert spec.time_zone == "UTC"


@pytest.mark.parametrize("lib", LIBS)
def test_date_column(lib):
    days = [dt.date(2024, 1, 2), dt.date(2024, 1, 1)]
    if lib == "polars":
        df = pl.DataFrame({"ds": days, "y": [2.0, 1.0]})
    else:
        df = pd.DataFrame({"ds": pd.Series(days, dtype=object), "y": [2.0, 1.0]})
    canon, spec = ingest(df)
    assert canon["time"].to_list() == [T0 * NS, (T0 + 86_400) * NS]
    assert (spec.time_kind, spec.time_dtype, spec.time_zone) == ("datetime", "Date", None)
    out = to_user_frame(to_pred(canon), spec)
    assert list(out["ds"]) == sorted(days)
    # predictions between midnights come back as datetimes
    pred = to_pred(canon).with_columns(pl.col("time") + 3_600 * NS)
    out = to_user_frame(pred, spec)
    first = out["ds"][0]
    assert pd.Timestamp(first) == pd.Timestamp("2024-01-01 01:00")


@pytest.mark.parametrize("lib", LIBS)
def test_epoch_seconds_keep_exact_int64_nanoseconds(lib):
    # second-resolution timestamps around 2024; float32 / float64 seconds would lose these
    secs = np.array([T0 + 1, T0 + 2, T0 + 3, 4_102_444_799, 1], dtype=np.int64)
    if lib == "pandas":
        ds = pd.Series(secs.astype("datetime64[s]"))
        df = pd.DataFrame({"ds": ds, "y": np.arange(5.0)})
    else:
        ds = pl.Series(secs * NS).cast(pl.Datetime("ns"))
        df = pl.DataFrame({"ds": ds, "y": np.arange(5.0)})
    canon, spec = ingest(df)
    assert canon["time"].to_list() == sorted(int(s) * NS for s in secs)
    out = to_user_frame(to_pred(canon), spec)
    if lib == "pandas":
        assert out["ds"].dtype == "datetime64[s]"
        assert out["ds"].to_numpy().view(np.int64).tolist() == sorted(secs.tolist())
    else:
        assert out["ds"].to_physical().to_list() == sorted(int(s) * NS for s in secs)


def test_nanosecond_offsets_survive():
    base = T0 * NS
    ds = pl.Series([base + 1, base + 2, base + 999]).cast(pl.Datetime("ns"))
    canon, _ = ingest(pl.DataFrame({"ds": ds, "y": [1.0, 2.0, 3.0]}))
    assert canon["time"].to_list() == [base + 1, base + 2, base + 999]


# ---------------------------------------------------------------------------------------
# numeric time
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize(
    ("values", "dtype_name"),
    [([3, 1, 2], "Int64"), ([3.5, 1.0, 2.25], "Float64"), ([3, 1, 2], "Int32")],
)
def test_numeric_time(lib, values, dtype_name):
    ds = pl.Series(values, dtype=getattr(pl, dtype_name))
    df = as_lib(pl.DataFrame({"unique_id": ["a"] * 3, "ds": ds, "y": [1.0, 2.0, 3.0]}), lib)
    canon, spec = ingest(df)
    assert canon["time"].dtype == pl.Float64
    assert canon["time"].to_list() == sorted(float(v) for v in values)
    assert spec.time_kind == "numeric"
    assert spec.time_zone is None
    assert spec.time_dtype == dtype_name
    out = to_user_frame(to_pred(canon), spec)
    if lib == "polars":
        assert out.schema["ds"] == ds.dtype
    else:
        assert out["ds"].dtype == df["ds"].dtype
    assert list(out["ds"]) == sorted(values)


def test_integer_time_with_fractional_predictions_becomes_float():
    df = pl.DataFrame({"ds": [1, 2], "y": [1.0, 2.0]})
    canon, spec = ingest(df)
    pred = pl.DataFrame(
        {"unique_id": [SINGLE_SERIES_ID] * 2, "time": [2.5, 3.0], "variable": ["y"] * 2,
         "y_hat": [0.0, 1.0]}
    )  # fmt: skip
    out = to_user_frame(pred, spec)
    assert out.schema["ds"] == pl.Float64
    assert out["ds"].to_list() == [2.5, 3.0]
    del canon


def test_huge_integer_times_refused_with_hint():
    df = pl.DataFrame({"ds": [T0 * NS + 1, T0 * NS + 3], "y": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match=r"'ds', row 0.*too large.*datetimes"):
        ingest(df)


# ---------------------------------------------------------------------------------------
# round trip for every shape and library
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
def test_round_trip_columns_and_library(shape, lib):
    df = as_lib(frame_in_shape(shape), lib)
    canon, spec = ingest(df)
    pred = canon.with_columns(
        pl.col("value").alias("y_hat"), (pl.col("value") * 2).alias("y_hat_q0.9")
    ).drop("value")
    out = to_user_frame(pred, spec, value_cols=["y_hat", "y_hat_q0.9"])
    assert type(out) is type(df)
    expected_cols = {
        "long": ["unique_id", "ds", "y_hat", "y_hat_q0.9"],
        "wide": ["unique_id", "ds", "variable", "y_hat", "y_hat_q0.9"],
        "tidy": ["unique_id", "ds", "variable", "y_hat", "y_hat_q0.9"],
    }[shape]
    assert list(out.columns) == expected_cols
    back = pl.from_pandas(out) if lib == "pandas" else out
    assert back["ds"].dtype == df_time_dtype_as_polars(df)
    # feeding the output back in (as a tidy / long frame) gives the same canonical frame
    again, _ = ingest(
        back.drop("y_hat_q0.9"),
        target_col="y_hat",
        variable_col="variable" if shape != "long" else None,
        value_col="y_hat" if shape != "long" else None,
    )
    expected = canon.with_columns(pl.lit("y_hat").alias("variable")) if shape == "long" else canon
    pl_assert_equal(again, expected)


def test_tidy_output_uses_the_users_variable_column_name():
    df = pl.DataFrame({"ds": [0.0, 1.0], "signal": ["a", "b"], "reading": [1.0, 2.0]})
    canon, spec = ingest(df, variable_col="signal", value_col="reading")
    out = to_user_frame(to_pred(canon), spec)
    assert out.columns == ["ds", "signal", "y_hat"]
    out2 = to_user_frame(to_pred(canon), spec, value_cols="y_hat")
    assert out2.equals(out)


def test_to_user_frame_missing_prediction_columns():
    canon, spec = ingest(frame_in_shape("wide"))
    with pytest.raises(ITNetInputError, match=r"lacks columns \['y_hat'\]"):
        to_user_frame(canon, spec)
    with pytest.raises(ITNetInputError, match="polars DataFrame"):
        to_user_frame(canon.to_pandas(), spec)


@pytest.mark.parametrize("lib", LIBS)
def test_extra_time_columns_are_converted(lib):
    df = make_dt_frame(lib, "us", "Europe/Paris")
    canon, spec = ingest(df)
    pred = to_pred(canon).with_columns(pl.col("time").min().alias("cutoff"))
    out = to_user_frame(pred, spec, extra_time_cols=["cutoff"])
    assert list(out.columns) == ["unique_id", "ds", "cutoff", "y_hat"]
    if lib == "pandas":
        assert out["cutoff"].dtype == df["ds"].dtype
        assert (out["cutoff"] == df["ds"].min()).all()
    else:
        assert out.schema["cutoff"] == df.schema["ds"]
        assert (out["cutoff"] == df["ds"].min()).all()


def test_output_column_clash():
    canon, spec = ingest(frame_in_shape("wide"))
    pred = canon.rename({"value": "ds"})
    with pytest.raises(ITNetInputError, match=r"repeat \['ds'\]"):
        to_user_frame(pred, spec, value_cols=["ds"])


def test_frame_spec_json_round_trip():
    _, spec = ingest(make_dt_frame("polars", "us", "Europe/Paris"))
    data = json.loads(json.dumps(spec.to_dict()))
    assert FrameSpec.from_dict(data) == spec


# ---------------------------------------------------------------------------------------
# duplicates, unsorted input, missing values
# ---------------------------------------------------------------------------------------

DUP = pl.DataFrame(
    {
        "unique_id": ["a", "a", "b", "a", "a"],
        "ds": [1.0, 2.0, 1.0, 1.0, 1.0],
        "y": [1.0, 5.0, 7.0, 3.0, 8.0],
    }
)


@pytest.mark.parametrize("lib", LIBS)
def test_duplicates_error_names_series_time_channel_rows(lib):
    with pytest.raises(
        ITNetInputError,
        match=r"series 'a', time 1, channel 'y' appears in rows 0, 3, 4.*duplicates='mean'"
        r".*duplicates='last'",
    ):
        ingest(as_lib(DUP.with_columns(pl.col("ds").cast(pl.Int64)), lib))


def test_duplicates_error_datetime_time_shown_in_users_zone():
    df = pl.DataFrame({"ds": hours(1, 1), "y": [1.0, 2.0]}).with_columns(
        pl.col("ds").dt.replace_time_zone("Europe/Paris")
    )
    with pytest.raises(ITNetInputError, match=r"time 2024-01-01 01:00:00\+01:00.*rows 0, 1"):
        ingest(df)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize(("policy", "value"), [("mean", 4.0), ("last", 8.0)])
def test_duplicates_policies(lib, policy, value):
    canon, _ = ingest(as_lib(DUP, lib), duplicates=policy)
    assert canon.rows() == [
        ("a", 1.0, "y", value),
        ("a", 2.0, "y", 5.0),
        ("b", 1.0, "y", 7.0),
    ]


def test_duplicates_only_count_observed_values():
    # two rows at one time observing disjoint channels are not duplicates
    df = pl.DataFrame({"ds": [1.0, 1.0], "a": [1.0, None], "b": [None, 2.0]})
    canon, _ = ingest(df)
    assert canon.rows() == [(SINGLE_SERIES_ID, 1.0, "a", 1.0), (SINGLE_SERIES_ID, 1.0, "b", 2.0)]


def test_duplicates_bad_policy():
    with pytest.raises(ITNetInputError, match=r"'error', 'mean', 'last'.*'first'"):
        ingest(DUP, duplicates="first")


@pytest.mark.parametrize("lib", LIBS)
def test_null_and_nan_values_are_not_observed(lib):
    df = pl.DataFrame(
        {"unique_id": ["a"] * 3, "ds": [0.0, 1.0, 2.0], "x": [1.0, None, float("nan")],
         "z": [None, 2.0, 3.0]}
    )  # fmt: skip
    canon, spec = ingest(as_lib(df, lib))
    assert canon.rows() == [("a", 0.0, "x", 1.0), ("a", 1.0, "z", 2.0), ("a", 2.0, "z", 3.0)]
    assert spec.channels == ("x", "z")


def test_pandas_nullable_and_integer_values():
    df = pd.DataFrame(
        {"ds": [0.0, 1.0, 2.0], "a": pd.array([1, None, 3], dtype="Int64"), "b": [1, 2, 3]}
    )
    canon, _ = ingest(df)
    assert canon.filter(pl.col("variable") == "a")["value"].to_list() == [1.0, 3.0]
    assert canon["value"].dtype == pl.Float64


@st.composite
def observation_frames(draw):
    ids = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(ids), st.integers(0, 50), st.sampled_from(["x", "y", "z"])),
            min_size=1,
            max_size=40,
            unique=True,
        )
    )
    values = draw(
        st.lists(
            st.floats(allow_nan=True, allow_infinity=False, width=64),
            min_size=len(keys),
            max_size=len(keys),
        )
    )
    perm = draw(st.permutations(range(len(keys))))
    frame = pl.DataFrame(
        {
            "unique_id": [k[0] for k in keys],
            "ds": [T0 * NS + k[1] * 60 * NS for k in keys],
            "variable": [k[2] for k in keys],
            "value": values,
        },
        schema={"unique_id": pl.String, "ds": pl.Int64, "variable": pl.String, "value": pl.Float64},
    ).with_columns(pl.col("ds").cast(pl.Datetime("ns")))
    return frame, perm


@settings(max_examples=60, deadline=None)
@given(observation_frames())
def test_row_order_does_not_change_the_canonical_frame(frame_perm):
    frame, perm = frame_perm
    shuffled = frame[list(perm)]
    try:
        canon, _ = ingest(frame)
    except ITNetInputError as exc:  # every value NaN
        assert "no observed values" in str(exc)
        return
    canon_shuffled, _ = ingest(shuffled)
    pl_assert_equal(canon, canon_shuffled)
    canon_pandas, _ = ingest(shuffled.to_pandas())
    pl_assert_equal(canon, canon_pandas)
    assert canon.select(pl.col("value").is_nan().any()).item() is False
    assert canon.equals(canon.sort("unique_id", "time", "variable"))
    # and the wide form of the same data gives the same frame
    wide = shuffled.pivot("variable", index=["unique_id", "ds"], values="value")
    canon_wide, _ = ingest(wide)
    pl_assert_equal(canon, canon_wide)


# ---------------------------------------------------------------------------------------
# validation errors: name the column / series / row and say how to fix it
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_empty_frame(lib):
    df = pl.DataFrame(schema={"unique_id": pl.String, "ds": pl.Float64, "y": pl.Float64})
    with pytest.raises(ITNetInputError, match="empty"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_missing_time_column_suggests_close_match(lib):
    df = pl.DataFrame({"unique_id": ["a"], "date": [1.0], "y": [1.0]})
    with pytest.raises(
        ITNetInputError, match=r"time column 'dates' not found.*did you mean 'date'"
    ):
        ingest(as_lib(df, lib), time_col="dates")
    with pytest.raises(ITNetInputError, match=r"time column 'ds' not found.*time_col="):
        ingest(as_lib(df, lib))


def test_missing_time_column_in_pandas_datetime_index():
    df = pd.DataFrame({"y": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2, freq="h"))
    with pytest.raises(ITNetInputError, match=r"in the index.*rename_axis\('ds'\)"):
        ingest(df)
    canon, _ = ingest(df.rename_axis("ds").reset_index())
    assert canon["time"].to_list() == ns_of_hours(0, 1)


def test_datetime_outside_nanosecond_range():
    df = pd.DataFrame(
        {"ds": np.array([T0, 32_503_680_000], dtype="datetime64[s]"), "y": [1.0, 2.0]}
    )
    with pytest.raises(ITNetInputError, match=r"'ds', row 1.*1677-2262"):
        ingest(df)


def test_negative_zero_time_is_zero():
    df = pl.DataFrame({"ds": [-0.0, 0.0], "y": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match="duplicate"):
        ingest(df)
    canon, _ = ingest(df, duplicates="last")
    assert canon.rows() == [(SINGLE_SERIES_ID, 0.0, "y", 2.0)]
    assert math.copysign(1.0, canon["time"][0]) == 1.0


def test_missing_time_column_lists_datetime_columns():
    df = pl.DataFrame({"when": hours(0), "y": [1.0]})
    with pytest.raises(ITNetInputError, match=r"Datetime columns found: \['when'\]"):
        ingest(df)


@pytest.mark.parametrize("lib", LIBS)
def test_missing_named_id_target_variable_columns(lib):
    df = as_lib(pl.DataFrame({"series": ["a"], "ds": [1.0], "target": [1.0]}), lib)
    with pytest.raises(ITNetInputError, match=r"id column 'serie' not found.*'series'"):
        ingest(df, id_col="serie")
    with pytest.raises(ITNetInputError, match=r"target column 'y' not found.*target_col="):
        ingest(df, id_col="series", shape="long")
    with pytest.raises(ITNetInputError, match=r"variable column 'variable' not found"):
        ingest(df, id_col="series", shape="tidy")
    with pytest.raises(ITNetInputError, match=r"value column 'value' not found.*value_col="):
        ingest(df, id_col="series", variable_col="target")


@pytest.mark.parametrize("lib", LIBS)
def test_only_id_and_time_columns(lib):
    df = pl.DataFrame({"unique_id": ["a"], "ds": [1.0]})
    with pytest.raises(ITNetInputError, match=r"only the id/time columns \('unique_id', 'ds'\)"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_missing_time_names_row_and_series(lib):
    df = pl.DataFrame(
        {"unique_id": ["a", "a", "b"], "ds": [hours(0)[0], hours(1)[0], None], "y": [1.0] * 3}
    )
    with pytest.raises(ITNetInputError, match=r"'ds', row 2 \(series 'b'\).*missing.*dropna"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, None])
def test_non_finite_numeric_time(lib, bad):
    df = pl.DataFrame({"unique_id": ["a", "b"], "ds": [1.0, bad], "y": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match=r"'ds', row 1 \(series 'b'\)"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize(
    ("lib", "hint"), [("pandas", "pd.to_datetime"), ("polars", "str.to_datetime")]
)
def test_string_time_column(lib, hint):
    df = pl.DataFrame({"ds": ["2024-01-01", "2024-01-02"], "y": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match=rf"time column 'ds' holds text.*{hint}"):
        ingest(as_lib(df, lib))


def test_mixed_time_zones_in_pandas_object_column():
    ds = pd.Series(
        [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="Europe/Paris")],
        dtype=object,
    )
    df = pd.DataFrame({"ds": ds, "y": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match=r"'ds' mixes time zones.*utc=True"):
        ingest(df)
    naive_and_aware = pd.Series([pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01", tz="UTC")])
    with pytest.raises(ITNetInputError, match=r"'ds' mixes time zones \(UTC, naive\)"):
        ingest(pd.DataFrame({"ds": naive_and_aware.astype(object), "y": [1.0, 2.0]}))


@pytest.mark.parametrize("lib", LIBS)
def test_duration_time_column(lib):
    df = pl.DataFrame({"ds": [dt.timedelta(hours=1)], "y": [1.0]})
    with pytest.raises(ITNetInputError, match=r"'ds' holds durations.*total_seconds"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_non_numeric_wide_column(lib):
    df = pl.DataFrame({"station": ["s1", "s2"], "ds": [1.0, 2.0], "temp": [1.0, 2.0]})
    with pytest.raises(
        ITNetInputError, match=r"channel column 'station' is not numeric.*id_col='station'"
    ):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_text_among_numbers_names_the_row(lib):
    if lib == "pandas":
        df = pd.DataFrame({"ds": [1.0, 2.0, 3.0], "y": pd.Series([1.0, "oops", 3.0], dtype=object)})
    else:
        df = pl.DataFrame({"ds": [1.0, 2.0, 3.0], "y": ["1.0", "oops", "3"]})
    with pytest.raises(ITNetInputError, match=r"column 'y' is not numeric.*row 1 holds 'oops'"):
        ingest(df)


@pytest.mark.parametrize("lib", LIBS)
def test_boolean_value_column(lib):
    df = pl.DataFrame({"ds": [1.0, 2.0], "temp": [1.0, 2.0], "flag": [True, False]})
    with pytest.raises(ITNetInputError, match=r"column 'flag' holds booleans"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("shape", ["long", "wide", "tidy"])
def test_infinite_value_names_row_series_channel(lib, shape):
    df = frame_in_shape(shape)
    col = {"long": "y", "wide": "x", "tidy": "value"}[shape]
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(-math.inf).otherwise(pl.col(col)).alias(col)
    )
    channel = {"long": "y", "wide": "x", "tidy": "x"}[shape]
    with pytest.raises(
        ITNetInputError, match=rf"column '{col}', row 1, series 'a', channel '{channel}'.*infinite"
    ):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_missing_id_names_row(lib):
    df = pl.DataFrame({"unique_id": ["a", None], "ds": [1.0, 2.0], "y": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match=r"id column 'unique_id', row 1.*missing"):
        ingest(as_lib(df, lib))


def test_mixed_type_pandas_ids():
    df = pd.DataFrame(
        {"unique_id": pd.Series([1, "a"], dtype=object), "ds": [1.0, 2.0], "y": [1.0, 2.0]}
    )
    with pytest.raises(ITNetInputError, match=r"id column 'unique_id' mixes.*astype\(str\)"):
        ingest(df)


@pytest.mark.parametrize("lib", LIBS)
def test_missing_tidy_variable_names_row(lib):
    df = pl.DataFrame({"ds": [1.0, 2.0], "variable": ["x", None], "value": [1.0, 2.0]})
    with pytest.raises(ITNetInputError, match=r"variable column 'variable', row 1.*missing"):
        ingest(as_lib(df, lib))


@pytest.mark.parametrize("lib", LIBS)
def test_all_values_missing(lib):
    df = pl.DataFrame({"ds": [1.0, 2.0], "y": [None, float("nan")]})
    with pytest.raises(ITNetInputError, match="no observed values"):
        ingest(as_lib(df, lib))


def test_bad_arguments():
    with pytest.raises(ITNetInputError, match="shape must be one of"):
        ingest(DUP, shape="stacked")
    with pytest.raises(ITNetInputError, match="pandas or polars DataFrame"):
        ingest({"ds": [1.0], "y": [1.0]})
    with pytest.raises(ITNetInputError, match="spec must be a FrameSpec"):
        ingest(DUP, spec={"shape": "long"})
    with pytest.raises(ITNetInputError, match="duplicate column names"):
        ingest(pd.DataFrame([[1.0, 2.0, 3.0]], columns=["ds", "y", "y"]))


def test_lazy_frame_is_collected():
    canon, spec = ingest(frame_in_shape("long").lazy())
    assert spec.library == "polars" and canon.height == 3


# ---------------------------------------------------------------------------------------
# predict-time compatibility with the fit spec
# ---------------------------------------------------------------------------------------


def fit_spec(tz: str | None = None) -> FrameSpec:
    df = frame_in_shape("wide")
    if tz is not None:
        df = df.with_columns(pl.col("ds").dt.replace_time_zone(tz))
    return ingest(df)[1]


def test_spec_datetime_vs_numeric():
    numeric = pl.DataFrame({"unique_id": ["a"], "ds": [1.0], "x": [1.0]})
    with pytest.raises(ITNetInputError, match=r"'ds' holds numbers .*fit on datetimes"):
        ingest(numeric, spec=fit_spec())
    _, numeric_spec = ingest(numeric)
    with pytest.raises(ITNetInputError, match=r"'ds' holds datetimes .*fit on numbers"):
        ingest(frame_in_shape("wide"), spec=numeric_spec)


def test_spec_naive_vs_aware():
    aware = frame_in_shape("wide").with_columns(pl.col("ds").dt.replace_time_zone("UTC"))
    with pytest.raises(ITNetInputError, match=r"tz-aware datetimes \(UTC\).*fit on naive"):
        ingest(aware, spec=fit_spec())
    with pytest.raises(
        ITNetInputError, match=r"naive datetimes.*tz-aware ones \(UTC\).*tz_localize"
    ):
        ingest(frame_in_shape("wide"), spec=fit_spec("UTC"))


def test_spec_other_time_zone_is_fine_and_new_spec_returned():
    paris = frame_in_shape("wide").with_columns(
        pl.col("ds").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris")
    )
    canon, spec = ingest(paris.to_pandas(), spec=fit_spec("UTC"))
    assert spec.library == "pandas"
    assert spec.time_zone == "Europe/Paris"
    pl_assert_equal(canon, EXPECTED)


def test_spec_shape_may_differ_but_channels_must_be_known():
    spec = fit_spec()
    tidy_subset = frame_in_shape("tidy").filter(pl.col("variable") == "x")
    canon, new = ingest(tidy_subset, spec=spec)
    assert new.shape == "tidy" and new.channels == ("x",)
    unknown = frame_in_shape("wide").with_columns(pl.lit(1.0).alias("w"), pl.lit(2.0).alias("q"))
    with pytest.raises(ITNetInputError, match=r"channels \['q', 'w'\] were never seen.*'x', 'z'"):
        ingest(unknown, spec=spec)
    del canon


def test_spec_id_presence_and_kind():
    spec = fit_spec()
    no_ids = frame_in_shape("wide").drop("unique_id").unique("ds")
    with pytest.raises(ITNetInputError, match=r"no id column.*'unique_id'"):
        ingest(no_ids, spec=spec)
    _, single = ingest(no_ids)
    with pytest.raises(ITNetInputError, match=r"id column 'unique_id'.*single series"):
        ingest(frame_in_shape("wide"), spec=single)
    int_ids = frame_in_shape("wide").with_columns(
        pl.col("unique_id").replace_strict({"a": 1, "b": 2})
    )
    with pytest.raises(ITNetInputError, match=r"dtype Int64.*String in training"):
        ingest(int_ids, spec=spec)

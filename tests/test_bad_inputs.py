"""The bad-input suite: every bad input gets a clear error of a documented type.

``CASES`` below is THE table of bad inputs: each row is one input a user may give (Python API
or command line), the exception type or exit code they get, a regex the message must match
(naming the column / series / row where it applies and saying how to fix it), and the message
they see (``shows``; ``…`` stands for text that varies, e.g. third-party wording or paths).
``docs/bad-inputs.md`` is generated from this table by ``docs/_make_bad_inputs.py``;
``test_doc_table_is_up_to_date`` fails when the two disagree, and every case checks that the
message it really produces is the one the docs show.

Rows whose ``expect`` is ``None`` are inputs that look suspicious but must *work* (unsorted
rows, huge gaps, ...); their ``call`` asserts what "work" means.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _tiny import (
    FAST,
    datetime_frame,
    datetime_model,
    last_times,
    numeric_frame,
    numeric_model,
)

from itnet_ts import (
    ITNetForecaster,
    ITNetInputError,
    ITNetModelFileError,
)
from itnet_ts.estimators import NotFittedError

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One row of the bad-input table."""

    id: str
    where: str  # "API" or "CLI"
    given: str  # the bad input, in words (markdown)
    call: Callable  # ctx -> result; raises for API error cases; CliRunner Result for CLI
    expect: type[BaseException] | int | None  # exception type, CLI exit code, or None: works
    match: str  # regex the message must match (search)
    shows: str  # what the user sees (``…``: varying text); for expect=None, what happens
    known_gap: str | None = None  # an open defect: the case is xfail(strict) until fixed

    @property
    def outcome(self) -> str:
        if self.expect is None:
            return "works"
        if isinstance(self.expect, int):
            return f"exit code {self.expect}"
        return self.expect.__name__


class Ctx:
    """What the cases need: a temporary directory, tiny fitted models, a CLI runner."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._n = 0

    def path(self, name: str, content: str | bytes | None = None) -> Path:
        p = self.tmp / name
        if isinstance(content, str):
            p.write_text(content)
        elif content is not None:
            p.write_bytes(content)
        return p

    @property
    def model_path(self) -> Path:
        p = self.tmp / "model.itnet"
        if not p.exists():
            numeric_model().save(p)
        return p

    def model_variant(self, name: str, data: bytes) -> Path:
        return self.path(name, data)

    @property
    def csv(self) -> Path:
        p = self.tmp / "history.csv"
        if not p.exists():
            numeric_frame().write_csv(p)
        return p

    def csv_with_row(self, name: str, row: str, at: int = 5) -> Path:
        lines = self.csv.read_text().splitlines()
        return self.path(name, "\n".join([*lines[:at], row, *lines[at:]]) + "\n")

    def cli(self, *args: str):
        from typer.testing import CliRunner

        from itnet_ts.cli.main import app

        self._n += 1
        out = self.tmp / f"out_{self._n}.csv"
        train = ["--max-epochs", "1"] if args[0] in ("forecast", "fit") else []
        return CliRunner().invoke(app, [*map(str, args), "--out", str(out), *train, "--quiet"])

    def normalise(self, text: str) -> str:
        return " ".join(text.replace(str(self.tmp), "<tmp>").split())


_FIT_ARGS = {"id_col", "time_col", "target_col", "variable_col", "value_col", "shape"}


def fit(df, **kw):
    """Fit a tiny forecaster; ``kw`` holds estimator parameters and ``fit`` arguments."""
    fit_kw = {k: v for k, v in kw.items() if k in _FIT_ARGS}
    params = {k: v for k, v in kw.items() if k not in _FIT_ARGS}
    return ITNetForecaster(**{**FAST, **params}).fit(df, **fit_kw)


def long_frame(times=(0.0, 1.0, 2.0, 3.0, 4.0, 5.0), ids=None, values=None) -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame(
        {
            "unique_id": ids or ["a"] * n,
            "ds": list(times),
            "y": values or [float(np.sin(i)) for i in range(n)],
        }
    )


def _with_cell(df: pl.DataFrame, col: str, row: int, value, dtype=None) -> pl.DataFrame:
    s = df[col].to_list()
    s[row] = value
    return df.with_columns(pl.Series(col, s, dtype=dtype, strict=False))


# ---- "works" cases --------------------------------------------------------------------------


def _unsorted(ctx):
    base = numeric_model().predict(h=2.0)
    shuffled = numeric_frame().sample(fraction=1.0, shuffle=True, seed=7)
    pred = fit(shuffled).predict(h=2.0)
    assert pred.equals(base) or np.allclose(pred["y_hat"], base["y_hat"], rtol=1e-6)


def _nan_values(ctx):
    df = numeric_frame()
    assert df["ch1"].null_count() > 0  # async channels: nulls where not observed
    pdf = df.to_pandas()  # pandas NaN (not null) means "not observed" too
    pred = numeric_model().predict(h=2.0, df=pdf)
    assert np.isfinite(pred["y_hat"]).all()


def _duplicates_policy(policy, expected):
    def call(ctx):
        df = long_frame(times=(0.0, 1.0, 2.0, 2.0, 3.0, 4.0), values=[1.0, 2.0, 3.0, 5.0, 4.0, 5.0])
        est = fit(df, duplicates=policy, horizon=2.0)
        values = est.history_.values[:, 0]
        assert values.tolist() == [1.0, 2.0, expected, 4.0, 5.0]
        assert est.predict(h=1.0)["y_hat"].is_finite().all()

    return call


def _single_observation_among_others(ctx):
    df = pl.concat(
        [
            numeric_frame(),
            pl.DataFrame({"unique_id": ["lonely"], "ds": [3.0], "ch0": [1.5], "ch1": [None]}),
        ],
        how="vertical_relaxed",
    )
    pred = fit(df).predict(h=1.0)
    lonely = pred.filter(pl.col("unique_id") == "lonely")
    assert len(lonely) > 0 and lonely["y_hat"].is_finite().all()


def _huge_gaps(ctx):
    t = np.concatenate([np.arange(10.0), 1e9 + np.arange(10.0)])
    df = pl.DataFrame(
        {"unique_id": ["a"] * 20 + ["b"] * 20, "ds": np.concatenate([t, 2 * t]),
         "y": np.sin(np.arange(40.0))}
    )  # fmt: skip
    est = fit(df, time_unit=1.0, horizon=3.0)
    near = est.predict(h=3.0)
    far = est.predict(times=pl.DataFrame({"unique_id": ["a", "b"], "ds": [5e9, 9e9]}))
    assert near["y_hat"].is_finite().all() and far["y_hat"].is_finite().all()


def _zero_gaps(ctx):
    # channels observed at the same instant (zero gap between rows), and a series whose every
    # observation shares one time stamp (a span of zero)
    df = pl.DataFrame(
        {
            "unique_id": ["a"] * 8 + ["b"] * 3,
            "ds": [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 5.0, 5.0, 5.0],
            "variable": ["x", "y"] * 4 + ["x", "y", "z"],
            "value": np.cos(np.arange(11.0)),
        }
    )
    est = fit(df, horizon=1.5)
    pred = est.predict(h=2.0)
    assert set(pred["unique_id"]) == {"a", "b"} and pred["y_hat"].is_finite().all()


def _epoch_datetime_seconds(ctx):
    from itnet_ts.data._windows import forecast_windows, make_batch

    rng = np.random.default_rng(1)
    ts = pd.Timestamp("2024-03-01 12:00:00") + pd.to_timedelta(
        np.cumsum(rng.integers(1, 30, 60)), unit="s"
    )
    df = pd.DataFrame({"unique_id": "a", "ds": ts.astype("datetime64[ns]"),
                       "y": np.sin(np.arange(60) / 5)})  # fmt: skip
    est = fit(df)
    q = pd.DataFrame(
        {"unique_id": "a", "ds": [ts.max() + pd.Timedelta(seconds=k) for k in (1, 2, 3)]}
    )
    pred = est.predict(times=q)
    assert (pred["ds"].to_numpy() == q["ds"].to_numpy()).all()  # exact, to the nanosecond
    assert pred["y_hat"].nunique() == 3  # the model tells t+1 s from t+2 s
    r = est.history_  # the float32 coordinates the network sees are exactly 1 s apart
    qt = r.times[-1] + np.array([1, 2, 3], np.int64) * 1_000_000_000
    w = forecast_windows(r, np.zeros(3, np.int64), qt, np.zeros(3, np.int64))
    b = make_batch(r, w, np.array([0]), est.scaler_, est.time_unit_)
    np.testing.assert_allclose(np.diff(b.q_tau[0, :3].numpy()) * est.time_unit_, 1e9, rtol=1e-6)


def _epoch_float_seconds(ctx):
    rng = np.random.default_rng(2)
    t = 1.7e9 + np.cumsum(rng.integers(1, 30, 60)).astype(np.float64)  # epoch seconds
    est = fit(pl.DataFrame({"unique_id": "a", "ds": t, "y": np.sin(np.arange(60) / 5)}))
    est.model_.fallback.zero_()  # the network's forecasts, not a constant baseline's
    q = pl.DataFrame({"unique_id": ["a"] * 3, "ds": t[-1] + np.array([1.0, 2.0, 3.0])})
    pred = est.predict(times=q)
    assert (pred["ds"].to_numpy() - t[-1]).tolist() == [1.0, 2.0, 3.0]
    assert pred["y_hat"].n_unique() == 3


# ---- model files ----------------------------------------------------------------------------


def _model_bytes(ctx) -> bytes:
    return ctx.model_path.read_bytes()


def _with_metadata(raw: bytes, **changes: str) -> bytes:
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"].update(changes)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n :]


def _load(name: str, make: Callable[[bytes], bytes]):
    def call(ctx):
        return ITNetForecaster.load(ctx.model_variant(name, make(_model_bytes(ctx))))

    return call


def _flip_last_weight_byte(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[-3] ^= 0x01
    return bytes(b)


def _loaded_predict_without_df(ctx):
    return ITNetForecaster.load(ctx.model_path).predict(h=2.0)


# ---- the table ------------------------------------------------------------------------------

_TZ_MIXED = pd.DataFrame(
    {
        "unique_id": ["a"] * 4,
        "ds": pd.Series(
            [pd.Timestamp("2024-01-01 00:00", tz="UTC"), pd.Timestamp("2024-01-01 02:00", tz="Europe/Paris"),
             pd.Timestamp("2024-01-01 03:00", tz="UTC"), pd.Timestamp("2024-01-01 05:00", tz="Europe/Paris")],
            dtype=object,
        ),
        "y": [1.0, 2.0, 3.0, 4.0],
    }
)  # fmt: skip

CASES: list[Case] = [
    # -- frame structure ----------------------------------------------------------------------
    Case(
        "empty-frame", "API", "a frame with 0 rows", lambda c: fit(numeric_frame().clear()),
        ITNetInputError, r"empty \(0 rows\).*at least one observation",
        "the frame is empty (0 rows); give at least one observation per series.",
    ),
    Case(
        "all-values-missing", "API", "every value null / NaN",
        lambda c: fit(numeric_frame().with_columns(pl.lit(None, pl.Float64).alias("ch0"),
                                                   pl.lit(None, pl.Float64).alias("ch1"))),
        ITNetInputError, r"no observed values.*at least one",
        "the frame has no observed values: every value is null/NaN. Give at least one "
        "observation.",
    ),
    Case(
        "misspelled-time-column", "API", "time column `dss` instead of `ds`",
        lambda c: fit(numeric_frame().rename({"ds": "dss"})),
        ITNetInputError, r"time column 'ds' not found.*did you mean 'dss'\?.*time_col=",
        "time column 'ds' not found in the frame (columns: 'unique_id', 'dss', 'ch0', 'ch1'); "
        "did you mean 'dss'? Pass time_col='<column name>' to name it.",
    ),
    Case(
        "misspelled-id-column", "API", "id column `unique_Id` (default name `unique_id`)",
        lambda c: fit(numeric_frame().rename({"unique_id": "unique_Id"})),
        ITNetInputError, r"id column 'unique_id' not found.*did you mean 'unique_Id'\?.*id_col=",
        "id column 'unique_id' not found in the frame; did you mean 'unique_Id'? Pass "
        "id_col='unique_Id', or id_col=None if the frame holds a single series.",
    ),
    Case(
        "misspelled-target-column", "API", "`target_col='Y'` on a frame with column `y`",
        lambda c: fit(long_frame(), target_col="Y", shape="long"),
        ITNetInputError, r"target column 'Y' not found.*did you mean 'y'\?.*target_col=",
        "target column 'Y' not found in the frame (columns: 'unique_id', 'ds', 'y'); did you "
        "mean 'y'? Pass target_col='<column name>' to name it.",
    ),
    Case(
        "only-id-and-time", "API", "a frame with only `unique_id` and `ds`",
        lambda c: fit(numeric_frame().select("unique_id", "ds")),
        ITNetInputError, r"only the id/time columns.*Add channel columns",
        "the frame has only the id/time columns ('unique_id', 'ds') and no values. Add channel "
        "columns (wide), a 'y' column (long), or 'variable' and 'value' columns (tidy).",
    ),
    Case(
        "not-a-dataframe", "API", "a numpy array instead of a frame",
        lambda c: fit(np.zeros((3, 3))),
        ITNetInputError, r"expected a pandas or polars DataFrame",
        "expected a pandas or polars DataFrame, got numpy.ndarray.",
    ),
    # -- dtypes -------------------------------------------------------------------------------
    Case(
        "text-time-column", "API", "`ds` holds strings",
        lambda c: fit(numeric_frame().with_columns(pl.col("ds").cast(pl.String))),
        ITNetInputError, r"time column 'ds' holds text.*Parse it first",
        "time column 'ds' holds text (dtype String), not datetimes or numbers. Parse it first, "
        "e.g. df.with_columns(pl.col('ds').str.to_datetime()); or, for numeric time, cast it "
        "to numbers.",
    ),
    Case(
        "duration-time-column", "API", "`ds` holds durations (pandas `timedelta64`)",
        lambda c: fit(pd.DataFrame({"ds": pd.to_timedelta([1, 2, 3], unit="h"), "y": [1.0, 2, 3]})),
        ITNetInputError, r"time column 'ds' holds durations.*total_seconds",
        "time column 'ds' holds durations (dtype Duration(time_unit=…)). Use datetimes, or "
        "convert the durations to numbers, e.g. df['ds'].dt.total_seconds() (pandas) or "
        "pl.col('ds').dt.total_seconds() (polars).",
    ),
    Case(
        "text-in-value-column", "API", "one cell `'abc'` in numeric channel `ch0` (row 5)",
        lambda c: fit(_with_cell(numeric_frame().with_columns(pl.col("ch0").cast(pl.String)),
                                 "ch0", 5, "abc")),
        ITNetInputError, r"channel column 'ch0' is not numeric.*row 5 holds 'abc'.*Fix that value",
        "channel column 'ch0' is not numeric (dtype String; row 5 holds 'abc'). Values must be "
        "numbers: convert with pd.to_numeric(df['ch0']) or pl.col('ch0').cast(pl.Float64). Fix "
        "that value, or make it empty (= not observed).",
    ),
    Case(
        "text-channel-column", "API", "a text column among the channels (an unnamed id?)",
        lambda c: fit(numeric_frame().rename({"unique_id": "patient"}), id_col=None),
        ITNetInputError, r"channel column 'patient' is not numeric.*pass id_col='patient'",
        "channel column 'patient' is not numeric (dtype String; row 0 holds 's0000'). Values "
        "must be numbers: convert with pd.to_numeric(df['patient']) or "
        "pl.col('patient').cast(pl.Float64). If 'patient' identifies the series, pass "
        "id_col='patient'; otherwise drop the column.",
    ),
    Case(
        "boolean-values", "API", "a boolean channel",
        lambda c: fit(numeric_frame().with_columns(pl.col("ch0") > 0)),
        ITNetInputError, r"channel column 'ch0' holds booleans.*cast\(pl.Float64\)",
        "channel column 'ch0' holds booleans (dtype Boolean). Cast it to numbers if it is a 0/1 "
        "channel, e.g. pl.col('ch0').cast(pl.Float64) or df['ch0'].astype(float); otherwise "
        "drop the column.",
    ),
    Case(
        "mixed-type-ids", "API", "pandas ids mixing strings and integers",
        lambda c: fit(pd.DataFrame({"unique_id": ["a", 1, "a"], "ds": [0.0, 1, 2], "y": [1.0, 2, 3]})),
        ITNetInputError, r"id column 'unique_id' mixes value types.*astype\(str\)",
        "id column 'unique_id' mixes value types (mixed-integer); give the ids one type, e.g. "
        "df['unique_id'] = df['unique_id'].astype(str).",
    ),
    # -- missing / non-finite values ----------------------------------------------------------
    Case(
        "nan-values", "API", "NaN / null values (pandas NaN, polars null)", _nan_values,
        None, "", "works: a NaN or null value means \"not observed\" and is skipped",
    ),
    Case(
        "inf-value", "API", "`inf` in channel `ch0` (row 4)",
        lambda c: fit(_with_cell(numeric_frame(), "ch0", 4, float("inf"))),
        ITNetInputError,
        r"value column 'ch0', row 4, series 's0000', channel 'ch0'.*infinite.*Replace",
        "value column 'ch0', row 4, series 's0000', channel 'ch0': the value inf is infinite. "
        "Replace infinities with NaN/null (= not observed) or with finite numbers.",
    ),
    Case(
        "missing-id", "API", "a null series id (row 2)",
        lambda c: fit(_with_cell(numeric_frame(), "unique_id", 2, None)),
        ITNetInputError, r"id column 'unique_id', row 2: the series id is missing.*dropna",
        "id column 'unique_id', row 2: the series id is missing (null/NaN). Every row needs an "
        "id: drop those rows or fill them, e.g. df.dropna(subset=['unique_id']).",
    ),
    Case(
        "nan-time", "API", "a NaN numeric time (row 5)",
        lambda c: fit(_with_cell(numeric_frame(), "ds", 5, float("nan"))),
        ITNetInputError, r"time column 'ds', row 5 \(series 's0000'\): the time nan is not finite",
        "time column 'ds', row 5 (series 's0000'): the time nan is not finite. Times must be "
        "finite numbers; drop those rows.",
    ),
    Case(
        "inf-time", "API", "an infinite numeric time (row 7)",
        lambda c: fit(_with_cell(numeric_frame(), "ds", 7, float("-inf"))),
        ITNetInputError, r"time column 'ds', row 7 \(series 's0000'\): the time -inf",
        "time column 'ds', row 7 (series 's0000'): the time -inf is not finite. Times must be "
        "finite numbers; drop those rows.",
    ),
    Case(
        "nat-time", "API", "a NaT timestamp (pandas, row 3)",
        lambda c: fit(datetime_frame().to_pandas().assign(
            ds=lambda d: d["ds"].where(d.index != 3))),
        ITNetInputError, r"time column 'ds', row 3 \(series 's0000'\): the time is missing.*dropna",
        "time column 'ds', row 3 (series 's0000'): the time is missing (NaT/null). Drop or fill "
        "those rows, e.g. df.dropna(subset=['ds']) or df.drop_nulls('ds').",
    ),
    Case(
        "out-of-range-time", "API", "a datetime beyond year 2262 (`datetime64[s]`)",
        lambda c: fit(pd.DataFrame({"ds": np.array(["2024-01-01", "3000-01-01"], "datetime64[s]"),
                                    "y": [1.0, 2.0]})),
        ITNetInputError, r"time column 'ds', row 1: the time is outside the range",
        "time column 'ds', row 1: the time is outside the range nanoseconds since 1970 can hold "
        "(years 1677-2262). Use times within that range.",
    ),
    # -- time zones and time kinds ------------------------------------------------------------
    Case(
        "mixed-time-zones", "API", "pandas object column mixing UTC and Europe/Paris",
        lambda c: fit(_TZ_MIXED),
        ITNetInputError, r"time column 'ds' mixes time zones.*utc=True",
        "time column 'ds' mixes time zones (Europe/Paris, UTC). Convert it to one time zone "
        "first, e.g. df['ds'] = pd.to_datetime(df['ds'], utc=True).",
    ),
    Case(
        "numeric-at-predict-after-datetime-fit", "API",
        "fit on datetimes, `predict(df=...)` with epoch-second numbers",
        lambda c: datetime_model().predict(
            h="2h", df=datetime_frame().with_columns(pl.col("ds").dt.epoch("s").cast(pl.Float64))),
        ITNetInputError, r"time column 'ds' holds numbers.*fit on datetimes.*pd.to_datetime",
        "time column 'ds' holds numbers (Float64), but the model was fit on datetimes "
        "(Datetime(us)). Give times of the same kind as in training: convert them, e.g. "
        "pd.to_datetime(df['ds'], unit='s') (pandas) or pl.from_epoch(pl.col('ds'), 's') "
        "(polars) for epoch seconds.",
    ),
    Case(
        "datetime-at-predict-after-numeric-fit", "API",
        "fit on numbers, `predict(times=...)` with datetimes",
        lambda c: numeric_model().predict(times=pl.DataFrame(
            {"unique_id": ["s0000"], "ds": [pd.Timestamp("2024-01-01")]})),
        ITNetInputError, r"time column 'ds' holds datetimes.*fit on numbers",
        "time column 'ds' holds datetimes (Datetime(us)), but the model was fit on numbers "
        "(Float64). Give times of the same kind as in training: convert them to the numbers "
        "used in training (same origin and unit).",
    ),
    Case(
        "aware-at-predict-after-naive-fit", "API", "fit on naive datetimes, predict on UTC ones",
        lambda c: datetime_model().predict(
            h="2h", df=datetime_frame().with_columns(pl.col("ds").dt.replace_time_zone("UTC"))),
        ITNetInputError, r"tz-aware datetimes \(UTC\).*fit on naive.*tz_localize\(None\)",
        "time column 'ds' holds tz-aware datetimes (UTC), but the model was fit on naive ones. "
        "Drop the time zone the way the training data did, e.g. df['ds'].dt.tz_localize(None) "
        "(pandas) or pl.col('ds').dt.replace_time_zone(None) (polars).",
    ),
    # -- duplicates ---------------------------------------------------------------------------
    Case(
        "duplicates-error", "API", "two values at one (series, time, channel), default policy",
        lambda c: fit(long_frame(times=(0.0, 1.0, 2.0, 2.0, 3.0, 4.0))),
        ITNetInputError,
        r"series 'a', time 2.0, channel 'y' appears in rows 2, 3.*duplicates='mean'",
        "duplicate observations: series 'a', time 2.0, channel 'y' appears in rows 2, 3. Each "
        "(series, time, channel) may be observed once. Remove the duplicates, or pass "
        "duplicates='mean' to average them or duplicates='last' to keep the last one in input "
        "order.",
    ),
    Case(
        "duplicates-mean", "API", "the same, `duplicates='mean'`", _duplicates_policy("mean", 4.0),
        None, "", "works: the repeated values are averaged",
    ),
    Case(
        "duplicates-last", "API", "the same, `duplicates='last'`", _duplicates_policy("last", 5.0),
        None, "", "works: the last value in input order is kept",
    ),
    Case(
        "duplicates-unknown-policy", "API", "`duplicates='first'`",
        lambda c: fit(long_frame(), duplicates="first"),
        ITNetInputError, r"duplicates='first'.*one of \['error', 'mean', 'last'\]",
        "ITNetForecaster(duplicates='first') is invalid: duplicates must be one of ['error', "
        "'mean', 'last']",
    ),
    # -- ordering, sizes, gaps, precision -----------------------------------------------------
    Case(
        "unsorted-rows", "API", "rows in random order", _unsorted,
        None, "", "works: the same forecasts as the sorted frame",
    ),
    Case(
        "single-observation-series", "API", "every series has one observation",
        lambda c: fit(long_frame(times=(1.0, 2.0), ids=["a", "b"])),
        ITNetInputError, r"every series has a single time point.*at least two time points",
        "every series has a single time point (2 series, e.g. 'a'); training needs series with "
        "at least two time points (a history and a later value to forecast). Give longer "
        "series.",
    ),
    Case(
        "single-observation-among-others", "API", "one series with a single observation",
        _single_observation_among_others, None, "",
        "works: the series is forecast from its one observation",
    ),
    Case(
        "huge-gaps", "API", "gaps of 1e9 time units (`time_unit=1`)", _huge_gaps,
        None, "", "works: finite forecasts, near and 4e9 units ahead",
    ),
    Case(
        "zero-gaps", "API", "channels at the same instant; a series with all rows at one time",
        _zero_gaps, None, "", "works: simultaneous rows form one time point",
    ),
    Case(
        "epoch-datetime-seconds", "API", "datetimes at epoch scale, 1 s apart",
        _epoch_datetime_seconds, None, "",
        "works: query times come back to the nanosecond; t+1 s and t+2 s get distinct "
        "coordinates and forecasts",
    ),
    Case(
        "epoch-float-seconds", "API", "float epoch seconds (~1.7e9), 1 s apart",
        _epoch_float_seconds, None, "",
        "works: exact query times, distinct forecasts (coordinates are cutoff-relative float64 "
        "before the float32 cast)",
    ),
    # -- channels and series at predict -------------------------------------------------------
    Case(
        "channel-never-observed", "API", "a channel column that is all null in training",
        lambda c: fit(numeric_frame().with_columns(pl.lit(None, pl.Float64).alias("ch2"))),
        ITNetInputError, r"channel \['ch2'\] is never observed.*Drop it",
        "channel ['ch2'] is never observed in the training frame (every value of column ['ch2'] "
        "is null/NaN), so the model cannot learn or forecast it. Drop it before fit, or give "
        "observations of it.",
    ),
    Case(
        "unknown-channel-at-predict", "API", "`predict(df=...)` with a channel not in training",
        lambda c: numeric_model().predict(h=2.0, df=numeric_frame().with_columns(ch9=pl.lit(1.0))),
        ITNetInputError, r"channels \['ch9'\] were never seen in training.*refit",
        "channels ['ch9'] were never seen in training (known channels: 'ch0', 'ch1'). Drop those "
        "columns / rows, or refit the model with them.",
    ),
    Case(
        "unknown-channel-in-times", "API", "`times=` asking for channel `ch9`",
        lambda c: numeric_model().predict(times=last_times(numeric_frame()).with_columns(
            pl.col("ds") + 1, variable=pl.lit("ch9"))),
        ITNetInputError, r"channels \['ch9'\] were never seen in training",
        "channels ['ch9'] were never seen in training (known channels: 'ch0', 'ch1'). Drop those "
        "columns / rows, or refit the model with them.",
    ),
    Case(
        "series-without-history", "API", "`times=` for a series id with no history",
        lambda c: numeric_model().predict(times=pl.DataFrame({"unique_id": ["zzz"], "ds": [99.0]})),
        ITNetInputError, r"no history in the training frame: \['zzz'\].*predict\(df=\.\.\., times",
        "times= asks for series with no history in the training frame: ['zzz']. 'unique_id' must "
        "name series whose history is known: pass their history with predict(df=..., "
        "times=...), or fix the ids.",
    ),
    Case(
        "query-at-cutoff", "API", "`times=` at the last observed time of each series",
        lambda c: numeric_model().predict(times=last_times(numeric_frame())),
        ITNetInputError,
        r"query time \S+ of series 's0000' is at or before the end of that series' history",
        "times=: query time … of series 's0000' is at or before the end of that series' history "
        "(…) (4 such query times in all). Query times must be after the cutoff (the series' "
        "last observed time): drop those rows from times=, or pass a shorter history with df=",
    ),
    Case(
        "query-before-cutoff-datetime", "API", "`times=` one hour before the cutoff (datetimes)",
        lambda c: datetime_model().predict(times=last_times(datetime_frame()).head(1).with_columns(
            pl.col("ds") - pd.Timedelta("1h"))),
        ITNetInputError,
        r"query time 20\d\d-\S+ \S+ of series 's0000' is at or before .*\(20\d\d-",
        "times=: query time 2024-01-01 … of series 's0000' is at or before the end of that "
        "series' history (2024-01-01 …). Query times must be after the cutoff (the series' "
        "last observed time): drop those rows from times=, or pass a shorter history with df=",
    ),
    # -- horizons -----------------------------------------------------------------------------
    Case(
        "h-zero", "API", "`predict(h=0)`", lambda c: numeric_model().predict(h=0),
        ITNetInputError, r"h=0: duration 0 is not positive",
        "h=0: duration 0 is not positive; durations (horizons, time units, steps) must be > 0.",
    ),
    Case(
        "h-negative", "API", "`predict(h='-2h')` (datetimes)",
        lambda c: datetime_model().predict(h="-2h"),
        ITNetInputError, r"h='-2h': duration '-2h' is not positive",
        "h='-2h': duration '-2h' is not positive; durations (horizons, time units, steps) must "
        "be > 0.",
    ),
    Case(
        "h-bare-number-datetime", "API", "`predict(h=2)` on datetimes (no unit)",
        lambda c: datetime_model().predict(h=2),
        ITNetInputError, r"h=2: .*bare number.*'6h'",
        "h=2: duration 2 is a bare number but the time column holds datetimes, so it has no "
        "unit. Pass a string such as '6h' or '30min', a datetime.timedelta, or give a time_unit "
        "so that numbers count in time units.",
    ),
    Case(
        "h-and-times", "API", "both `h=` and `times=`",
        lambda c: numeric_model().predict(h=2.0, times=last_times(numeric_frame())),
        ITNetInputError, r"exactly one of h=",
        "pass exactly one of h= (a horizon) or times= (query times)",
    ),
    Case(
        "predict-before-fit", "API", "`predict` on an unfitted estimator",
        lambda c: ITNetForecaster().predict(h=1.0),
        NotFittedError, r"not fitted yet.*fit\(df\)",
        "this ITNetForecaster is not fitted yet; call fit(df) or ITNetForecaster.load(path)",
    ),
    # -- model files --------------------------------------------------------------------------
    Case(
        "model-truncated", "API", "a model file cut in half",
        _load("half.itnet", lambda raw: raw[: len(raw) // 2]),
        ITNetModelFileError, r"half.itnet is truncated \(\d+ of \d+ bytes\); save the model again",
        "<tmp>/half.itnet is truncated (… of … bytes); save the model again",
    ),
    Case(
        "model-tampered", "API", "one bit of a weight flipped", _load("flip.itnet", _flip_last_weight_byte),
        ITNetModelFileError, r"failed its integrity check",
        "<tmp>/flip.itnet failed its integrity check (content hash mismatch): the file was "
        "modified or damaged after it was saved",
    ),
    Case(
        "model-appended", "API", "bytes appended to a model file",
        _load("append.itnet", lambda raw: raw + b"\x00junk"),
        ITNetModelFileError, r"damaged: 5 unexpected bytes after the end",
        "<tmp>/append.itnet is damaged: 5 unexpected bytes after the end of the model; save the "
        "model again",
    ),
    Case(
        "model-newer-format", "API", "a model file of format version 2",
        _load("v2.itnet", lambda raw: _with_metadata(raw, format_version="2")),
        ITNetModelFileError, r"newer itnet-ts \(model format 2.*upgrade itnet-ts",
        "<tmp>/v2.itnet was written by a newer itnet-ts (model format 2; this version reads up "
        "to 1); upgrade itnet-ts to load it",
    ),
    Case(
        "model-not-a-model", "API", "a CSV file given as a model",
        lambda c: ITNetForecaster.load(c.csv),
        ITNetModelFileError, r"not an itnet-ts model file",
        "<tmp>/history.csv is not an itnet-ts model file",
    ),
    Case(
        "model-missing", "API", "a model path that does not exist",
        lambda c: ITNetForecaster.load(c.tmp / "nope.itnet"),
        ITNetModelFileError, r"does not exist", "model file <tmp>/nope.itnet does not exist",
    ),
    Case(
        "loaded-model-without-history", "API", "`predict(h=...)` on a loaded model, no `df=`",
        _loaded_predict_without_df,
        ITNetInputError, r"holds no data.*predict\(df=\.\.\.\)",
        "this model was loaded from a file and holds no data; pass the history to forecast from "
        "with predict(df=...)",
    ),
    # -- command line -------------------------------------------------------------------------
    Case(
        "cli-parquet-not-parquet", "CLI", "`forecast x.parquet` where the file is text",
        lambda c: c.cli("forecast", c.path("x.parquet", "this is not parquet"), "--h", "2"),
        3, r"could not read .*x.parquet as parquet",
        "error: could not read <tmp>/x.parquet as parquet: …",
    ),
    Case(
        "cli-csv-bad-cell", "CLI", "a CSV row with `abc` in a numeric column",
        lambda c: c.cli("forecast", c.csv_with_row("cell.csv", "s0000,3.5,abc,1.0"), "--h", "2"),
        3, r"channel column 'ch0' is not numeric .*row 4 holds 'abc'.*Fix that value",
        "error: channel column 'ch0' is not numeric (dtype String; row 4 holds 'abc'). Values "
        "must be numbers: convert with pd.to_numeric(df['ch0']) or "
        "pl.col('ch0').cast(pl.Float64). Fix that value, or make it empty (= not observed).",
    ),
    Case(
        "cli-csv-extra-field", "CLI", "a CSV row with more fields than the header",
        lambda c: c.cli("forecast", c.csv_with_row("wide.csv", "s0000,3.5,1.0,1.0,7,8"), "--h", "2"),
        3, r"could not read .*wide.csv as CSV: line 6 has 6 fields, the header has 4",
        "error: could not read <tmp>/wide.csv as CSV: line 6 has 6 fields, the header has 4; "
        "fix or remove that row",
    ),
    Case(
        "cli-csv-short-row", "CLI", "a CSV row with fewer fields than the header",
        lambda c: c.cli("forecast", c.csv_with_row("short.csv", "s0000,3.5"), "--h", "2"),
        3, r"short.csv.*line 6",
        "error: could not read <tmp>/short.csv as CSV: line 6 has 2 fields, the header has 4; "
        "fix or remove that row",
    ),
    Case(
        "cli-empty-csv", "CLI", "an empty CSV file",
        lambda c: c.cli("forecast", c.path("empty.csv", ""), "--h", "2"),
        3, r"could not read .*empty.csv as CSV: empty CSV",
        "error: could not read <tmp>/empty.csv as CSV: empty CSV",
    ),
    Case(
        "cli-header-only-csv", "CLI", "a CSV with a header and no rows",
        lambda c: c.cli("forecast", c.path("hdr.csv", "unique_id,ds,y\n"), "--h", "2"),
        3, r"empty \(0 rows\)",
        "error: the frame is empty (0 rows); give at least one observation per series.",
    ),
    Case(
        "cli-missing-file", "CLI", "a DATA file that does not exist",
        lambda c: c.cli("forecast", c.tmp / "missing.csv", "--h", "2"),
        4, r"missing.csv does not exist", "error: input file <tmp>/missing.csv does not exist",
    ),
    Case(
        "cli-misspelled-column", "CLI", "`--time-col dss` on a file with column `ds`",
        lambda c: c.cli("forecast", c.csv, "--h", "2", "--time-col", "dss"),
        3, r"time column 'dss' not found.*did you mean 'ds'\? Pass --time-col <column name>",
        "error: time column 'dss' not found in the frame (columns: 'unique_id', 'ds', 'ch0', "
        "'ch1'); did you mean 'ds'? Pass --time-col <column name> to name it.",
    ),
    Case(
        "cli-inf-value", "CLI", "`inf` in a CSV cell",
        lambda c: c.cli("forecast", c.csv_with_row("inf.csv", "s0000,3.5,inf,1.0"), "--h", "2"),
        3, r"value column 'ch0', row 4, series 's0000'.*infinite",
        "error: value column 'ch0', row 4, series 's0000', channel 'ch0': the value inf is "
        "infinite. Replace infinities with NaN/null (= not observed) or with finite numbers.",
    ),
    Case(
        "cli-h-zero", "CLI", "`--h 0`",
        lambda c: c.cli("forecast", c.csv, "--h", "0"),
        3, r"--h 0 is invalid: give a positive number",
        "error: --h 0 is invalid: give a positive number of time units or a duration such as '6h'",
    ),
    Case(
        "cli-model-truncated", "CLI", "`predict MODEL DATA` with a truncated model file",
        lambda c: c.cli("predict", c.model_variant("cut.itnet", _model_bytes(c)[:3000]), c.csv,
                        "--h", "2"),
        5, r"cut.itnet is truncated \(3000 bytes", "error: <tmp>/cut.itnet is truncated (3000 "
        "bytes; its header alone needs …); save the model again",
    ),
    Case(
        "cli-model-tampered", "CLI", "`predict` with a model file with one bit flipped",
        lambda c: c.cli("predict", c.model_variant("bit.itnet", _flip_last_weight_byte(
            _model_bytes(c))), c.csv, "--h", "2"),
        5, r"failed its integrity check",
        "error: <tmp>/bit.itnet failed its integrity check (content hash mismatch): the file was "
        "modified or damaged after it was saved",
    ),
    Case(
        "cli-model-newer-format", "CLI", "`predict` with a model file of format version 2",
        lambda c: c.cli("predict", c.model_variant("new.itnet", _with_metadata(
            _model_bytes(c), format_version="2")), c.csv, "--h", "2"),
        5, r"newer itnet-ts", "error: <tmp>/new.itnet was written by a newer itnet-ts (model "
        "format 2; this version reads up to 1); upgrade itnet-ts to load it",
    ),
    Case(
        "cli-model-missing", "CLI", "`predict` with a model path that does not exist",
        lambda c: c.cli("predict", c.tmp / "gone.itnet", c.csv, "--h", "2"),
        4, r"gone.itnet does not exist", "error: model file <tmp>/gone.itnet does not exist",
    ),
    Case(
        "cli-times-at-cutoff", "CLI", "`--times` file with each series' last time",
        lambda c: c.cli("forecast", c.csv, "--times", _write_csv(c, "cut.csv", last_times(numeric_frame()))),
        3, r"query time \S+ of series 's0000' is at or before",
        "error: times=: query time … of series 's0000' is at or before the end of that series' "
        "history (…) (4 such query times in all). Query times must be after the cutoff (the "
        "series' last observed time): drop those rows from times=, or pass a shorter history "
        "with df=",
    ),
]  # fmt: skip


def _write_csv(ctx, name: str, df: pl.DataFrame) -> Path:
    p = ctx.tmp / name
    df.write_csv(p)
    return p


# ---- the tests ------------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx(tmp_path_factory.mktemp("bad_inputs"))


def _shows_regex(shows: str) -> re.Pattern:
    parts = [re.escape(" ".join(p.split())) for p in shows.split("…")]
    return re.compile(".+?".join(parts), re.S)


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.known_gap)] if case.known_gap else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input(case: Case, ctx: Ctx):
    if case.expect is None:
        case.call(ctx)  # asserts inside
        return
    if case.where == "CLI":
        res = case.call(ctx)
        message = res.output.strip()
        assert res.exit_code == case.expect, message
        assert "Traceback" not in message and len(message.splitlines()) == 1, message
    else:
        with pytest.raises(case.expect) as info:
            case.call(ctx)
        assert type(info.value) is case.expect  # the documented type, not a subclass
        message = str(info.value)
    assert re.search(case.match, message, re.S), message
    assert _shows_regex(case.shows).fullmatch(ctx.normalise(message)), (
        f"the message differs from docs/bad-inputs.md; update `shows` of {case.id!r} and run "
        f"python docs/_make_bad_inputs.py\n{ctx.normalise(message)}"
    )


def test_the_table_is_well_formed():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert sum(c.expect is not None for c in CASES) >= 30
    assert {c.where for c in CASES} == {"API", "CLI"}
    for c in CASES:
        if c.expect is not None:  # every documented message matches its own regex
            assert re.search(c.match, c.shows.replace("…", "x"), re.S) or "…" in c.shows, c.id


def test_doc_table_is_up_to_date():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from _make_bad_inputs import render
    finally:
        sys.path.remove(str(ROOT / "docs"))
    doc = ROOT / "docs" / "bad-inputs.md"
    assert doc.read_text() == render(CASES), (
        "docs/bad-inputs.md is out of date: run python docs/_make_bad_inputs.py"
    )

"""Errors that name the parameter they concern, and how each front end words them."""

from __future__ import annotations

import pickle

import polars as pl
import pytest

from itnet_ts.cli._errors import message
from itnet_ts.data._ingest import ingest
from itnet_ts.errors import ITNetInputError
from itnet_ts.estimators._quantiles import plan_outputs, unwanted_columns


def test_parts_make_the_python_message_and_survive_pickling():
    exc = ITNetInputError("no such column.", param="time_col", hint="Pass time_col='x'.")
    assert str(exc) == "no such column. Pass time_col='x'."
    assert (exc.problem, exc.param, exc.value, exc.hint) == (
        "no such column.", "time_col", None, "Pass time_col='x'.",
    )  # fmt: skip
    back = pickle.loads(pickle.dumps(exc))  # Dask ships errors between processes
    assert (str(back), back.param) == (str(exc), "time_col")
    assert str(ITNetInputError("bad", param="level", value=90)) == "level=90: bad"
    assert str(ITNetInputError("plain")) == "plain"


def test_a_missing_column_is_worded_for_python_and_for_the_command_line():
    frame = pl.DataFrame({"unique_id": ["a"], "ds": [1.0], "y": [2.0]})
    with pytest.raises(ITNetInputError) as info:
        ingest(frame, time_col="dss")
    assert info.value.param == "time_col"
    assert str(info.value).endswith("did you mean 'ds'? Pass time_col='<column name>' to name it.")
    assert message(info.value).endswith(
        "did you mean 'ds'? Pass --time-col <column name> to name it."
    )


def test_unwanted_columns_of_a_fitted_plan():
    plan = plan_outputs(level=[80, 95])
    assert unwanted_columns(plan) == []
    assert unwanted_columns(plan, level=[80]) == ["y_hat-lo-95", "y_hat-hi-95"]
    with pytest.raises(ITNetInputError) as info:
        unwanted_columns(plan, level=[90])
    assert (info.value.param, info.value.value) == ("level", 90)
    assert message(info.value) == (
        "--level 90: the model was fitted with level=[80.0, 95.0]; it can only give what it "
        "was trained for (refit with --level)"
    )
    quantile_plan = plan_outputs(quantiles=[0.1, 0.9])
    assert unwanted_columns(quantile_plan, quantiles=[0.9]) == ["y_hat_q0.1"]
    with pytest.raises(ITNetInputError, match="fitted with no level"):
        unwanted_columns(quantile_plan, level=[80])

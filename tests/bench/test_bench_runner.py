"""The resumable benchmark runner (itnet_ts.bench.runner) on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from itnet_ts.bench import load_dataset, run_benchmark
from itnet_ts.bench.runner import split_params
from itnet_ts.errors import ITNetInputError

TINY_DATA = {"synthetic": dict(n_train=8, n_test=4, length=30.0, horizon=5.0)}
TINY_ITNET = dict(d_model=8, rank=4, n_layers=1)


def _run(out, models=("itnet", "persistence"), seeds=(1, 2), **kw):
    calls = []

    def loader(name, **options):
        calls.append(name)
        return load_dataset(name, **options)

    kw.setdefault("params", {"itnet": TINY_ITNET, "grud": {"hidden": 8, "chan_dim": 4}})
    result = run_benchmark(
        ["synthetic"], list(models), list(seeds), out=out, epochs=1,
        dataset_options=TINY_DATA, progress=False, loader=loader, **kw,
    )  # fmt: skip
    return result, calls


def _mtimes(out):
    return {p: p.stat().st_mtime_ns for p in sorted(out.rglob("seed*.json"))}


def test_results_written_mean_std_and_resumed(tmp_path):
    out = tmp_path / "bench"
    result, calls = _run(out)
    assert calls == ["synthetic"]
    assert sorted(result["rerun"]) == [
        "synthetic/itnet/seed1", "synthetic/itnet/seed2",
        "synthetic/persistence/seed1", "synthetic/persistence/seed2",
    ]  # fmt: skip
    for m in ("itnet", "persistence"):
        for s in (1, 2):
            rec = json.loads((out / "synthetic" / m / f"seed{s}.json").read_text())
            assert rec["dataset"] == "synthetic" and rec["model"] == m and rec["seed"] == s
            for key in ("test_mse", "test_mae", "val_mse", "infer_s", "params", "device"):
                assert rec[key] is not None, key
            assert rec["peak_rss_mb"] > 0 and rec["mem_method"]
    itnet = json.loads((out / "synthetic" / "itnet" / "seed1.json").read_text())
    assert itnet["s_per_epoch"] > 0 and itnet["params"] > 0 and len(itnet["history"]) == 1
    assert itnet["backend"] in ("numba", "reference")

    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["summary"] == result["summary"]
    rows = {r["model"]: r for r in result["summary"]}
    assert rows["itnet"]["seeds"] == [1, 2]
    runs = [r for r in result["runs"] if r["model"] == "itnet"]
    mses = [r["test_mse"] for r in runs]
    assert rows["itnet"]["test_mse_mean"] == pytest.approx(np.mean(mses))
    assert rows["itnet"]["test_mse_std"] == pytest.approx(np.std(mses))
    assert rows["persistence"]["test_mse_std"] == 0.0  # deterministic
    assert all("history" not in r for r in on_disk["runs"])
    md = (out / "results.md").read_text()
    assert "### synthetic" in md and "| itnet | 1,2 |" in md and " ± " in md
    assert "s/epoch" in md and "peak RSS MB" in md and "params" in md

    # second invocation: nothing rerun, no data loaded, run files untouched
    before = _mtimes(out)
    again, calls = _run(out)
    assert calls == [] and again["rerun"] == []
    assert _mtimes(out) == before
    assert again["summary"] == result["summary"]

    # a new seed runs alone; --force reruns everything asked for
    more, calls = _run(out, seeds=(1, 2, 3))
    assert more["rerun"] == ["synthetic/itnet/seed3", "synthetic/persistence/seed3"]
    assert {r["model"]: r["seeds"] for r in more["summary"]}["itnet"] == [1, 2, 3]
    forced, calls = _run(out, models=("persistence",), seeds=(1,), force=True)
    assert forced["rerun"] == ["synthetic/persistence/seed1"] and calls == ["synthetic"]
    after = _mtimes(out)
    changed = [p.parent.name + "/" + p.name for p in after if after[p] != before.get(p)]
    assert sorted(changed) == ["itnet/seed3.json", "persistence/seed1.json",
                               "persistence/seed3.json"]  # fmt: skip


def test_other_settings_are_not_mixed(tmp_path):
    out = tmp_path / "bench"
    _run(out, models=("itnet",), seeds=(1,))
    with pytest.raises(ITNetInputError, match=r"other settings.*d_model.*--force"):
        _run(out, models=("itnet",), seeds=(1,), params={"itnet": {**TINY_ITNET, "d_model": 16}})
    # the baselines do not depend on the training settings
    _run(out, models=("persistence",), seeds=(1,))
    res, _ = _run(out, models=("persistence",), seeds=(1,), params={})
    assert res["rerun"] == []


def test_grud_and_history_mean_run(tmp_path):
    result, _ = _run(tmp_path, models=("grud", "history_mean"), seeds=(0,))
    rows = {r["model"]: r for r in result["summary"]}
    assert rows["grud"]["params"] > 0 and rows["grud"]["backend"] == "torch"
    assert rows["history_mean"]["params"] == 0 and rows["history_mean"]["s_per_epoch"] is None
    assert np.isfinite(rows["grud"]["test_mse_mean"])


def test_names_and_params_are_checked(tmp_path):
    with pytest.raises(ITNetInputError, match="supported: physionet, synthetic"):
        run_benchmark(["ushcn"], ["itnet"], [0], out=tmp_path, epochs=1)
    with pytest.raises(ITNetInputError, match="supported: itnet, grud, persistence"):
        run_benchmark(["synthetic"], ["tpatchgnn"], [0], out=tmp_path, epochs=1)
    with pytest.raises(ITNetInputError, match="epochs"):
        run_benchmark(["synthetic"], ["itnet"], [0], out=tmp_path, epochs=0)
    assert not any(tmp_path.iterdir())  # nothing written before the checks pass

    got = split_params({"batch_size": 16, "d_model": 16, "grud.hidden": 8}, ["itnet", "grud"])
    assert got == {"itnet": {"batch_size": 16, "d_model": 16},
                   "grud": {"batch_size": 16, "hidden": 8}}  # fmt: skip
    assert split_params({"batch_size": 16.0}, ["itnet"])["itnet"]["batch_size"] == 16
    with pytest.raises(ITNetInputError, match=r"nonsense_param.*known: itnet: "):
        split_params({"nonsense_param": 2}, ["itnet", "persistence"])
    with pytest.raises(ITNetInputError, match="not among"):
        split_params({"grud.hidden": 8}, ["itnet"])
    with pytest.raises(ITNetInputError, match="expected a int"):
        split_params({"d_model": "wide"}, ["itnet"])
    with pytest.raises(ITNetInputError, match="expected a bool"):
        split_params({"kwn": 1}, ["itnet"])


def test_synthetic_dataset_windows():
    data = load_dataset("synthetic", **TINY_DATA["synthetic"])
    sizes = data.sizes()  # series without a history or a target are dropped
    assert 0 < sizes["train"] <= 8 and 0 < sizes["val"] <= 4 and 0 < sizes["test"] <= 4
    for name in ("train", "val", "test"):
        sp = data.split(name)
        w = sp.windows
        # every target row is one query, after its series' cutoff; history before it
        assert len(w.q_time) == sp.targets.height
        assert np.all(w.q_time >= np.repeat(w.cutoff, np.diff(w.q_indptr)))
        for i in range(len(w)):
            h = sp.ragged.times[w.hist_start[i] : w.hist_end[i]]
            assert len(h) > 0 and h.max() <= w.cutoff[i]
        np.testing.assert_array_equal(w.q_target, sp.targets["value"].to_numpy()[sp.perm])
    ids = [set(data.split(s).targets["unique_id"].to_list()) for s in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    with pytest.raises(ITNetInputError, match="horizon"):
        load_dataset("synthetic", length=10.0, horizon=20.0)

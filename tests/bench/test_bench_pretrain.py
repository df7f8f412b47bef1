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

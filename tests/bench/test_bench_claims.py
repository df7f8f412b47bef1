"""benchmarks/claims.py kwn / mha / modes-accuracy run end to end on a tiny task and print
their tables; the MHA comparison encoder keeps the ITNet transform's interface."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
TINY = ["--n-train", "6", "--n-test", "3", "--length", "20", "--test-h", "4", "--epochs", "1",
        "--d-model", "8", "--windows-per-series", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def claims():
    name = "claims"
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _table(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_kwn(claims, tmp_path, capsys):
    args = ["kwn", "--seeds", "0", "--lrs", "1e-3", *TINY, "--out", str(tmp_path)]
    assert claims.main(args) == 0
    rows = _table(capsys.readouterr().out)
    for col in ("test MSE", "grad norm median", "grad norm max", "diverged", "stuck at start",
                "attention-mode predict"):  # fmt: skip
        assert col in rows[0]
    assert len(rows) == 2 + 4  # header, rule, one row per arm
    assert "LN off, KWN on" in rows[-1] and "0/1" in rows[-1]
    runs = json.loads((tmp_path / "kwn.json").read_text())["runs"]
    assert len(runs) == 4 and all(r["grad_steps"] > 0 for r in runs)
    switched = [r for r in runs if "attention_test_mse" in r]
    assert switched and all(r["attention_max_abs_diff"] < 1e-3 for r in switched)
    assert claims.main(args) == 0  # resumed from the run files
    assert "[kwn]" not in capsys.readouterr().err


def test_mha(claims, tmp_path, capsys):
    args = ["mha", "--seeds", "0", "--widths", "8", "--encoders", "itnet", "mha",
            "itnet-recurrent", *TINY, "--out", str(tmp_path)]  # fmt: skip
    assert claims.main(args) == 0
    rows = _table(capsys.readouterr().out)
    assert "transform params" in rows[0] and "vs MHA" in rows[0]
    assert any("nn.MultiheadAttention" in r for r in rows) and any("ITNet" in r for r in rows[2:])
    runs = json.loads((tmp_path / "mha.json").read_text())["runs"]
    assert {r["encoder"] for r in runs} == {"itnet", "mha", "itnet-recurrent"}
    assert len(rows) == 2 + 3 and "recurrent decoder" in rows[-1]
    assert all(not r["diverged"] for r in runs)


def test_modes_accuracy(claims, tmp_path, capsys):
    args = ["modes-accuracy", "--seeds", "0", "--start", "persistence", *TINY,
            "--out", str(tmp_path)]  # fmt: skip
    assert claims.main(args) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert "s / epoch" in rows[0] and len(rows) == 2 + 3
    assert "start='persistence'" in out
    runs = json.loads((tmp_path / "modes_accuracy_persistence.json").read_text())["runs"]
    assert [r["mode"] for r in runs] == ["recurrent", "attention", "conv"]
    assert all(r["params"]["encoder_mode"] == r["mode"] for r in runs)


def test_mha_transform_is_causal_and_ignores_padding(claims):
    torch.manual_seed(0)
    t = claims.MHATransform(8, 4, 0.5, 50.0).eval()
    h, dtau = torch.randn(1, 6, 8), torch.rand(1, 6)
    w = torch.ones(1, 6)
    y, state = t(h, dtau, w)
    assert y.shape == (1, 6, 8) and state.shape == (1, 1, 1, 1)
    later = h.clone()
    later[:, 4:] += 1.0  # changing later tokens leaves earlier outputs alone
    dtau_pad = torch.cat([dtau[:, :4], torch.zeros(1, 2)], 1)
    y2, _ = t(later, dtau, w)
    torch.testing.assert_close(y2[:, :4], y[:, :4])
    # right padding (w = 0, dtau = 0) does not change the valid tokens' outputs
    w_pad = torch.tensor([[1.0, 1, 1, 1, 0, 0]])
    y_pad, _ = t(later, dtau_pad, w_pad)
    y_short, _ = t(h[:, :4], dtau[:, :4], w[:, :4])
    torch.testing.assert_close(y_pad[:, :4], y_short)


def test_mc_error(claims, capsys):
    """The Monte Carlo table: with every point kept (M = N) the estimate is exact; with fewer
    it is not, and the error shrinks as M grows."""
    assert claims.main(["mc-error", "--n", "400", "--factors", "2", "8", "20", "--draws", "3"]) == 0
    rows = _table(capsys.readouterr().out)[2:]
    assert len(rows) == 3
    rmse = [float(r.split("|")[4]) for r in rows]
    assert [r.split("|")[3].strip() for r in rows] == ["40", "160", "400"]
    assert rmse[2] < 1e-6 < rmse[1] < rmse[0]

"""``itnet-ts forecast --zero-shot`` (issue 13): forecasts with the shipped pretrained network,
no training; options that need a fit are refused."""

from __future__ import annotations

import numpy as np
import polars as pl
from typer.testing import CliRunner

from itnet_ts.cli.main import app

runner = CliRunner()


def test_forecast_sample_zero_shot(tmp_path):
    out = tmp_path / "zs.csv"
    res = runner.invoke(app, ["forecast", "--sample", "--zero-shot", "--h", "6h", "--out",
                              str(out), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    pred = pl.read_csv(out)
    assert pred.height > 0 and np.isfinite(pred["y_hat"].to_numpy()).all()
    res = runner.invoke(app, ["forecast", "--sample", "--zero-shot", "--h", "6h", "--out",
                              str(tmp_path / "b.csv"), "--level", "80", "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert {"y_hat-lo-80", "y_hat-hi-80"} <= set(pl.read_csv(tmp_path / "b.csv").columns)


def test_zero_shot_refuses_save_model(tmp_path):
    res = runner.invoke(app, ["forecast", "--sample", "--zero-shot", "--h", "6h", "--out",
                              str(tmp_path / "o.csv"), "--save-model", str(tmp_path / "m")])  # fmt: skip
    assert res.exit_code != 0
    assert "--zero-shot trains nothing" in res.output

"""The itnet-ts command line, through CliRunner and as a real subprocess."""

import json
import subprocess
import sys

import polars as pl
import pytest
from typer.testing import CliRunner

from itnet_ts.cli.main import app
from itnet_ts.datasets import make_irregular

runner = CliRunner()
TINY = ["--max-epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "history.csv"
    make_irregular(n_series=5, n_channels=2, length=30.0, seed=1, shape="wide").write_csv(path)
    return path


def test_help_lists_commands_without_importing_torch(tmp_path):
    # cwd=tmp_path: run the installed package, not the source tree's itnet_ts/ (which has no cli/)
    out = subprocess.run(
        [sys.executable, "-m", "itnet_ts.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "forecast" in out.stdout and "info" in out.stdout
    # --help stays instant because the CLI module does not import torch at import time
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, itnet_ts.cli.main; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert probe.stdout.strip() == "False"


def test_forecast_writes_output_atomically_and_refuses_to_overwrite(data_csv, tmp_path):
    out = tmp_path / "fc.parquet"
    res = runner.invoke(app, ["forecast", str(data_csv), "--h", "2", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    pred = pl.read_parquet(out)
    assert pred.columns == ["unique_id", "ds", "variable", "y_hat"]
    assert len(pred) == 5 * 2 * 2 or len(pred) > 0
    before = out.read_bytes()
    res = runner.invoke(app, ["forecast", str(data_csv), "--h", "2", "--out", str(out), *TINY])
    assert res.exit_code == 3 and "already exists" in res.output
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_forecast_with_times_file_and_saved_model(data_csv, tmp_path):
    hist = pl.read_csv(data_csv)
    times = hist.group_by("unique_id").agg(pl.col("ds").max() + 0.5)
    times_path = tmp_path / "times.csv"
    times.write_csv(times_path)
    out, model = tmp_path / "fc.csv", tmp_path / "m.itnet"
    args = ["forecast", str(data_csv), "--times", str(times_path), "--out", str(out)]
    res = runner.invoke(app, [*args, "--save-model", str(model), *TINY])
    assert res.exit_code == 0, res.output
    assert len(pl.read_csv(out)) == len(times) * 2
    assert model.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["forecast", "missing.csv", "--h", "2"], 4, "does not exist"),
        (["forecast", "--h", "2"], 3, "DATA file or --sample"),
        (["forecast", "DATA", "--h", "2", "--times", "t.csv"], 3, "exactly one of --h"),
        (["forecast", "DATA", "--h", "2", "--id-col", "series"], 3, "series"),
        (["forecast", "DATA", "--h", "-1"], 3, "h"),
    ],
)
def test_errors_give_one_line_and_exit_code(data_csv, tmp_path, args, code, message):
    args = [str(data_csv) if a == "DATA" else a for a in args]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o.csv"), *TINY])
    assert res.exit_code == code, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_bad_file_content_is_a_clear_error(tmp_path):
    fake = tmp_path / "x.parquet"
    fake.write_text("this is not parquet")
    res = runner.invoke(app, ["forecast", str(fake), "--h", "2", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 3 and "could not read" in res.output


def test_input_file_is_never_modified(data_csv, tmp_path):
    before = data_csv.read_bytes()
    runner.invoke(
        app, ["forecast", str(data_csv), "--h", "2", "--out", str(tmp_path / "o.csv"), *TINY]
    )
    assert data_csv.read_bytes() == before


def test_info_json_lists_backends():
    res = runner.invoke(app, ["info", "--json"])
    assert res.exit_code == 0
    report = json.loads(res.output)
    assert report["scan_backends"]["reference"] == "available"
    assert "numba" in report["scan_backends"]

"""The full command line: fit / predict / backtest / evaluate / plot / datasets / bench, through
CliRunner, and fit as real subprocesses (one finished, one interrupted with Ctrl-C)."""

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from typer.testing import CliRunner

from itnet_ts.cli.main import app
from itnet_ts.datasets import make_irregular

runner = CliRunner()
TINY = ["--max-epochs", "1", "--quiet", "-p", "d_model=16", "-p", "rank=4", "-p", "n_layers=1",
        "-p", "windows_per_series=2"]  # fmt: skip
COMMANDS = ["forecast", "fit", "predict", "backtest", "evaluate", "plot", "bench", "info",
            "datasets"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "history.csv"
    make_irregular(n_series=5, n_channels=2, length=30.0, seed=1, shape="wide").write_csv(path)
    return path


@pytest.fixture(scope="module")
def model_file(data_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m.itnet"
    res = runner.invoke(app, ["fit", str(data_csv), "--out", str(out), "--horizon", "4", *TINY])
    assert res.exit_code == 0, res.output
    return out


def test_help_lists_every_command_on_one_line():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "100"}, terminal_width=100)
    assert res.exit_code == 0
    box = res.output[res.output.index("Commands") :]
    lines = [ln.strip("│ ").rstrip() for ln in box.splitlines()[1:] if ln.startswith("│")]
    names = [ln.split()[0] for ln in lines if ln]
    assert names == COMMANDS  # one line per command: no continuation lines
    ds = runner.invoke(app, ["datasets", "--help"], terminal_width=100)
    assert all(c in ds.output for c in ("list", "describe", "write"))


def test_fit_then_predict_with_the_saved_model(model_file, data_csv, tmp_path):
    out = tmp_path / "p.parquet"
    res = runner.invoke(app, ["predict", str(model_file), str(data_csv), "--h", "2",
                              "--out", str(out), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    pred = pl.read_parquet(out)
    assert pred.columns == ["unique_id", "ds", "variable", "y_hat"]
    assert pred["y_hat"].is_finite().all() and pred["unique_id"].n_unique() == 5
    times = pl.read_csv(data_csv).group_by("unique_id").agg(pl.col("ds").max() + 0.25)
    times.write_csv(tmp_path / "t.csv")
    args = ["predict", str(model_file), str(data_csv), "--times", str(tmp_path / "t.csv")]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "q.csv")])
    assert res.exit_code == 0, res.output
    assert len(pl.read_csv(tmp_path / "q.csv")) == 10


def test_fit_json_summary_and_no_overwrite(data_csv, tmp_path):
    out = tmp_path / "m.itnet"
    args = ["fit", str(data_csv), "--out", str(out), "--horizon", "4", *TINY]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["channels"] == ["ch0", "ch1"] and summary["model"] == str(out)
    before = out.read_bytes()
    res = runner.invoke(app, args)
    assert res.exit_code == 3 and "already exists" in res.output
    assert out.read_bytes() == before


def test_ctrl_c_during_fit_writes_nothing(data_csv, tmp_path, monkeypatch):
    from itnet_ts.estimators import ITNetForecaster

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ITNetForecaster, "fit", interrupted)
    out = tmp_path / "m.itnet"
    res = runner.invoke(app, ["fit", str(data_csv), "--out", str(out), *TINY])
    assert res.exit_code == 130 and "interrupted" in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["predict", "MISSING_MODEL", "DATA", "--h", "2"], 4, "does not exist"),
        (["predict", "BAD_MODEL", "DATA", "--h", "2"], 5, "not an itnet-ts model"),
        (["predict", "MODEL", "DATA"], 3, "exactly one of --h"),
        (["predict", "MODEL", "MISSING_DATA", "--h", "2"], 4, "does not exist"),
        (["fit", "DATA", "-p", "nonsense=1"], 3, "not a hyperparameter"),
        (["fit", "DATA", "-p", "d_model"], 3, "KEY=VALUE"),
        (["fit", "DATA", "-p", "d_model=-3"], 3, "d_model"),
        (["backtest", "DATA"], 3, "--h"),
        (["backtest", "DATA", "--h", "2", "--n-windows", "99"], 3, "before the start"),
        (["evaluate", "DATA"], 3, "y_hat"),
        (["plot", "DATA", "--out", "x.gif"], 3, "image type"),
        (["datasets", "describe", "nope"], 3, "unknown dataset"),
        (["datasets", "write", "ushcn", "--out", "u.csv"], 3, "--source"),
        (["fit", "DATA", "--bogus"], 2, "No such option"),
    ],
)
def test_errors_give_one_line_and_exit_code(model_file, data_csv, tmp_path, args, code, message):
    bad = tmp_path / "bad.itnet"
    bad.write_bytes(b"not a model")
    subs = {"DATA": str(data_csv), "MODEL": str(model_file), "BAD_MODEL": str(bad),
            "MISSING_MODEL": str(tmp_path / "none.itnet"), "MISSING_DATA": "none.csv"}  # fmt: skip
    args = [subs.get(a, a) for a in args]
    if "--out" not in args and args[0] in ("fit", "predict", "backtest"):
        args += ["--out", str(tmp_path / ("o.itnet" if args[0] == "fit" else "o.csv"))]
    quiet = code != 2 and args[0] != "datasets"
    res = runner.invoke(app, [*args, "--quiet"] if quiet else args)
    assert res.exit_code == code, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_backtest_evaluate_and_plot(data_csv, tmp_path):
    cv_path = tmp_path / "cv.parquet"
    res = runner.invoke(app, ["backtest", str(data_csv), "--h", "4", "--n-windows", "2",
                              "--refit", "0", "--out", str(cv_path), "--json", *TINY])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert len(report["by_cutoff"]) == 2 and report["overall"]["n"] > 0
    assert set(report["overall"]) == {"n", "mae", "mse", "rmse", "mase"}
    cv = pl.read_parquet(cv_path)
    assert cv.columns == ["unique_id", "ds", "cutoff", "variable", "y_hat", "y"]

    table = tmp_path / "metrics.csv"
    args = ["evaluate", str(cv_path), "--by", "unique_id", "--metrics", "mae,rmse,mase",
            "--train", str(data_csv), "--out", str(table)]  # fmt: skip
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["unique_id"] for r in rows] == sorted(cv["unique_id"].unique().to_list())
    assert pl.read_csv(table).columns == ["unique_id", "n", "mae", "rmse", "mase"]
    res = runner.invoke(app, args)
    assert res.exit_code == 3 and "already exists" in res.output
    res = runner.invoke(app, ["evaluate", str(cv_path)])  # a table on stdout
    assert res.exit_code == 0 and "rmse" in res.output

    png = tmp_path / "cv.png"
    args = ["plot", str(data_csv), "--forecast", str(cv_path), "--out", str(png),
            "--ids", "s0000,s0001", "--quiet"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert runner.invoke(app, args).exit_code == 3
    assert not list(tmp_path.glob(".*tmp"))


def test_datasets_list_describe_write(tmp_path):
    res = runner.invoke(app, ["datasets", "list", "--json"])
    assert res.exit_code == 0
    names = [d["name"] for d in json.loads(res.stdout)]
    assert {"sample", "mixed", "bursty", "physionet2012", "ushcn", "activity", "mimic"} <= set(
        names
    )
    res = runner.invoke(app, ["datasets", "describe", "sample", "--json"])
    stats = json.loads(res.stdout)["stats"]
    assert stats["series"] == 40 and stats["channels"] == ["ch0", "ch1", "ch2"]
    res = runner.invoke(app, ["datasets", "describe", "physionet2012"])
    assert res.exit_code == 0 and "physionet.org" in res.output
    out = tmp_path / "b.parquet"
    res = runner.invoke(app, ["datasets", "write", "bursty", "--out", str(out), "--n-series", "3",
                              "--shape", "wide", "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(out)["unique_id"].n_unique() == 3


BENCH_TINY = ["--n-train", "6", "--n-test", "3", "--length", "30", "--horizon", "5",
              "--max-epochs", "1", "-p", "d_model=8", "-p", "rank=4", "-p", "n_layers=1",
              "--quiet"]  # fmt: skip


def test_bench_json(tmp_path):
    res = runner.invoke(app, ["bench", *BENCH_TINY, "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert [r["model"] for r in report["summary"]] == ["itnet", "persistence", "history_mean"]
    assert report["datasets"] == ["synthetic"] and report["seeds"] == [0]
    for row in report["summary"]:
        assert row["test_mse_mean"] > 0 and row["test_mae_mean"] > 0 and row["device"] == "cpu"
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == report["summary"]
    assert "| itnet | 0 |" in (tmp_path / "results.md").read_text()


def test_bench_resumes_and_force_reruns(tmp_path):
    args = ["bench", *BENCH_TINY, "-m", "itnet,persistence", "--seeds", "1,2", "--out",
            str(tmp_path)]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "4 run(s) done, 0 reused" in first.stdout
    assert "| itnet | 1,2 |" in first.stdout and " ± " in first.stdout
    run_file = tmp_path / "synthetic" / "itnet" / "seed2.json"
    stamp = run_file.stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 run(s) done, 4 reused" in again.stdout and run_file.stat().st_mtime_ns == stamp
    forced = runner.invoke(app, [*args, "--force", "-m", "itnet", "--seeds", "2"])
    assert forced.exit_code == 0, forced.output
    assert "1 run(s) done, 0 reused" in forced.stdout and run_file.stat().st_mtime_ns != stamp
    # other settings in the same folder: refused, not mixed into one table
    other = runner.invoke(app, [*args, "--epochs", "2"])
    assert other.exit_code == 3 and "--force" in other.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "ushcn"], "supported: physionet, synthetic"),
        (["-m", "itnet,tpatchgnn"], "supported: itnet, grud, persistence, history_mean"),
        (["--seeds", "1,x"], "comma-separated integers"),
        (["-p", "nonsense_param=2"], "not a hyperparameter"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bench_bad_options(tmp_path, args, message):
    res = runner.invoke(app, ["bench", *args, "--out", str(tmp_path / "b"), "--quiet"])
    assert res.exit_code == 3, res.output
    assert message in res.output
    assert not (tmp_path / "b").exists()


def _cli(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return [sys.executable, "-m", "itnet_ts.cli", *args], env


def test_subprocess_runs_and_ctrl_c_during_fit_writes_nothing(tmp_path):
    """Real processes: a command that finishes (exit 0, file written), then a fit interrupted
    with SIGINT while training (exit 130, no model file, no temporary file)."""
    data = tmp_path / "d.csv"
    cmd, env = _cli("datasets", "write", "mixed", "--out", str(data), "--n-series", "4",
                    "--length", "30", "--shape", "wide")  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(data)["unique_id"].n_unique() == 4

    model = tmp_path / "slow.itnet"
    cmd, env = _cli("fit", str(data), "--out", str(model), "--max-epochs", "100000",
                    "-p", "patience=100000", "-p", "d_model=8")  # fmt: skip
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=tmp_path
    )
    seen, deadline = b"", time.monotonic() + 240
    while b"training" not in seen and time.monotonic() < deadline:
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b"training" in seen, seen[-500:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-500:]
    assert b"interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_a_diverging_fit_exits_6_and_writes_no_model(data_csv, tmp_path):
    out = tmp_path / "m.itnet"
    res = runner.invoke(app, ["fit", str(data_csv), "--out", str(out), "--horizon", "4", *TINY,
                              "--max-epochs", "3", "-p", "learning_rate=1e6"])  # fmt: skip
    assert res.exit_code == 6, res.output
    assert "training diverged" in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []

"""Covariates on the command line: --static FILE, --futr-cols a,b and --futr FILE on forecast,
fit, predict (and --static on backtest), with one-line errors and their exit codes."""

import polars as pl
import pytest
from typer.testing import CliRunner

from itnet_ts.cli.main import app
from itnet_ts.datasets import make_covariate_series

runner = CliRunner()
TINY = ["--max-epochs", "1", "--quiet", "-p", "d_model=16", "-p", "rank=4", "-p", "n_layers=1",
        "-p", "windows_per_series=2"]  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """DATA (``unique_id, ds, y, promo``), --static (``unique_id, drift``) and --futr
    (``unique_id, ds, promo`` at two times after each series' end; also usable as --times)."""
    folder = tmp_path_factory.mktemp("cov")
    data = make_covariate_series(n_series=4, kind="both", length=20.0, seed=0)
    data.df.write_csv(folder / "history.csv")
    data.df.drop("promo").write_csv(folder / "history_no_promo.csv")
    data.static_df.write_csv(folder / "static.csv")
    ends = data.df.group_by("unique_id").agg(pl.col("ds").max())
    queries = pl.concat([ends.with_columns(pl.col("ds") + d) for d in (0.5, 1.0)])
    data.with_futr(queries.sort("unique_id", "ds")).write_csv(folder / "futr.csv")
    return folder


def _ok(res):
    assert res.exit_code == 0, res.output


def test_forecast_with_static(files, tmp_path):
    out = tmp_path / "f.csv"
    _ok(runner.invoke(app, ["forecast", str(files / "history_no_promo.csv"), "--h", "2",
                            "--static", str(files / "static.csv"), "--out", str(out), *TINY]))  # fmt: skip
    pred = pl.read_csv(out)
    assert pred.height > 0 and pred["unique_id"].n_unique() == 4
    assert pred["y_hat"].is_finite().all()


def test_forecast_with_futr_cols_and_futr(files, tmp_path):
    out = tmp_path / "f.csv"
    futr = str(files / "futr.csv")
    _ok(runner.invoke(app, ["forecast", str(files / "history.csv"), "--futr-cols", "promo",
                            "--times", futr, "--futr", futr, "--static", str(files / "static.csv"),
                            "--out", str(out), *TINY]))  # fmt: skip
    pred = pl.read_csv(out)
    assert pred.height == 8 and pred["y_hat"].is_finite().all()


def test_fit_then_predict_with_covariates(files, tmp_path):
    model = tmp_path / "m.itnet"
    _ok(runner.invoke(app, ["fit", str(files / "history.csv"), "--out", str(model),
                            "--horizon", "2", "--futr-cols", "promo",
                            "--static", str(files / "static.csv"), *TINY]))  # fmt: skip
    futr = str(files / "futr.csv")
    args = ["predict", str(model), str(files / "history.csv"), "--times", futr, "--quiet"]
    out = tmp_path / "p.csv"
    static = ["--static", str(files / "static.csv")]
    _ok(runner.invoke(app, [*args, *static, "--futr", futr, "--out", str(out)]))
    assert pl.read_csv(out).height == 8
    # a loaded model holds no data: the statics come with --static
    res = runner.invoke(app, [*args, "--futr", futr, "--out", str(tmp_path / "q.csv")])
    assert res.exit_code == 3, res.output
    assert "pass --static FILE" in res.output and "drift" in res.output
    # the model has known-future covariates: no --futr is an error naming the option
    res = runner.invoke(app, [*args, *static, "--out", str(tmp_path / "q.csv")])
    assert res.exit_code == 3, res.output
    assert "--futr FILE" in res.output and "promo" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "futr_df" not in res.output
    assert not (tmp_path / "q.csv").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--futr-cols", "promo"], 3, "--futr-cols promo needs --futr FILE"),
        (["--futr", "FUTR"], 3, "--futr FILE needs --futr-cols"),
        (["--futr-cols", "promo,promo", "--futr", "FUTR"], 3, "named twice"),
        (["--static", "MISSING"], 4, "--static"),
        (["--futr-cols", "promo", "--futr", "MISSING"], 4, "--futr"),
        (["--futr-cols", "price", "--futr", "FUTR"], 3, "named by --futr-cols"),
        (
            ["--futr-cols", "promo", "-p", "futr_exog_list=[]", "--futr", "FUTR"],
            3,
            "give --futr-cols or -p futr_exog_list=..., not both",
        ),
    ],
)
def test_covariate_errors_give_one_line_and_exit_code(files, tmp_path, args, code, message):
    subs = {"FUTR": str(files / "futr.csv"), "MISSING": str(tmp_path / "none.csv")}
    args = [subs.get(a, a) for a in args]
    res = runner.invoke(app, ["forecast", str(files / "history.csv"), "--h", "2", *args,
                              "--out", str(tmp_path / "o.csv"), *TINY])  # fmt: skip
    assert res.exit_code == code, res.output
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def test_backtest_with_static(files, tmp_path):
    out = tmp_path / "cv.csv"
    _ok(runner.invoke(app, ["backtest", str(files / "history_no_promo.csv"), "--h", "2",
                            "--n-windows", "1", "--static", str(files / "static.csv"),
                            "--out", str(out), *TINY]))  # fmt: skip
    assert pl.read_csv(out).height > 0

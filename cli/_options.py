"""Options shared by the commands: their declarations (``Annotated`` types, one help text
each), the parsing of their values (``--level 80,95``, ``-p d_model=32``, ...), and the
forecaster they describe (:func:`estimator`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

IdCol = Annotated[str, typer.Option("--id-col", help="Series id column.")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Timestamp column.")]
TargetCol = Annotated[str, typer.Option("--target-col", help="Value column of a long frame.")]
VariableCol = Annotated[
    str | None, typer.Option("--variable-col", help="Channel-name column of a tidy frame.")
]
ValueCol = Annotated[str | None, typer.Option("--value-col", help="Value column of a tidy frame.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or preview.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace output files that exist.")]
Sample = Annotated[
    bool, typer.Option("--sample", help="Use the small sample bundled with itnet-ts as DATA.")
]
MaxEpochs = Annotated[int, typer.Option("--max-epochs", help="Training epochs at most.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", help="Model hyperparameter KEY=VALUE (repeatable), e.g. -p d_model=32."
    ),
]
DataArg = Annotated[
    Path | None, typer.Argument(help="History: a .parquet or .csv file (long, wide or tidy).")
]
Level = Annotated[
    str | None,
    typer.Option(
        "--level",
        help="Prediction intervals: comma-separated levels in (0, 100), e.g. 80,95 "
        "(columns y_hat-lo-80, y_hat-hi-80, ...; y_hat becomes the median).",
    ),
]
Quantiles = Annotated[
    str | None,
    typer.Option(
        "--quantiles",
        help="Quantile forecasts: comma-separated levels in (0, 1), e.g. 0.1,0.5,0.9 "
        "(columns y_hat_q0.1, ...; y_hat becomes the median).",
    ),
]
StaticFile = Annotated[
    Path | None,
    typer.Option(
        "--static",
        help="Static covariates: a .parquet or .csv file with the id column and one numeric "
        "column per covariate, a row per series.",
    ),
]
FutrCols = Annotated[
    str | None,
    typer.Option(
        "--futr-cols",
        help="Known-future covariates: comma-separated columns of DATA, e.g. promo,price "
        "(their values at the query times come in --futr).",
    ),
]
FutrFile = Annotated[
    Path | None,
    typer.Option(
        "--futr",
        help="Known-future covariate values at the query times: a .parquet or .csv file with "
        "the id, time and known-future covariate (--futr-cols) columns.",
    ),
]
H = Annotated[
    str | None, typer.Option("--h", help="Horizon, e.g. '24h', or a number of time units.")
]
Times = Annotated[
    Path | None,
    typer.Option("--times", help="File of explicit query times (id, time[, variable])."),
]
OutTable = Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")]


# ---- values --------------------------------------------------------------------------------


def number_or_str(value: str | None):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_params(params: list[str] | None) -> dict[str, Any]:
    """``["d_model=32", "selective=true"]`` -> ``{"d_model": 32, "selective": True}``."""
    import json

    from itnet_ts.errors import ITNetInputError

    out: dict[str, Any] = {}
    for item in params or []:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ITNetInputError(f"--param {item!r}: expected KEY=VALUE, e.g. -p d_model=32")
        try:
            value = json.loads(raw)
        except ValueError:
            value = {"none": None, "true": True, "false": False}.get(raw.lower(), raw)
        out[key] = value
    return out


def levels(value: str | None, option: str) -> list[float] | None:
    """``"80,95"`` -> ``[80, 95]`` (``--level``) or ``"0.1,0.9"`` -> ``[0.1, 0.9]``."""
    from itnet_ts.errors import ITNetInputError

    if value is None:
        return None
    example = "80,95" if option == "--level" else "0.1,0.5,0.9"
    out: list[float] = []
    for item in split_list(value) or []:
        try:
            x = float(item)
        except ValueError:
            raise ITNetInputError(
                f"{option} {value!r}: {item!r} is not a number; give comma-separated numbers, "
                f"e.g. {option} {example}"
            ) from None
        out.append(int(x) if option == "--level" and x.is_integer() else x)
    if not out:
        raise ITNetInputError(f"{option} is empty; give e.g. {option} {example}")
    return out


def futr_names(value: str) -> list[str]:
    """``--futr-cols "promo, price"`` -> ``["promo", "price"]``."""
    from itnet_ts.errors import ITNetInputError

    names = split_list(value) or []
    if not names:
        raise ITNetInputError("--futr-cols is empty; give e.g. --futr-cols promo,price")
    if len(set(names)) < len(names):
        raise ITNetInputError(f"--futr-cols {value}: a column is named twice")
    return names


def columns(id_col, time_col, target_col, variable_col, value_col) -> dict[str, Any]:
    return dict(
        id_col=id_col, time_col=time_col, target_col=target_col,
        variable_col=variable_col, value_col=value_col,
    )  # fmt: skip


def check_h(h_value) -> None:
    """``--h`` as a number must be positive (a duration string is checked by the estimator)."""
    from itnet_ts.errors import ITNetInputError

    if isinstance(h_value, float) and not h_value > 0:
        raise ITNetInputError(
            f"--h {h_value:g} is invalid: give a positive number of time units or a duration "
            "such as '6h'"
        )


def data_path(data: Path | None, sample: bool) -> Path:
    from itnet_ts.errors import ITNetInputError

    if sample == (data is not None):
        raise ITNetInputError("give a DATA file or --sample (exactly one)")
    if sample:
        from itnet_ts.datasets import sample_path

        return sample_path()
    assert data is not None
    return data


def estimator(
    params: list[str] | None,
    quiet: bool,
    *,
    horizon=None,
    max_epochs=None,
    seed=None,
    level: str | None = None,
    quantiles: str | None = None,
    futr_cols: str | None = None,
):
    """The ``ITNetForecaster`` that ``-p KEY=VALUE``, ``--level`` / ``--quantiles`` /
    ``--futr-cols`` and the training options ask for (unknown keys and a value given twice
    are errors naming the option)."""
    from itnet_ts.errors import ITNetInputError
    from itnet_ts.estimators import ITNetForecaster

    kwargs: dict[str, Any] = {"verbose": not quiet}
    for name, option, raw in (
        ("level", "--level", level),
        ("quantiles", "--quantiles", quantiles),
        ("futr_exog_list", "--futr-cols", futr_cols),
    ):
        if raw is not None:
            if any(p.partition("=")[0].strip().replace("-", "_") == name for p in params or []):
                raise ITNetInputError(f"give {option} or -p {name}=..., not both")
            kwargs[name] = futr_names(raw) if option == "--futr-cols" else levels(raw, option)
    if horizon is not None:
        kwargs["horizon"] = horizon
    if max_epochs is not None:
        kwargs["max_epochs"] = max_epochs
    if seed is not None:
        kwargs["random_state"] = seed
    given = parse_params(params)
    known = ITNetForecaster().get_params(deep=False)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ITNetInputError(
            f"--param {unknown[0]}: not a hyperparameter; known: {', '.join(sorted(known))}"
        )
    kwargs.update(given)
    return ITNetForecaster(**kwargs)

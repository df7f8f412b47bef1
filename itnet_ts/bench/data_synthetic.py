"""The synthetic benchmark tasks: held-out ``make_irregular`` series (:func:`load_synthetic`)
and the suite's one task per family (:data:`SYNTHETIC_SUITE`, ``synthetic-<family>``).

Train / val / test are different series (a global model forecasts series it never saw); each
series is cut at ``t_end - horizon`` (:func:`~itnet_ts.datasets.train_test_cut`), raw values,
time unit 1.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import polars as pl

from itnet_ts.errors import ITNetInputError

from .data_splits import BenchData, BenchSplit, build_split

__all__ = ["SYNTHETIC_SUITE", "load_synthetic"]


def load_synthetic(
    *,
    n_train: int = 64,
    n_val: int | None = None,
    n_test: int = 32,
    family: str = "mixed",
    length: float = 100.0,
    horizon: float = 10.0,
    n_channels: int = 3,
    seed: int = 0,
) -> BenchData:
    """Held-out synthetic series (``make_irregular``): train, val and test are different
    series (seeds ``seed``, ``seed + 2000``, ``seed + 1000``); each is cut at
    ``t_end - horizon`` and its later observations are the targets. Series without a history
    or a target are dropped. ``n_val`` defaults to ``n_test``."""
    n_val = n_test if n_val is None else n_val
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n < 1:
            raise ITNetInputError(f"{name} must be at least 1, got {n}")
    if not 0 < horizon < length:
        raise ITNetInputError(f"horizon must be in (0, length={length:g}), got {horizon:g}")
    kw = dict(family=family, n_channels=n_channels, length=length, shape="tidy")
    draws = {
        "train": (n_train, seed, ""),
        "val": (n_val, seed + 2000, "val-"),
        "test": (n_test, seed + 1000, "test-"),
    }
    variables = tuple(f"ch{c}" for c in range(n_channels))
    splits = {
        s: _held_out_split(s, n, sd, prefix, kw, variables, horizon)
        for s, (n, sd, prefix) in draws.items()
    }
    options = dict(
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        family=family,
        length=float(length),
        horizon=float(horizon),
        n_channels=n_channels,
        seed=seed,
    )
    return BenchData(
        name="synthetic",
        variables=variables,
        **splits,
        unit=1.0,
        time_scale=1.0 / length,
        options=options,
    )


def _held_out_split(
    s: str,
    n: int,
    seed: int,
    prefix: str,
    kw: dict[str, Any],
    variables: tuple[str, ...],
    horizon: float,
) -> BenchSplit:
    """Split ``s``: ``n`` series drawn with ``seed`` (ids prefixed ``prefix``), each cut at
    ``t_end - horizon``; the series with observations on both sides of their cutoff."""
    from itnet_ts.datasets import make_irregular, train_test_cut

    frame = make_irregular(n_series=n, seed=seed, **kw).select(
        "unique_id", "ds", "variable", "value"
    )
    frame = frame.with_columns((prefix + pl.col("unique_id")).alias("unique_id"))
    t_end = frame.group_by("unique_id").agg(_cut=pl.col("ds").max() - horizon)
    history, targets = train_test_cut(frame, horizon)
    keep = (
        history.select("unique_id")
        .unique()
        .join(targets.select("unique_id").unique(), on="unique_id", how="semi")
    )
    if keep.is_empty():
        raise ITNetInputError(
            f"no {s} series has observations both before and after its cutoff; "
            "use a longer length or a shorter horizon"
        )
    cut = dict(zip(t_end["unique_id"].to_list(), t_end["_cut"].to_list(), strict=True))
    history, targets = (_kept_rows(f, keep, variables) for f in (history, targets))
    return build_split(s, history, targets, variables, cut)


def _kept_rows(f: pl.DataFrame, keep: pl.DataFrame, variables: tuple[str, ...]) -> pl.DataFrame:
    """The rows of the series in ``keep``, sorted by series, time and channel order."""
    order = {v: i for i, v in enumerate(variables)}
    f = f.join(keep, on="unique_id", how="semi")
    rank = pl.col("variable").replace_strict(order, return_dtype=pl.Int64)
    return f.sort("unique_id", "ds", rank).select("unique_id", "ds", "variable", "value")


#: ``synthetic-<family>`` -> the options of :func:`load_synthetic` that differ from its
#: defaults: more series (train 384 / val 96 / test 192), and each family's own length and
#: horizon (its targets must hold observations: sparse_periodic's nights are sparse,
#: trend_gaps' horizon spans the gap to its last cluster, few_obs has 3-10 stamps).
SYNTHETIC_SUITE: dict[str, dict[str, Any]] = {
    family: dict(n_train=384, n_val=96, n_test=192, length=length, horizon=horizon)
    for family, length, horizon in (
        ("mixed", 100.0, 10.0),
        ("multirate_sines", 100.0, 10.0),
        ("damped_oscillators", 100.0, 10.0),
        ("bursty", 100.0, 10.0),
        ("async_channels", 100.0, 10.0),
        ("noisy_level", 100.0, 10.0),
        ("sparse_periodic", 200.0, 20.0),
        ("trend_gaps", 100.0, 10.0),
        ("regime_shifts", 100.0, 10.0),
        ("few_obs", 100.0, 25.0),
    )
}


def _synthetic_entry(family: str) -> Callable[..., BenchData]:
    """``load_synthetic`` with ``family`` fixed and the suite's defaults (a real signature, so
    that :func:`data_identity` records every option)."""
    defaults = SYNTHETIC_SUITE[family]
    name = f"synthetic-{family}"

    def load(**options: Any) -> BenchData:
        if "family" in options:
            raise ITNetInputError(f"dataset {name!r} fixes family={family!r}; use 'synthetic'")
        bound = load.__signature__.bind(**options)  # type: ignore[attr-defined]
        bound.apply_defaults()
        return replace(load_synthetic(family=family, **bound.arguments), name=name)

    params = [
        p.replace(default=defaults.get(p.name, p.default))
        for p in inspect.signature(load_synthetic).parameters.values()
        if p.name != "family"
    ]
    load.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    load.__name__ = load.__qualname__ = f"load_synthetic_{family}"
    load.__doc__ = f"``load_synthetic(family={family!r})`` with the suite's sizes: {defaults}."
    return load

"""Where does ITNet lose on a ``holdout_real`` data set? One fit, scored on every split.

    OMP_NUM_THREADS=1 python benchmarks/holdout_probe.py chickweight 2 ['{"horizon": 3.0}']
        [--val-df]

Fits ``ITNetForecaster`` as ``benchmarks/holdout_real.py`` does (train + val series,
``horizon`` = the longest lead of the train split; a JSON of estimator parameters overrides),
or with ``--val-df`` on the train series with the val series as ``val_df`` (a series-disjoint
validation check). Prints the estimator's validation check, then ITNet / persistence / history
mean at the protocol's cutoffs on the train and val series (seen in ``fit``) and on the unseen
test series, and the test series ranked by ITNet's squared error.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    import holdout_real
    import torch

    from itnet_ts.bench.runs import _full_frame, _max_lead
    from itnet_ts.estimators.forecaster import ITNetForecaster

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=list(holdout_real.DATASETS))
    p.add_argument("seed", type=int)
    p.add_argument("params", nargs="?", default="{}", help="estimator parameters (JSON)")
    p.add_argument("--val-df", action="store_true", help="validate on the val series only")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = holdout_real.load(args.dataset, seed=args.seed)
    params = {"horizon": _max_lead(data.train), "max_epochs": 30, "patience": 5}
    params.update(json.loads(args.params))
    est = ITNetForecaster(random_state=args.seed, verbose=False, **params)
    tidy = dict(id_col="unique_id", time_col="ds", variable_col="variable", value_col="value")
    frames = {s: _full_frame(data.split(s)) for s in ("train", "val")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.val_df:
            est.fit(frames["train"], val_df=frames["val"], **tidy)
        else:
            est.fit(pl.concat([frames["train"], frames["val"]]), **tidy)
    v = est.validation_
    print(
        f"validation check: network {v['mse_network']:.4f}, persistence "
        f"{v['mse_persistence']:.4f}, history mean {v['mse_history_mean']:.4f}, "
        f"fallback {v['fallback'] or 'none'}"
    )
    key = ["unique_id", "ds", "variable"]
    for s in ("train", "val", "test"):
        sp = data.split(s)
        pred = est.predict(df=sp.history, times=sp.targets.select(key))
        base = sp.history.sort("ds").group_by("unique_id", "variable")
        base = base.agg(last=pl.col("value").last(), mean=pl.col("value").mean())
        j = sp.targets.join(pred, on=key).join(base, on=["unique_id", "variable"])
        j = j.with_columns(
            e_itnet=(pl.col("y_hat") - pl.col("value")) ** 2,
            e_pers=(pl.col("last") - pl.col("value")) ** 2,
            e_mean=(pl.col("mean") - pl.col("value")) ** 2,
        )
        mse = {c: float(j[c].mean()) for c in ("e_itnet", "e_pers", "e_mean")}
        seen = "unseen" if s == "test" or (s == "val" and args.val_df) else "in fit"
        print(
            f"{s:5s} ({seen}): itnet {mse['e_itnet']:.4f}  persistence {mse['e_pers']:.4f}  "
            f"history mean {mse['e_mean']:.4f}  itnet / best {mse['e_itnet'] / min(mse['e_pers'], mse['e_mean']):.3f}"
        )  # fmt: skip
        if s == "test":
            per = j.group_by("unique_id").agg(
                pl.col("e_itnet").sum(), pl.col("e_pers").sum(), last_target=pl.col("ds").max()
            )
            print(per.sort("e_itnet", descending=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

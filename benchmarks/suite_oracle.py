"""How much better than the better baseline could any forecaster be? Oracle bounds on the test
split of the synthetic suite datasets (issue 10).

    OMP_NUM_THREADS=1 python benchmarks/suite_oracle.py [family ...]

The test split is drawn a second time with the observation noise switched off (``noise=0``;
for ``noisy_level`` also the family's own dominant noise, ``sigma * eps``): same seeds, same
times, same signals. Two oracles, scored like the suite (test MSE averaged over variables):

- ``clean target``: the noise-free value at every target time: only the target's own noise
  is left, no forecaster can do better on average;
- ``clean level at cutoff``: each channel's noise-free value at its last history observation,
  carried forward (persistence without observation noise).

Not a forecaster: it reads the generator's hidden state.
"""

from __future__ import annotations

import sys

import polars as pl

import itnet_ts.datasets as ds
import itnet_ts.datasets.synthetic as syn
from itnet_ts.bench.data import load_dataset


def _strip_noisy_level(evaluate, cells):
    sigma, eps = cells["sigma"], cells["eps"]
    return lambda sid, ch, t: evaluate(sid, ch, t) - sigma[sid, ch] * eps


STRIP = {"noisy_level": _strip_noisy_level}


def _clean_test(family: str):
    orig_family, orig_make = syn._FAMILY_FUNCS[family], ds.make_irregular

    def family_fn(*a):
        sid, ch, t, ev = orig_family(*a)
        cells = dict(
            zip(ev.__code__.co_freevars, (c.cell_contents for c in ev.__closure__), strict=True)
        )
        return sid, ch, t, STRIP[family](ev, cells)

    if family in STRIP:
        syn._FAMILY_FUNCS[family] = family_fn
    ds.make_irregular = lambda *a, **k: orig_make(*a, **{**k, "noise": 0.0})
    try:
        return load_dataset("synthetic-" + family).test
    finally:
        ds.make_irregular, syn._FAMILY_FUNCS[family] = orig_make, orig_family


def bounds(family: str) -> dict[str, float]:
    noisy, clean = load_dataset("synthetic-" + family).test, _clean_test(family)
    key = ["unique_id", "ds", "variable"]
    tg = noisy.targets.join(clean.targets.rename({"value": "clean"}), on=key, how="inner")
    hist = noisy.history.join(clean.history.rename({"value": "clean"}), on=key, how="inner")
    h = (
        hist.sort("unique_id", "ds")
        .group_by("unique_id", "variable")
        .agg(
            last=pl.col("value").last(),
            mean=pl.col("value").mean(),
            clean_last=pl.col("clean").last(),
        )
    )
    j = tg.join(h, on=["unique_id", "variable"], how="left").fill_null(0.0)

    def mse(col: str) -> float:
        per_var = j.group_by("variable").agg(((pl.col("value") - pl.col(col)) ** 2).mean())
        return float(per_var["value"].mean())

    return {k: mse(c) for k, c in (("persistence", "last"), ("history_mean", "mean"),
                                   ("clean_target", "clean"), ("clean_level", "clean_last"))}  # fmt: skip


def main(argv: list[str]) -> int:
    families = argv or ["noisy_level", "regime_shifts", "few_obs", "sparse_periodic"]
    print("| dataset | persistence | history mean | oracle: clean target | "
          "oracle: clean level at cutoff |\n|---|---|---|---|---|")  # fmt: skip
    for f in families:
        b = bounds(f)
        best = min(b["persistence"], b["history_mean"])
        gain = {k: 1 - b[k] / best for k in ("clean_target", "clean_level")}
        print(f"| synthetic-{f} | {b['persistence']:.4f} | {b['history_mean']:.4f} | "
              f"{b['clean_target']:.4f} ({gain['clean_target']:+.1%}) | "
              f"{b['clean_level']:.4f} ({gain['clean_level']:+.1%}) |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The forecast's start, mix vs persistence vs chosen on validation (issue 10): one table from
two finished runs of the same data sets, one with ``start="mix"`` and one with
``start="persistence"``.

    python benchmarks/start_choice.py --mix benchmarks/runs/suite9 \\
        --persistence benchmarks/runs/suite_start_persistence
    python benchmarks/start_choice.py --layout holdout --mix benchmarks/runs/holdout_mix_now \\
        --persistence benchmarks/runs/holdout_start_persistence

``--layout suite``: folders of ``benchmarks/suite.py`` (``<dataset>/<model>/seed<N>.json``;
the baselines are read from the ``--mix`` folder); ``holdout``: folders of
``benchmarks/holdout_real.py`` (``<dataset>-seed<N>.json``). The "auto" column is what
``ITNetForecaster(start="auto")`` keeps: of the two fits, the one whose validation MSE
(``validation["mse_fitted"]``, after its baseline check) is lower; the estimator's auto fit
equals that single-start fit (same windows, same seed; ``tests/estimators/
test_start_choice.py``), so no third run is needed. Scores: test MSE; "vs best" = 1 - MSE / the
better of persistence and the history mean, averaged over seeds; the last line gives the
geometric mean over all (data set, seed) runs of MSE / best baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

STARTS = ("mix", "persistence", "auto")


def _suite_runs(folder: Path, model: str) -> dict[tuple[str, int], dict]:
    out = {}
    for f in folder.glob(f"*/{model}/seed*.json"):
        r = json.loads(f.read_text())
        out[(f.parts[-3], int(r["seed"]))] = r
    return out


def _holdout_runs(folder: Path) -> dict[tuple[str, int], dict]:
    out = {}
    for f in folder.glob("*-seed*.json"):
        r = json.loads(f.read_text())
        out[(r["dataset"], int(r["seed"]))] = r
    return out


def collect(layout: str, mix: Path, persistence: Path) -> list[dict]:
    """One row per (data set, seed) present in both folders: each start's test MSE and
    validation MSE, the chosen start, and the better baseline's test MSE."""
    if layout == "suite":
        runs = {s: _suite_runs(p, "itnet") for s, p in (("mix", mix), ("persistence", persistence))}
        base = {m: _suite_runs(mix, m) for m in ("persistence", "history_mean")}
        best = {k: min(base["persistence"][k]["test_mse"], base["history_mean"][k]["test_mse"])
                for k in base["persistence"] if k in base["history_mean"]}  # fmt: skip
    else:
        h = {s: _holdout_runs(p) for s, p in (("mix", mix), ("persistence", persistence))}
        runs = {s: {k: r["itnet"] for k, r in h[s].items()} for s in h}
        best = {k: min(r["persistence"]["test_mse"], r["history_mean"]["test_mse"])
                for k, r in h["mix"].items()}  # fmt: skip
    rows = []
    for key in sorted(set(runs["mix"]) & set(runs["persistence"]) & set(best)):
        test = {s: runs[s][key]["test_mse"] for s in ("mix", "persistence")}
        val = {s: runs[s][key]["validation"].get("mse_fitted") for s in ("mix", "persistence")}
        v = {s: math.inf if x is None else x for s, x in val.items()}
        chosen = "mix" if v["mix"] <= v["persistence"] else "persistence"
        test["auto"] = test[chosen]
        rows.append({"dataset": key[0], "seed": key[1], "test": test, "val": val,
                     "chosen": chosen, "best_baseline": best[key]})  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| data set | seeds | mix MSE | persistence-start MSE | auto MSE (start chosen) "
        "| better baseline MSE | mix vs best | persistence-start vs best | auto vs best |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]
        mse = {s: np.mean([r["test"][s] for r in rs]) for s in STARTS}
        gain = {s: np.mean([1 - r["test"][s] / r["best_baseline"] for r in rs]) for s in STARTS}
        chosen = "".join("m" if r["chosen"] == "mix" else "p" for r in rs)
        lines.append(
            f"| {name} | {len(rs)} | {mse['mix']:.4f} | {mse['persistence']:.4f} | "
            f"{mse['auto']:.4f} ({chosen}) | {np.mean([r['best_baseline'] for r in rs]):.4f} | "
            + " | ".join(f"{gain[s]:+.1%}" for s in STARTS)
            + " |"
        )
    geo = {s: math.exp(np.mean([math.log(r["test"][s] / r["best_baseline"]) for r in rows]))
           for s in STARTS}  # fmt: skip
    worse = {s: sum(r["test"][s] > 1.005 * r["best_baseline"] for r in rows) for s in STARTS}
    lines.append("")
    lines.append(
        f"Over {len(rows)} runs, geometric mean of MSE / better baseline: "
        + ", ".join(f"{s} {geo[s]:.3f}" for s in STARTS)
        + "; runs worse than the better baseline by > 0.5%: "
        + ", ".join(f"{s} {worse[s]}" for s in STARTS)
        + ". (auto: m = mix chosen, p = persistence, per seed.)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layout", choices=["suite", "holdout"], default="suite")
    p.add_argument("--mix", type=Path, required=True)
    p.add_argument("--persistence", type=Path, required=True)
    args = p.parse_args(argv)
    rows = collect(args.layout, args.mix, args.persistence)
    if not rows:
        print("no (data set, seed) finished in both folders", file=sys.stderr)
        return 1
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Summaries of benchmark runs: mean ± std over seeds per (dataset, model), as JSON rows and as
markdown tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["markdown", "summarise"]

_METRICS = ("test_mse", "test_mae", "val_mse", "val_mae")


def _mean_std(xs: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = [float(x) for x in xs if x is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals))  # population std (ddof 0) over seeds


def _unique(xs) -> str:
    seen = list(dict.fromkeys(str(x) for x in xs if x is not None))
    return ", ".join(seen) if seen else "n/a"


def summarise(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (dataset, model) in first-seen order: ``seeds``, ``<metric>_mean`` /
    ``<metric>_std`` for test / val MSE and MAE (std over seeds, ddof 0), the mean
    ``s_per_epoch`` and ``infer_s``, the largest ``peak_rss_mb`` / ``peak_gpu_mb``, ``params``,
    ``device`` and ``backend``. Older run files without some fields give None there."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        key = (r.get("dataset", "physionet"), r.get("model") or r.get("variant", "?"))
        groups.setdefault(key, []).append(r)
    rows = []
    for (dataset, model), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        row: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "seeds": [r["seed"] for r in rs],
            "n_seeds": len(rs),
        }
        for m in _METRICS:
            row[f"{m}_mean"], row[f"{m}_std"] = _mean_std([r.get(m) for r in rs])
        row["s_per_epoch"] = _mean_std([r.get("s_per_epoch") for r in rs])[0]
        row["infer_s"] = _mean_std([r.get("infer_s") for r in rs])[0]
        for k in ("peak_rss_mb", "peak_gpu_mb"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            row[k] = max(vals) if vals else None
        row["params"] = rs[0].get("params")
        row["device"] = _unique(r.get("device") for r in rs)
        row["backend"] = _unique(r.get("backend") for r in rs)
        rows.append(row)
    return rows


def _exponent(values: Sequence[float | None]) -> int:
    """A power of ten for showing values: 0 when the largest is in [0.1, 1000), else the one
    that puts it in [1, 10)."""
    vals = [abs(v) for v in values if v is not None and v != 0 and math.isfinite(v)]
    if not vals:
        return 0
    e = math.floor(math.log10(max(vals)))
    return 0 if -1 <= e < 3 else e


def _fmt_metric(mean: float | None, std: float | None, e: int, n: int) -> str:
    if mean is None:
        return "n/a"
    k = 10.0**-e
    s = f"{mean * k:.3f}"
    return s + (f" ± {std * k:.3f}" if n > 1 and std is not None else "")


def _fmt(x: float | None, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown tables, one per dataset: test MSE / MAE (mean ± std over seeds), validation
    MSE, seconds per training epoch, test inference seconds, peak memory, parameters, device
    and backend. Metrics are shown ×10^-e (one power of ten per column and dataset)."""
    out: list[str] = []
    by_ds: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], []).append(r)
    for dataset, rs in by_ds.items():
        exps = {m: _exponent([r[f"{m}_mean"] for r in rs]) for m in _METRICS}
        gpu = any(r.get("peak_gpu_mb") is not None for r in rs)

        def head(label: str, m: str, exps=exps) -> str:
            return f"{label} ×1e{exps[m]}" if exps[m] else label

        cols = [
            "model",
            "seeds",
            head("test MSE", "test_mse"),
            head("test MAE", "test_mae"),
            head("val MSE", "val_mse"),
            "s/epoch",
            "inference s",
            "peak RSS MB",
        ]
        cols += ["peak GPU MB"] if gpu else []
        cols += ["params", "device", "backend"]
        out += [f"### {dataset}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rs:
            n = r["n_seeds"]
            cells = [
                r["model"],
                ",".join(str(s) for s in r["seeds"]),
                *(
                    _fmt_metric(r[f"{m}_mean"], r[f"{m}_std"], exps[m], n)
                    for m in ("test_mse", "test_mae", "val_mse")
                ),
                _fmt(r["s_per_epoch"], 2),
                _fmt(r["infer_s"], 3),
                _fmt(r["peak_rss_mb"], 0),
            ]
            cells += [_fmt(r.get("peak_gpu_mb"), 0)] if gpu else []
            cells += [
                "—" if r["params"] is None else f"{r['params']:,}",
                r["device"],
                r["backend"],
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)

"""PhysioNet 2012 protocol check: simple baselines under the published t-PatchGNN protocol.

Loads the raw challenge archives, applies the benchmark protocol (split_tpatchgnn.json), and
scores three baselines on the validation and test splits. The test numbers must reproduce the
anchors (ANCHORS.md section 1) to 4 significant digits; the script exits with status 1 if not.

    python benchmarks/physionet_baselines.py --data-dir ../shared/data/physionet2012 \\
        [--no-cache] [--write-results]

``--write-results`` replaces the section "## PhysioNet 2012 protocol check" of
benchmarks/RESULTS.md (creating the file or the section if absent; other sections untouched).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from itnet_ts.datasets.physionet import ENV_VAR, load_physionet2012
from itnet_ts.datasets.protocol import (
    BASELINES,
    baseline_forecast,
    physionet_protocol,
    protocol_metrics,
)

HEADING = "## PhysioNet 2012 protocol check"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet2012"

#: ANCHORS.md section 1: test MSE, MAE of the baselines under the peer's own code.
ANCHORS = {
    "persistence": (5.835e-3, 3.665e-2),
    "history_mean": (7.036e-3, 4.171e-2),
    "global_mean": (9.241e-3, 5.609e-2),
}
LABELS = {
    "persistence": "persistence (last history value; fallback: train-history mean)",
    "history_mean": "per-patient history mean (same fallback)",
    "global_mean": "global training-history mean per variable",
}


def _same4(a: float, b: float) -> bool:
    """Equal to 4 significant digits."""
    return f"{a:.3e}" == f"{b:.3e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(ENV_VAR) or str(DEFAULT_DATA),
        help=f"folder with set-a/b/c.tar.gz and split_tpatchgnn.json (default ${ENV_VAR})",
    )
    parser.add_argument("--split-json", default=None, help="default: DATA_DIR/split_tpatchgnn.json")
    parser.add_argument("--no-cache", action="store_true", help="parse the archives afresh")
    parser.add_argument("--write-results", action="store_true", help="update RESULTS.md")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    split_json = Path(args.split_json) if args.split_json else data_dir / "split_tpatchgnn.json"

    t0 = time.perf_counter()
    frame = load_physionet2012(data_dir, descriptor_missing="protocol", cache=not args.no_cache)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    proto = physionet_protocol(frame, split_json)
    t_proto = time.perf_counter() - t0
    sizes = {s: len(proto.split(s)) for s in ("train", "val", "test")}

    scores = {}
    for split in ("val", "test"):
        for method in BASELINES:
            pred = baseline_forecast(proto, split, method)
            scores[split, method] = protocol_metrics(pred, proto.split(split).targets)

    ok = all(
        _same4(scores["test", m]["mse"], ANCHORS[m][0])
        and _same4(scores["test", m]["mae"], ANCHORS[m][1])
        for m in BASELINES
    )
    shown = sys.argv[1:] if argv is None else argv
    cmd = " ".join(["python benchmarks/physionet_baselines.py", *shown])
    lines = [
        HEADING,
        "",
        f"Command: `{cmd}` ({'no cache' if args.no_cache else 'parquet cache allowed'}); "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"load average {_loadavg()} when the run ended (shared machine: timings vary).",
        "",
        f"- load_physionet2012(descriptor_missing='protocol'): {t_load:.1f} s "
        f"({frame.height:,} rows, {frame['unique_id'].n_unique():,} records)",
        f"- physionet_protocol(...): {t_proto:.1f} s; split sizes {sizes['train']:,} / "
        f"{sizes['val']:,} / {sizes['test']:,}; min/max and time_max ({proto.time_max:g} h) "
        "match split_tpatchgnn.json",
        "",
        "| baseline | val MSE×1e-3 | val MAE×1e-2 | test MSE×1e-3 | test MAE×1e-2 "
        "| anchor test MSE×1e-3 / MAE×1e-2 | match (4 sig. digits) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in BASELINES:
        v, t = scores["val", m], scores["test", m]
        match = _same4(t["mse"], ANCHORS[m][0]) and _same4(t["mae"], ANCHORS[m][1])
        lines.append(
            f"| {LABELS[m]} | {v['mse'] * 1e3:.4f} | {v['mae'] * 1e2:.4f} "
            f"| {t['mse'] * 1e3:.4f} | {t['mae'] * 1e2:.4f} "
            f"| {ANCHORS[m][0] * 1e3:.3f} / {ANCHORS[m][1] * 1e2:.3f} | {'yes' if match else 'NO'} |"
        )
    lines += [
        "",
        "Protocol (datasets/protocol.py): history = observations with t < 24 h (the 00:00 "
        "descriptors included, `-1` kept as observed); targets = observed entries with "
        "t >= 24 h; values min-max scaled over train + val, times / 48 h; metric = per-variable "
        "mean error averaged over variables with targets.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_results:
        _write_section(RESULTS, text)
        print(f"wrote {RESULTS}")
    print("protocol check:", "OK (anchors reproduced)" if ok else "MISMATCH with the anchors")
    return 0 if ok else 1


def _loadavg() -> str:
    getloadavg = getattr(os, "getloadavg", None)  # not on Windows
    try:
        return " / ".join(f"{x:.1f}" for x in getloadavg()) if getloadavg else "n/a"
    except OSError:  # pragma: no cover
        return "n/a"


def _write_section(path: Path, section: str) -> None:
    """Replace (or append) this script's section, leaving the others untouched."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == HEADING), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())

"""``itnet-ts bench``: the command-line side of :func:`itnet_ts.bench.run_benchmark`.

Turns the options into datasets, models, seeds, per-model hyperparameters and per-dataset
loader options, runs the resumable benchmark and returns its ``results.json`` object.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

DEFAULT_MODELS = "itnet,persistence,history_mean"


def _names(value: str, option: str) -> list[str]:
    from itnet_ts.errors import ITNetInputError

    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise ITNetInputError(f"{option} is empty; give comma-separated names")
    return names


def _seeds(value: str) -> list[int]:
    from itnet_ts.errors import ITNetInputError

    try:
        seeds = [int(v) for v in _names(value, "--seeds")]
    except ValueError:
        raise ITNetInputError(
            f"--seeds {value!r}: give comma-separated integers, e.g. --seeds 1,2,3"
        ) from None
    return seeds


def run_bench(
    *,
    dataset: str,
    model: str,
    seeds: str,
    epochs: int,
    patience: int,
    device: str,
    out: Path,
    force: bool,
    params: dict[str, Any],
    data_dir: Path | None,
    split_json: Path | None,
    protocol_check: bool,
    synthetic: dict[str, Any],
    threads: int | None,
    progress: bool,
) -> dict[str, Any]:
    from itnet_ts.bench.data import dataset_name
    from itnet_ts.bench.runner import run_benchmark, split_params
    from itnet_ts.bench.runs import model_name
    from itnet_ts.errors import ITNetInputError

    datasets = [dataset_name(d) for d in _names(dataset, "--dataset")]
    models = [model_name(m) for m in _names(model, "--model")]
    seed_list = _seeds(seeds)
    per_model = split_params(params, list(dict.fromkeys(models)))
    options: dict[str, dict[str, Any]] = {"synthetic": dict(synthetic)}
    physionet: dict[str, Any] = {"check_published": protocol_check}
    if data_dir is not None:
        physionet["data_dir"] = data_dir
    if split_json is not None:
        physionet["split_json"] = split_json
    options["physionet"] = physionet
    if threads is not None:
        if threads < 1:
            raise ITNetInputError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    command = [
        "itnet-ts",
        "bench",
        "--dataset",
        ",".join(datasets),
        "--model",
        ",".join(models),
        "--seeds",
        ",".join(map(str, seed_list)),
        "--epochs",
        str(epochs),
        "--device",
        device,
        "--out",
        str(out),
    ]
    for key, value in params.items():
        command += ["-p", f"{key}={value}"]
    return run_benchmark(
        datasets,
        models,
        seed_list,
        out=out,
        epochs=epochs,
        patience=patience,
        device=device,
        dataset_options={d: options.get(d, {}) for d in datasets},
        params=per_model,
        force=force,
        progress=progress,
        command=shlex.join(command),
    )

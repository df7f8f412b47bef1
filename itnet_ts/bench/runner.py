"""The resumable benchmark loop over (dataset, model, seed).

:func:`run_benchmark` writes one JSON per finished run, ``OUT/<dataset>/<model>/seed<N>.json``
(written to a temporary file and renamed, so an interrupted run leaves nothing that looks
finished), then ``OUT/results.json`` (settings, summary rows, the runs without their per-epoch
history) and ``OUT/results.md`` (a markdown table per dataset: mean ± std over seeds).

A finished run is read back, not rerun -- if it was made with the same settings (dataset
options, model hyperparameters, epochs, patience, device); a file made with other settings
is an error (rerun it with ``force=True`` or write to another folder), so one table never
mixes incomparable runs. ``force=True`` reruns everything asked for.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from itnet_ts._files import write_text_atomic
from itnet_ts.errors import ITNetInputError

from .data import data_identity, dataset_name, load_dataset
from .report import markdown, summarise
from .runs import MODELS, check_params, model_name, run_model

__all__ = ["resolve_device", "run_benchmark", "run_path", "split_params", "write_json"]

RESULTS_JSON, RESULTS_MD = "results.json", "results.md"


def run_path(out: str | os.PathLike[str], dataset: str, model: str, seed: int) -> Path:
    return Path(out) / dataset / model / f"seed{seed}.json"


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (a temporary file renamed into place)."""
    write_text_atomic(path, json.dumps(obj, indent=1, default=str))


def resolve_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``, checked: CUDA must be available."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ITNetInputError(f"device {device!r} is not valid; use cpu, cuda or cuda:N") from err
    if dev.type not in ("cpu", "cuda"):
        raise ITNetInputError(f"device {device!r}: only cpu and cuda are supported")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ITNetInputError(f"device {device!r}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ITNetInputError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    return str(dev)


def split_params(params: dict[str, Any], models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{"itnet.d_model": 16, "lr": 3e-3}`` -> per-model hyperparameters. A ``model.key``
    goes to that model; a plain ``key`` to every model in ``models`` that has it (an error if
    none has it)."""
    out: dict[str, dict[str, Any]] = {m: {} for m in models}
    for key, value in params.items():
        prefix, dot, name = key.partition(".")
        if dot:
            m = model_name(prefix)
            if m not in out:
                raise ITNetInputError(
                    f"-p {key}: model {m!r} is not among the benchmarked models {list(models)}"
                )
            out[m][name] = value
            continue
        takers = [m for m in models if key in MODELS[m].defaults()]
        if not takers:
            known = "; ".join(
                f"{m}: {', '.join(sorted(MODELS[m].defaults()))}"
                for m in models
                if MODELS[m].defaults()
            )
            raise ITNetInputError(
                f"-p {key}: not a hyperparameter of {', '.join(models)}"
                + (f" (known: {known})" if known else "")
            )
        for m in takers:
            out[m][key] = value
    return {m: check_params(m, p) for m, p in out.items()}


def run_benchmark(
    datasets: Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int],
    *,
    out: str | os.PathLike[str],
    epochs: int,
    patience: int = 10,
    device: str = "cpu",
    dataset_options: dict[str, dict[str, Any]] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    force: bool = False,
    progress: bool = True,
    command: str | None = None,
    loader: Callable[..., Any] = load_dataset,
) -> dict[str, Any]:
    """Run every (dataset, model, seed) not finished yet under ``out``; return (and write)
    ``results.json``, and write ``results.md``.

    ``dataset_options``: keyword options of each dataset's loader (``itnet_ts.bench.data``);
    ``params``: hyperparameters per model name (see :func:`split_params`); ``progress``: a bar
    over the runs (and the epochs of each). ``loader(name, **options)`` loads a dataset (only
    when one of its runs is to be done).
    """
    from tqdm.auto import tqdm

    datasets = list(dict.fromkeys(dataset_name(d) for d in datasets))
    models = list(dict.fromkeys(model_name(m) for m in models))
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not datasets or not models or not seeds:
        raise ITNetInputError("give at least one dataset, one model and one seed")
    if epochs < 1:
        raise ITNetInputError(f"epochs must be at least 1, got {epochs}")
    if patience < 1:
        raise ITNetInputError(f"patience must be at least 1, got {patience}")
    device = resolve_device(device)
    params = {m: check_params(m, (params or {}).get(m, {})) for m in models}
    options = {d: dict((dataset_options or {}).get(d, {})) for d in datasets}
    identity = {d: data_identity(d, options[d]) for d in datasets}
    out = Path(out)

    def settings(dataset: str, model: str) -> dict[str, Any]:
        trained = MODELS[model].trained
        return {
            "dataset": dataset,
            "data": identity[dataset],
            "model": model,
            "params": params[model],
            "epochs": epochs if trained else None,
            "patience": patience if trained else None,
            "device": device if trained else "cpu",
        }

    records: dict[tuple[str, str, int], dict[str, Any]] = {}
    todo: list[tuple[str, str, int]] = []
    for d in datasets:
        for m in models:
            want = settings(d, m)
            for s in seeds:
                path = run_path(out, d, m, s)
                if force or not path.exists():
                    todo.append((d, m, s))
                    continue
                rec = _read_run(path)
                have = rec.get("settings")
                if have != json.loads(json.dumps(want, default=str)):
                    raise ITNetInputError(
                        f"{path} was run with other settings ({_diff(have, want)}); pass "
                        "--force to rerun it or choose another --out"
                    )
                records[d, m, s] = rec

    bar = tqdm(total=len(todo), desc="bench", unit="run", disable=not progress or not todo)
    loaded: dict[str, Any] = {}
    for d, m, s in todo:
        bar.set_postfix_str(f"{d} / {m} / seed {s}")
        if d not in loaded:
            loaded.clear()  # one dataset in memory at a time
            loaded[d] = loader(d, **options[d])
        data = loaded[d]
        rec = run_model(
            m,
            data,
            s,
            epochs=epochs,
            patience=patience,
            device=device,
            params=params[m],
            progress=progress,
        )
        rec["settings"] = settings(d, m)
        rec["data"] = {"options": data.options, "sizes": data.sizes()}
        write_json(run_path(out, d, m, s), rec)
        records[d, m, s] = json.loads(json.dumps(rec, default=str))
        bar.update()
    bar.close()

    runs = [records[d, m, s] for d in datasets for m in models for s in seeds]
    summary = summarise(runs)
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "datasets": datasets,
        "models": models,
        "seeds": seeds,
        "epochs": epochs,
        "patience": patience,
        "device": device,
        "params": params,
        "data": identity,
        "rerun": [f"{d}/{m}/seed{s}" for d, m, s in todo],
        "summary": summary,
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in runs],
    }
    write_json(out / RESULTS_JSON, result)
    write_text_atomic(out / RESULTS_MD, results_markdown(result))
    return result


def results_markdown(result: dict[str, Any]) -> str:
    """``results.md``: a header with the command and settings, then the tables."""
    head = ["# itnet-ts bench", ""]
    if result.get("command"):
        head += [f"Command: `{result['command']}`", ""]
    head += [
        f"{result['date']}; epochs at most {result['epochs']}, patience {result['patience']}, "
        f"seeds {', '.join(map(str, result['seeds']))}. Test split; mean ± std (ddof 0) over "
        "seeds of the per-variable averaged MSE / MAE; s/epoch = median training seconds per "
        "epoch; inference s = predicting the test split; peak RSS = the process's peak resident "
        "memory during the run (largest over seeds).",
        "",
        "",
    ]
    return "\n".join(head) + markdown(result["summary"])


def _read_run(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ITNetInputError(f"cannot read the finished run {path}: {err}; delete it") from err
    if not isinstance(rec, dict) or "test_mse" not in rec:
        raise ITNetInputError(f"{path} is not a benchmark run file; delete it or use --force")
    return rec


def _diff(have: Any, want: dict[str, Any]) -> str:
    if not isinstance(have, dict):
        return "no settings recorded"
    want = json.loads(json.dumps(want, default=str))
    keys = [k for k in want if have.get(k) != want[k]]
    return "; ".join(f"{k}: {have.get(k)!r}, now {want[k]!r}" for k in keys[:3])

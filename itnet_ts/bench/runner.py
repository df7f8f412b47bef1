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
from dataclasses import dataclass
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
    plan = _plan(datasets, models, seeds, epochs, patience, device, dataset_options, params)
    out = Path(out)
    records, todo = _finished_runs(plan, out, force)
    records.update(_run_missing(plan, todo, out, loader, progress))
    runs = [records[d, m, s] for d in plan.datasets for m in plan.models for s in plan.seeds]
    result = _results(plan, runs, todo, command)
    write_json(out / RESULTS_JSON, result)
    write_text_atomic(out / RESULTS_MD, results_markdown(result))
    return result


@dataclass(frozen=True)
class _Plan:
    """What a benchmark runs: the canonical names, the checked settings, the data options."""

    datasets: list[str]
    models: list[str]
    seeds: list[int]
    epochs: int
    patience: int
    device: str
    params: dict[str, dict[str, Any]]  # model -> checked hyperparameters
    options: dict[str, dict[str, Any]]  # dataset -> loader options
    identity: dict[str, dict[str, Any]]  # dataset -> what defines its data

    def settings(self, dataset: str, model: str) -> dict[str, Any]:
        """The settings recorded with a run (a finished run is reused only if they match)."""
        trained = MODELS[model].trained
        return {
            "dataset": dataset,
            "data": self.identity[dataset],
            "model": model,
            "params": self.params[model],
            "epochs": self.epochs if trained else None,
            "patience": self.patience if trained else None,
            "device": self.device if trained else "cpu",
        }


def _plan(
    datasets: Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    patience: int,
    device: str,
    dataset_options: dict[str, dict[str, Any]] | None,
    params: dict[str, dict[str, Any]] | None,
) -> _Plan:
    """The request checked: names made canonical (duplicates dropped), counts, the device,
    every model's hyperparameters and every dataset's options."""
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
    return _Plan(datasets, models, seeds, epochs, patience, device, params, options, identity)


RunKey = tuple[str, str, int]  # (dataset, model, seed)


def _finished_runs(
    plan: _Plan, out: Path, force: bool
) -> tuple[dict[RunKey, dict[str, Any]], list[RunKey]]:
    """The runs already under ``out`` (read back; one made with other settings is an error)
    and the runs still to do (all of them with ``force``)."""
    records: dict[RunKey, dict[str, Any]] = {}
    todo: list[RunKey] = []
    for d in plan.datasets:
        for m in plan.models:
            want = plan.settings(d, m)
            for s in plan.seeds:
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
    return records, todo


def _run_missing(
    plan: _Plan, todo: list[RunKey], out: Path, loader: Callable[..., Any], progress: bool
) -> dict[RunKey, dict[str, Any]]:
    """Run ``todo`` in order (one dataset in memory at a time), writing each run's JSON as
    soon as it is done; the records as read back from JSON."""
    from tqdm.auto import tqdm

    records: dict[RunKey, dict[str, Any]] = {}
    bar = tqdm(total=len(todo), desc="bench", unit="run", disable=not progress or not todo)
    loaded: dict[str, Any] = {}
    for d, m, s in todo:
        bar.set_postfix_str(f"{d} / {m} / seed {s}")
        if d not in loaded:
            loaded.clear()  # one dataset in memory at a time
            loaded[d] = loader(d, **plan.options[d])
        data = loaded[d]
        rec = run_model(
            m,
            data,
            s,
            epochs=plan.epochs,
            patience=plan.patience,
            device=plan.device,
            params=plan.params[m],
            progress=progress,
        )
        rec["settings"] = plan.settings(d, m)
        rec["data"] = {"options": data.options, "sizes": data.sizes()}
        write_json(run_path(out, d, m, s), rec)
        records[d, m, s] = json.loads(json.dumps(rec, default=str))
        bar.update()
    bar.close()
    return records


def _results(
    plan: _Plan, runs: list[dict[str, Any]], todo: list[RunKey], command: str | None
) -> dict[str, Any]:
    """``results.json``: the settings, the summary rows and the runs without their history."""
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "datasets": plan.datasets,
        "models": plan.models,
        "seeds": plan.seeds,
        "epochs": plan.epochs,
        "patience": plan.patience,
        "device": plan.device,
        "params": plan.params,
        "data": plan.identity,
        "rerun": [f"{d}/{m}/seed{s}" for d, m, s in todo],
        "summary": summarise(runs),
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in runs],
    }


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

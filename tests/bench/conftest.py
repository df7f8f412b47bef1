"""Fixtures of the benchmark tests: one torch thread, and a tiny fake PhysioNet 2012 dataset
written in the raw challenge format (``set-a/b/c.tar.gz`` of ``<RecordID>.txt`` files) with a
``split_tpatchgnn.json`` -- no real data needed."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from itnet_ts.datasets.physionet import VARIABLES

#: time series of the fake records: (name, typical value, spread)
_SERIES = (("HR", 80.0, 10.0), ("Temp", 37.0, 0.6), ("GCS", 12.0, 2.0), ("Lactate", 2.0, 0.8))
RECORDS_PER_SET = 4


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every bench test runs on one torch thread (see tests/conftest.py)."""


def _record(rid: int, rng: np.random.Generator) -> str:
    lines = ["Time,Parameter,Value", f"00:00,RecordID,{rid}"]
    lines += [
        f"00:00,Age,{int(rng.integers(20, 90))}",
        f"00:00,Gender,{int(rng.integers(0, 2))}",
        f"00:00,Height,{-1 if rng.random() < 0.3 else round(float(rng.normal(170, 10)), 1)}",
        f"00:00,ICUType,{int(rng.integers(1, 5))}",
        f"00:00,Weight,{round(float(rng.normal(80, 12)), 1)}",
    ]
    rows = []
    for name, mu, sd in _SERIES:
        n = int(rng.integers(3, 9))
        minutes = np.sort(rng.choice(48 * 60, size=n, replace=False))
        # at least one observation on each side of the 24 h cutoff
        minutes[0], minutes[-1] = int(rng.integers(1, 23 * 60)), int(rng.integers(25 * 60, 48 * 60))
        base = mu + sd * rng.normal()
        for m in np.unique(minutes):
            value = round(float(base + 0.3 * sd * rng.normal()), 2)
            rows.append((int(m), f"{m // 60:02d}:{m % 60:02d},{name},{value}"))
    lines += [text for _, text in sorted(rows)]
    return "\n".join(lines) + "\n"


def _write_tar(path: Path, folder: str, records: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(folder)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for rid, text in records.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder}/{rid}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="session")
def physionet_dir(tmp_path_factory) -> Path:
    """``set-a/b/c.tar.gz`` with 4 records each and a 6 / 3 / 3 split file."""
    root = tmp_path_factory.mktemp("physionet_fake")
    rng = np.random.default_rng(7)
    ids: list[str] = []
    for k, name in enumerate(("set-a", "set-b", "set-c")):
        recs = {str(140000 + 100 * k + i): "" for i in range(RECORDS_PER_SET)}
        recs = {rid: _record(int(rid), rng) for rid in recs}
        _write_tar(root / f"{name}.tar.gz", name, recs)
        ids += list(recs)
    order = [ids[i] for i in np.random.default_rng(1).permutation(len(ids))]
    split = {"train": order[:6], "val": order[6:9], "test": order[9:], "variables": list(VARIABLES)}
    (root / "split_tpatchgnn.json").write_text(json.dumps(split))
    return root


@pytest.fixture()
def _cache_in_tmp(tmp_path, monkeypatch):
    """Keep the loader's parquet cache out of the home folder."""
    monkeypatch.setenv("ITNET_CACHE_DIR", str(tmp_path / "cache"))

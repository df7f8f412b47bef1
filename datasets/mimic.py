"""MIMIC-III as processed for the t-PatchGNN benchmark (``full_dataset.csv``) as a tidy frame.

MIMIC-III is credentialed data: the processed file is distributed by PhysioNet as
"MIMIC-III-Ext-tPatchGNN" (physionet.org/content/mimic-iii-ext-tpatchgnn/1.0.0/) to users who
hold the MIMIC-III data use agreement; nothing here downloads it.

The file is in the GRU-ODE-Bayes wide format (the preprocessing of Neural Flows /
GRU-ODE-Bayes): the first column is the admission id, then ``Time`` in minutes, then
``Value_0 .. Value_95`` and ``Mask_0 .. Mask_95`` (a value is observed where its mask is 1; other
columns are ignored). The benchmark code reads it with the first column as the record id and
``Time / 60`` as hours (24 h history, then the next 24 h as targets).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from itnet_ts.datasets.ushcn import wide_masked_csv_to_tidy

__all__ = ["DATA_URL", "load_mimic"]

FILE_NAME = "full_dataset.csv"
DATA_URL = "https://physionet.org/content/mimic-iii-ext-tpatchgnn/1.0.0/"


def load_mimic(path: str | os.PathLike[str], *, hours: bool = True) -> pl.DataFrame:
    """Load ``full_dataset.csv`` (or a folder holding it) as ``unique_id, ds, variable, value``.

    ``ds`` is in hours (``Time / 60``, as the benchmark) or, with ``hours=False``, the file's
    ``Time`` (minutes). Only entries whose mask is 1 are kept; an entry given twice for the
    same record, time and variable is averaged; variables keep the column names
    (``Value_k``). Rows sorted by record id, time and variable.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / FILE_NAME
    return wide_masked_csv_to_tidy(
        file, time_divisor=60.0 if hours else 1.0, what=f"MIMIC (from {DATA_URL})"
    )

"""Array helpers of the PhysioNet protocol (:mod:`itnet_ts.datasets.protocol`): the row order
of the observations, and a split as padded dense arrays (``ProtocolSplit.to_dense``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl


def _sort_order(rec: np.ndarray, ds: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Row order sorting by (rec, ds, var).

    Fast path, O(n): each record's rows are contiguous and already sorted by (ds, var) -- as
    :func:`load_physionet2012` returns them -- so only whole blocks move. Otherwise a full sort.
    """
    n = rec.size
    if n == 0:
        return np.arange(0)
    same = rec[1:] == rec[:-1]
    ordered = (ds[1:] > ds[:-1]) | ((ds[1:] == ds[:-1]) & (var[1:] >= var[:-1]))
    starts = np.flatnonzero(np.r_[True, ~same])
    block_rec = rec[starts]
    if np.all(ordered[same]) and np.unique(block_rec).size == block_rec.size:
        lengths = np.diff(np.r_[starts, n])
        blocks = np.argsort(block_rec, kind="stable")
        new_starts = np.cumsum(np.r_[0, lengths[blocks][:-1]])
        shift = np.repeat(starts[blocks] - new_starts, lengths[blocks])
        return np.arange(n) + shift
    _, ds_code = np.unique(ds, return_inverse=True)
    n_ds, n_var = int(ds_code.max()) + 1, int(var.max()) + 1
    if (int(rec.max()) + 1) * n_ds * n_var < 2**62:
        key = (rec * n_ds + ds_code.reshape(-1)) * n_var + var
        return np.argsort(key, kind="stable")
    return np.lexsort((var, ds, rec))


def _dense(
    frame: pl.DataFrame,
    ids: tuple[str, ...],
    variables: tuple[str, ...],
    prefix: str,
    dtype: Any,
) -> dict[str, np.ndarray]:
    n_rec, n_var = len(ids), len(variables)
    order = pl.DataFrame({"unique_id": list(ids), "_rec": pl.Series(range(n_rec), dtype=pl.Int64)})
    var_index = pl.DataFrame(
        {"variable": list(variables), "_var": pl.Series(range(n_var), dtype=pl.Int64)}
    )
    rows = (
        frame.join(order, on="unique_id", how="inner")
        .join(var_index, on="variable", how="inner")
        .with_columns(_t=(pl.col("ds").rank("dense").over("_rec") - 1).cast(pl.Int64))
    )
    rec = rows["_rec"].to_numpy()
    t = rows["_t"].to_numpy()
    var = rows["_var"].to_numpy()
    lengths = np.zeros(n_rec, dtype=np.int64)
    if rows.height:
        np.maximum.at(lengths, rec, t + 1)
    width = int(lengths.max()) if n_rec else 0
    times = np.zeros((n_rec, width), dtype=dtype)
    values = np.zeros((n_rec, width, n_var), dtype=dtype)
    mask = np.zeros((n_rec, width, n_var), dtype=dtype)
    times[rec, t] = rows["ds"].to_numpy()
    values[rec, t, var] = rows["value"].to_numpy()
    mask[rec, t, var] = 1
    return {
        f"{prefix}_times": times,
        f"{prefix}_values": values,
        f"{prefix}_mask": mask,
        f"{prefix}_lengths": lengths,
    }

"""Scale-out for itnet-ts: batch forecasting on Dask, and lazy (larger-than-memory) input.

- ``predict(model, data, h=...)``: forecast a Dask DataFrame or a (hive-partitioned) parquet
  dataset partition by partition on a ``dask.distributed`` cluster -- series are never split
  across partitions (they are shuffled by id when they are), the fitted model goes to each
  worker once (as its own safetensors bytes), and results come back as a Dask DataFrame or
  are written per partition to parquet, atomically.
- ``predict_parquet(model, path, out, h=..., series_per_batch=...)``: one process, reading a
  parquet dataset lazily with polars ``scan_parquet``, a batch of series at a time, so a
  dataset larger than memory can be forecast.

Training across processes and machines uses PyTorch's own engine instead:
``ITNetForecaster(strategy="ddp")`` under ``torchrun`` (see docs/distributed.md).

Importing this module imports neither dask nor torch; ``predict`` needs the ``dask`` extra
(``pip install 'itnet-ts[dask]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["predict", "predict_parquet"]

if TYPE_CHECKING:  # pragma: no cover
    from itnet_ts.distributed._dask import predict
    from itnet_ts.distributed._lazy import predict_parquet


def __getattr__(name: str):
    if name == "predict":
        from itnet_ts.distributed._dask import predict

        return predict
    if name == "predict_parquet":
        from itnet_ts.distributed._lazy import predict_parquet

        return predict_parquet
    raise AttributeError(f"module 'itnet_ts.distributed' has no attribute {name!r}")

"""A fitted forecaster as bytes of its own model file, and back (for shipping to workers).

The bytes are exactly what ``ITNetForecaster.save`` writes (safetensors + JSON, hash-checked),
so a worker rebuilds the model with ``ITNetForecaster.load``'s validation and never unpickles
anything from a user's file. Each process keeps the models it loaded, keyed by the bytes'
SHA-256, so a worker loads a model once however many partitions it forecasts.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from itnet_ts.errors import ITNetInputError

__all__ = ["as_forecaster", "forecaster_bytes", "forecaster_from_bytes", "model_columns"]

_CACHE: OrderedDict[str, object] = OrderedDict()
LOADS = {"count": 0}  # models this process built from bytes (tests check "once per worker")
_CACHE_SIZE = 4
_LOCK = threading.RLock()


def as_forecaster(model):
    """A fitted ``ITNetForecaster`` from an estimator or a model file path."""
    from itnet_ts.estimators import ITNetForecaster

    if isinstance(model, ITNetForecaster):
        model._check_fitted()
        return model
    if isinstance(model, (str, os.PathLike)):
        return ITNetForecaster.load(model)
    raise ITNetInputError(
        f"model must be a fitted ITNetForecaster or the path of a saved model, "
        f"got {type(model).__name__}"
    )


def forecaster_bytes(model) -> tuple[object, bytes, str]:
    """The fitted forecaster ``model`` (estimator or path), its model file's bytes and their
    SHA-256. A path is loaded here too: a bad file fails before anything is sent anywhere."""
    if isinstance(model, (str, os.PathLike)):
        est = as_forecaster(model)  # errors name the user's file
        raw = Path(model).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        _remember(digest, est)
        return est, raw, digest
    from itnet_ts.estimators._persistence import save_forecaster

    est = as_forecaster(model)
    with tempfile.TemporaryDirectory(prefix="itnet-ts-") as tmp:
        path = Path(tmp) / "model.itnet"
        save_forecaster(est, path)  # not est.save: every DDP rank may ship its model
        raw = path.read_bytes()
    return est, raw, hashlib.sha256(raw).hexdigest()


def forecaster_from_bytes(raw: bytes, digest: str):
    """The forecaster in ``raw`` (a model file's bytes), loaded once per process."""
    from itnet_ts.estimators import ITNetForecaster

    with _LOCK:  # concurrent tasks of one worker wait for the first one's load
        if digest in _CACHE:
            _CACHE.move_to_end(digest)
            return _CACHE[digest]
        with tempfile.TemporaryDirectory(prefix="itnet-ts-") as tmp:
            path = Path(tmp) / "model.itnet"
            path.write_bytes(raw)
            est = ITNetForecaster.load(path)
        est.verbose = False
        LOADS["count"] += 1
        _remember(digest, est)
        return est


def _remember(digest: str, est) -> None:
    with _LOCK:
        _CACHE[digest] = est
        _CACHE.move_to_end(digest)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def model_columns(spec) -> list[str]:
    """The columns of the frames the model was fit on (id, time, and the value columns of the
    frame's shape); a parquet dataset is read in these only (hive partition keys and other
    columns are left out)."""
    cols = [c for c in (spec.id_col, spec.time_col) if c is not None]
    if spec.shape == "wide":
        cols += list(spec.channels)
    elif spec.shape == "tidy":
        cols += [spec.variable_col, spec.value_col]
    else:
        cols += [spec.target_col]
    return [c for c in cols if c is not None]

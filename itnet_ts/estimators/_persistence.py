"""Saving and loading fitted forecasters: one safetensors file, no pickle.

The file holds the network weights and the channel scaler as tensors, and in the safetensors
header metadata: a format name and version, the estimator's parameters, the model config, the
fitted data spec (all JSON), and a SHA-256 over everything else, checked on load. Loading
parses JSON and raw tensor bytes only; nothing in the file is ever executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

from itnet_ts.data._ingest import FrameSpec
from itnet_ts.data._windows import ChannelScaler
from itnet_ts.errors import ITNetInputError, ITNetModelFileError
from itnet_ts.estimators._training import TrainResult
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_forecaster", "save_forecaster"]

FORMAT_NAME = "itnet-ts-forecaster"
FORMAT_VERSION = 1
_MAX_HEADER = 16 * 1024 * 1024


def _digest(meta: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(meta):
        if k != "sha256":
            h.update(f"{k}={meta[k]}\n".encode())
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_forecaster(est, path, overwrite: bool = False) -> Path:
    """Write ``est`` atomically to ``path``; refuses to replace a file unless ``overwrite``."""
    from safetensors.torch import save

    path = Path(path)
    if path.exists() and not overwrite:
        raise ITNetInputError(f"{path} already exists; pass overwrite=True to replace it")
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in est.model_.state_dict().items()}
    tensors["scaler.loc"] = torch.from_numpy(np.asarray(est.scaler_.loc, np.float64))
    tensors["scaler.scale"] = torch.from_numpy(np.asarray(est.scaler_.scale, np.float64))
    spec = dataclasses.asdict(est.spec_)
    meta = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "params": json.dumps(est.get_params(deep=False)),
        "config": json.dumps(est.config_.to_dict()),
        "spec": json.dumps(spec),
        "fitted": json.dumps(
            {
                "time_unit": est.time_unit_,
                "horizon": est.horizon_,
                "n_series": est.n_series_,
                "best_epoch": est.train_result_.best_epoch,
                "best_val_loss": est.train_result_.best_val_loss,
            }
        ),
    }
    meta["sha256"] = _digest(meta, tensors)
    data = save(tensors, metadata=meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_metadata(raw: bytes, path: Path) -> dict[str, str]:
    if len(raw) < 8:
        raise ITNetModelFileError(f"{path} is not an itnet-ts model file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise ITNetModelFileError(f"{path} is truncated or not an itnet-ts model file")
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ITNetModelFileError(f"{path} has a corrupt header ({exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ITNetModelFileError(f"{path} is not an itnet-ts model file")
    if not all(isinstance(v, str) for v in meta.values()):
        raise ITNetModelFileError(f"{path} has a corrupt header")
    return meta


def load_forecaster(cls, path, device: str = "cpu"):
    """Rebuild a fitted forecaster from ``path`` (see module docstring)."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise ITNetModelFileError(f"model file {path} does not exist")
    raw = path.read_bytes()
    meta = _read_metadata(raw, path)
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise ITNetModelFileError(f"{path} has no valid format version") from None
    if version > FORMAT_VERSION:
        raise ITNetModelFileError(
            f"{path} was written by a newer itnet-ts (model format {version}; this version "
            f"reads up to {FORMAT_VERSION}); upgrade itnet-ts to load it"
        )
    try:
        tensors = load(raw)
    except Exception as exc:  # safetensors raises its own error types on corrupt data
        raise ITNetModelFileError(f"{path} is corrupt: {exc}") from None
    if meta.get("sha256") != _digest(meta, tensors):
        raise ITNetModelFileError(
            f"{path} failed its integrity check (content hash mismatch): the file was modified "
            "or damaged after it was saved"
        )
    try:
        params = json.loads(meta["params"])
        cfg = ITNetConfig.from_dict(json.loads(meta["config"]))
        spec_d = json.loads(meta["spec"])
        spec_d["channels"] = tuple(spec_d["channels"])
        spec = FrameSpec(**spec_d)
        fitted = json.loads(meta["fitted"])
        est = cls(**params)
        model = ITNet(cfg)
        state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(state)
        scaler = ChannelScaler(tensors["scaler.loc"].numpy(), tensors["scaler.scale"].numpy())
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        raise ITNetModelFileError(f"{path} does not describe a valid model: {exc}") from None
    est.model_ = model.to(device).eval()
    est.config_ = cfg
    est.spec_ = spec
    est.channels_ = spec.channels
    est.time_unit_ = float(fitted["time_unit"])
    est.horizon_ = float(fitted["horizon"])
    est.scaler_ = scaler
    est.n_series_ = int(fitted["n_series"])
    est.train_result_ = TrainResult(int(fitted["best_epoch"]), float(fitted["best_val_loss"]))
    est.history_ = None
    return est
